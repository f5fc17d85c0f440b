"""Unit and integration tests run the same whatever the caller's lab settings: every ``LAB_*``
variable of the environment is removed for each test (tests that need one set it themselves)."""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest

MEASUREMENTS = "taskapp_measurements"  # a worker's measured lines, handed to the controller
_from_workers: list[str] = []


@pytest.fixture(autouse=True)
def _no_lab_settings_from_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("LAB_")]:
        monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _timeout_scale_one() -> None:
    """Every test starts with unscaled timeouts; tests that want a scale call waiting.configure."""
    from harness.base import waiting

    waiting.configure(1.0)


def _measured() -> list[str]:
    support = sys.modules.get("app_support")  # tests/app/app_support.py, when app tests ran here
    return list(getattr(support, "REPORT_LINES", []))


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker (tox -e unit runs one per core)
        workeroutput[MEASUREMENTS] = _measured()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    _from_workers.extend((getattr(node, "workeroutput", None) or {}).get(MEASUREMENTS, []))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Show measured numbers (e.g. the collector-down latency, the hostile-client probes) even
    without -s, from whichever worker measured them."""
    lines = [*_from_workers, *_measured()]
    if lines:
        terminalreporter.section("taskapp measurements")
        for line in lines:
            terminalreporter.write_line(line)
