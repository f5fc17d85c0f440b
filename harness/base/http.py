"""The one HTTP session helper: every call has a timeout and leaves evidence.

``requests`` has no default timeout; a session from :func:`session` applies one (scaled by
``LAB_TIMEOUT_SCALE``) to every request that does not name its own, and records method, URL,
status, elapsed time and a trimmed body as evidence of the current step.

An idempotent request whose connection closes before any answer is sent once more, as browsers and
HTTP libraries do for a kept-alive connection the server closed while it sat idle (RFC 9110
§9.2.2): nginx closes idle connections after its ``keepalive_timeout`` (15 s in the front), so a
step that waits about that long between two requests races the close. Both attempts are evidence;
a request that is not idempotent is never repeated, and a second close is the step's error.
"""

from __future__ import annotations

from http.client import RemoteDisconnected
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from harness.base import evidence, timeouts
from harness.base.waiting import scaled

DEFAULT_TIMEOUT = timeouts.base("http")
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_CLOSED_UNANSWERED = (RemoteDisconnected, ConnectionResetError, BrokenPipeError)


def closed_before_answer(exc: BaseException) -> bool:
    """Did the connection close before any answer (not a timeout, not a refused connect)?"""
    seen: list[BaseException] = [exc]
    while seen:
        e = seen.pop()
        if isinstance(e, _CLOSED_UNANSWERED):
            return True
        seen += [a for a in e.args if isinstance(a, BaseException)]
        seen += [c for c in (e.__cause__, e.__context__) if c is not None and c is not e]
    return False


class LabSession(requests.Session):
    def __init__(self, timeout: float = DEFAULT_TIMEOUT, record: bool = True):
        super().__init__()
        self.default_timeout = timeout
        self.record = record
        self.headers["User-Agent"] = "obslab-harness/0.1"
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=8, max_retries=0)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", scaled(self.default_timeout))
        try:
            response = self._send(method, url, *args, **kwargs)
        except requests.ConnectionError as exc:
            if method.upper() not in IDEMPOTENT or not closed_before_answer(exc):
                raise
            response = self._send(method, url, *args, **kwargs)  # once: see the module's docstring
        if self.record:
            evidence.attach(
                "http",
                f"{method.upper()} {response.url}",
                status=response.status_code,
                elapsed_ms=round(response.elapsed.total_seconds() * 1000, 1),
                body=evidence.trim(response.content),
            )
        return response

    def _send(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        try:
            return super().request(method, url, *args, **kwargs)
        except requests.RequestException as exc:
            if self.record:
                evidence.attach("http", f"{method.upper()} {url}", error=f"{type(exc).__name__}: {exc}")
            raise


def session(timeout: float = DEFAULT_TIMEOUT, record: bool = True) -> LabSession:
    """A new session; ``timeout`` (seconds, before scaling) applies to calls that name none."""
    return LabSession(timeout=timeout, record=record)
