"""What a run says about itself on top of its reports (target, stores, shard, lab project, timeouts,
what the lab found when it started), and where its reports go.

:func:`add_run_info` may be called any time — at import, from a hook or a fixture, outside pytest —
by the run's plugin (:mod:`harness.bdd.plugin`), a conftest or harness code; the lines wait here
until the report plugin (:mod:`harness.report.plugin`) takes them (:func:`take_run_info`, at
configure and again at the end of the session).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest

from harness.base import evidence

_pending_info: dict[str, Any] = {}


def add_run_info(key: str, value: Any) -> None:
    """Add one line (``key: value``) to the run information shown on top of the reports.

    Safe to call before the session starts (kept until a run picks it up) and outside pytest.
    ``target`` and ``stores`` keys also fill the run's target and store set.
    """
    # Kept aside until the running session collects it (at configure and again at the end), so a
    # conftest can call this at import time, from a hook or from a fixture alike.
    _pending_info[str(key)] = evidence._jsonable(value)


def take_run_info() -> dict[str, Any]:
    """The lines added since the last call (the report plugin's), in the order they were added."""
    taken = dict(_pending_info)
    _pending_info.clear()
    return taken


def reports_dir(config: pytest.Config) -> Path:
    """The reports directory: ``--reports-dir`` (the report plugin's option), then
    ``LAB_REPORTS_DIR``, then ``reports/`` under the rootdir (:func:`harness.base.config.reports_dir`,
    the one reader of that variable)."""
    from harness.base.config import reports_dir as resolve

    with contextlib.chdir(config.invocation_params.dir):
        return resolve(config.getoption("lab_reports_dir", None), Path(config.rootpath))
