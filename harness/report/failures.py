"""Failure and skip texts for the reports, from pytest's reports and exceptions, trimmed to size.

A message is ``Type: text``; a traceback is pytest's short form without hidden frames and without
pytest's, pytest-bdd's and pluggy's own, so what is left points at the steps and the harness.
"""

from __future__ import annotations

import os
import traceback
from typing import Any

import pytest

MESSAGE_LIMIT = 4000
TRACEBACK_LINES = 80
TRACEBACK_CHARS = 8000
INTERNAL_PATHS = (f"{os.sep}_pytest{os.sep}", f"{os.sep}pytest_bdd{os.sep}", f"{os.sep}pluggy{os.sep}")


def message(exc: BaseException) -> str:
    text = str(exc).strip()
    name = type(exc).__name__
    return trim_text(f"{name}: {text}" if text else name, MESSAGE_LIMIT)


def from_exception(exc: BaseException) -> dict[str, str]:
    """Message plus a short traceback (a step's exception, as pytest-bdd's step-error hook gives it)."""
    try:
        info = pytest.ExceptionInfo.from_exception(exc)
        tb = str(info.getrepr(style="short", chain=True, tbfilter=_user_frames))
    except Exception:
        tb = "".join(traceback.format_exception(exc))
    return {"message": message(exc), "traceback": trim_traceback(tb)}


def from_call(call: pytest.CallInfo[Any], report: pytest.TestReport) -> dict[str, str]:
    """Message plus traceback of a failed phase, from pytest's report of it."""
    if call.excinfo is not None:
        return {"message": message(call.excinfo.value), "traceback": trim_traceback(report.longreprtext)}
    lines = report.longreprtext.strip().splitlines()
    return {
        "message": trim_text(lines[-1] if lines else "failed", MESSAGE_LIMIT),
        "traceback": trim_traceback(report.longreprtext),
    }


def skip_reason(report: pytest.TestReport) -> str:
    """Why a phase was skipped, or the reason of an expected failure (xfail)."""
    if hasattr(report, "wasxfail"):
        return str(report.wasxfail or "no reason given")
    longrepr = report.longrepr
    is_location_tuple = isinstance(longrepr, tuple) and len(longrepr) == 3
    reason = str(longrepr[2]) if is_location_tuple else str(longrepr or "")  # type: ignore[index]
    return reason.removeprefix("Skipped: ").strip() or "skipped"


def trim_traceback(text: str) -> str:
    lines = text.rstrip().splitlines()
    if len(lines) > TRACEBACK_LINES:
        dropped = len(lines) - TRACEBACK_LINES
        lines = [f"… ({dropped} lines above left out)", *lines[-TRACEBACK_LINES:]]
    out = "\n".join(lines)
    if len(out) > TRACEBACK_CHARS:
        out = "… " + out[-TRACEBACK_CHARS:]
    return out


def trim_text(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more chars)"


def _user_frames(info: pytest.ExceptionInfo[BaseException]) -> Any:
    """The traceback without hidden frames and without pytest's, pytest-bdd's and pluggy's own."""
    visible = info.traceback.filter(info)
    own = visible.filter(lambda entry: not any(part in str(entry.path) for part in INTERNAL_PATHS))
    return own if len(own) else visible
