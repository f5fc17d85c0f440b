"""pytest plugin of the harness benchmark: record every wait of an acceptance run.

    pytest features -p bench.waits_plugin --bench-waits reports/bench/waits-raw.json

Each :class:`harness.base.waiting.WaitRecord` is stored with the scenario that waited; at the end the
file also carries each scenario's duration and the session's wall time.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from harness.base import waiting

_state: dict[str, Any] = {"current": None, "waits": [], "tests": {}, "tags": {}, "started": None}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--bench-waits", default=None, help="write every wait of the run to this JSON file")


def _listen(record: waiting.WaitRecord) -> None:
    _state["waits"].append({"test": _state["current"], **asdict(record)})


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--bench-waits"):
        _state["started"] = time.monotonic()
        waiting.add_listener(_listen)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    _state["current"] = item.nodeid
    _state["tags"][item.nodeid] = sorted({mark.name for mark in item.iter_markers()})
    started = time.monotonic()
    yield
    _state["tests"][item.nodeid] = round(time.monotonic() - started, 3)
    _state["current"] = None


def pytest_unconfigure(config: pytest.Config) -> None:
    path = config.getoption("--bench-waits")
    if not path:
        return
    waiting.remove_listener(_listen)
    doc = {"wall_s": round(time.monotonic() - (_state["started"] or time.monotonic()), 3),
           "tests": _state["tests"], "tags": _state["tags"], "waits": _state["waits"]}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(doc, indent=1) + "\n")
