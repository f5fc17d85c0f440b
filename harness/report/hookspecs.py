"""Hooks the report plugin adds to pytest, for conftests that prefer a hook to a function call."""

from __future__ import annotations

from typing import Any

import pytest


def pytest_lab_run_info(config: pytest.Config) -> dict[str, Any] | None:
    """Return run information (``{"target": "docker", "compose": "v1 1.29.2"}``) for the reports.

    Called once at the end of the session, after the scenarios ran, so it can report what the run
    found out (e.g. the target chosen automatically). Every implementation's dict is merged; later
    keys win. :func:`harness.bdd.run_info.add_run_info` does the same from anywhere.
    """
