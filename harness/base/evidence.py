"""Evidence: what a step asked and what it saw, kept so reports can show it next to the step.

A collector is made current for the duration of a step (``capture()``); anything in the harness
may call :func:`attach` (the HTTP session does it for every request). Outside a step, attaching
is a no-op, so library code never needs to know whether it runs under a test.
"""

from __future__ import annotations

import contextvars
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

BODY_LIMIT = 2000


@dataclass
class Evidence:
    kind: str  # "http", "query", "trace", "log", "note", "command", ...
    summary: str  # one line: what was asked
    detail: dict[str, Any] = field(default_factory=dict)  # what was seen (status, trimmed body, ids)
    at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class EvidenceLog:
    """Evidence of one step, in order."""

    def __init__(self) -> None:
        self.items: list[Evidence] = []

    def add(self, item: Evidence) -> None:
        self.items.append(item)

    def to_list(self) -> list[dict[str, Any]]:
        return [i.to_dict() for i in self.items]


_current: contextvars.ContextVar[EvidenceLog | None] = contextvars.ContextVar("evidence", default=None)


@contextmanager
def capture() -> Iterator[EvidenceLog]:
    """Make a fresh evidence log current until the block ends."""
    log = EvidenceLog()
    token = _current.set(log)
    try:
        yield log
    finally:
        _current.reset(token)


def current() -> EvidenceLog | None:
    return _current.get()


def set_current(log: EvidenceLog | None) -> contextvars.Token:
    """For hooks that cannot use a ``with`` block (pytest-bdd's before/after step hooks)."""
    return _current.set(log)


def reset_current(token: contextvars.Token) -> None:
    _current.reset(token)


def attach(kind: str, summary: str, **detail: Any) -> None:
    """Record one piece of evidence on the current step, if there is one."""
    log = _current.get()
    if log is not None:
        log.add(Evidence(kind=kind, summary=summary, detail={k: _jsonable(v) for k, v in detail.items()}))


def trim(text: str | bytes | None, limit: int = BODY_LIMIT) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more chars)"


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)
