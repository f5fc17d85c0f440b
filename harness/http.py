"""The one HTTP session helper: every call has a timeout and leaves evidence.

``requests`` has no default timeout; a session from :func:`session` applies one (scaled by
``LAB_TIMEOUT_SCALE``) to every request that does not name its own, and records method, URL,
status, elapsed time and a trimmed body as evidence of the current step.
"""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter

from harness import evidence
from harness.waiting import scaled

DEFAULT_TIMEOUT = 10.0


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
            response = super().request(method, url, *args, **kwargs)
        except requests.RequestException as exc:
            if self.record:
                evidence.attach("http", f"{method.upper()} {url}", error=f"{type(exc).__name__}: {exc}")
            raise
        if self.record:
            evidence.attach(
                "http",
                f"{method.upper()} {response.url}",
                status=response.status_code,
                elapsed_ms=round(response.elapsed.total_seconds() * 1000, 1),
                body=evidence.trim(response.content),
            )
        return response


def session(timeout: float = DEFAULT_TIMEOUT, record: bool = True) -> LabSession:
    """A new session; ``timeout`` (seconds, before scaling) applies to calls that name none."""
    return LabSession(timeout=timeout, record=record)
