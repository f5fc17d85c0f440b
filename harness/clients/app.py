"""Client of the task-manager app, directly (backend :5000) or through nginx (frontend :8080,
which proxies ``/api/``). Every call can carry a ``traceparent`` so a step knows the trace id of
the request it made.

Calls return ``(status, json)``: acceptance steps assert on status codes (a 500 from the error
endpoint is the expected outcome, not an exception), and ``json`` is None when the body is not JSON.
The last :class:`requests.Response` stays on ``last_response`` for headers, timing and raw text.
"""

from __future__ import annotations

from typing import Any

import requests

from harness.base.http import DEFAULT_TIMEOUT, LabSession
from harness.base.waiting import scaled
from harness.clients.base import HttpClient, raise_for_status

SMOKE_TYPES = ("read", "write", "rw")


class AppClient(HttpClient):
    """The app's HTTP API (see ADR 0001 for routes and span names)."""

    def __init__(self, base_url: str, *, timeout: float = DEFAULT_TIMEOUT, http: LabSession | None = None):
        super().__init__(base_url, timeout=timeout, http=http)
        self.last_response: requests.Response | None = None

    # plumbing ----------------------------------------------------------------------------------
    def request(self, method: str, path: str, *, traceparent: str | None = None,
                **kwargs: Any) -> tuple[int, Any]:
        """One call; ``(status, parsed JSON or None)``."""
        headers = dict(kwargs.pop("headers", None) or {})
        if traceparent:
            headers["traceparent"] = traceparent
        response = self.http.request(method, self.url(path), headers=headers, **kwargs)
        self.last_response = response
        try:
            body = response.json()
        except ValueError:
            body = None
        return response.status_code, body

    # tasks --------------------------------------------------------------------------------------
    def create_task(self, title: str, description: str | None = None, traceparent: str | None = None,
                    **fields: Any) -> tuple[int, Any]:
        """POST /api/tasks (201 and the task on success)."""
        payload: dict[str, Any] = {"title": title, **fields}
        if description is not None:
            payload["description"] = description
        return self.request("POST", "/api/tasks", json=payload, traceparent=traceparent)

    def list_tasks(self, *, limit: int | None = None, offset: int | None = None,
                   traceparent: str | None = None) -> tuple[int, Any]:
        """GET /api/tasks -> ``{"count", "tasks"}``."""
        params = {k: v for k, v in (("limit", limit), ("offset", offset)) if v is not None}
        return self.request("GET", "/api/tasks", params=params, traceparent=traceparent)

    def get_task(self, task_id: int | str, *, traceparent: str | None = None) -> tuple[int, Any]:
        return self.request("GET", f"/api/tasks/{task_id}", traceparent=traceparent)

    def update_task(self, task_id: int | str, *, traceparent: str | None = None,
                    **fields: Any) -> tuple[int, Any]:
        """PUT /api/tasks/<id> with the given fields (title, description, completed)."""
        return self.request("PUT", f"/api/tasks/{task_id}", json=fields, traceparent=traceparent)

    def delete_task(self, task_id: int | str, *, traceparent: str | None = None) -> tuple[int, Any]:
        return self.request("DELETE", f"/api/tasks/{task_id}", traceparent=traceparent)

    # simulations --------------------------------------------------------------------------------
    def simulate_slow(self, delay: float, *, traceparent: str | None = None) -> tuple[int, Any]:
        """GET /api/simulate-slow?delay=S; the timeout is stretched by the delay asked for."""
        return self.request("GET", "/api/simulate-slow", params={"delay": delay}, traceparent=traceparent,
                            timeout=scaled(self.timeout) + float(delay))

    def simulate_error(self, *, traceparent: str | None = None) -> tuple[int, Any]:
        """GET /api/simulate-error (answers 500 by design)."""
        return self.request("GET", "/api/simulate-error", traceparent=traceparent)

    def db_smoke(self, ops: int = 10, type: str = "rw", *,
                 traceparent: str | None = None) -> tuple[int, Any]:
        """POST /api/smoke/db?ops=N&type=read|write|rw."""
        if type not in SMOKE_TYPES:
            raise ValueError(f"db smoke type {type!r} is not one of {', '.join(SMOKE_TYPES)}")
        return self.request("POST", "/api/smoke/db", params={"ops": ops, "type": type},
                            traceparent=traceparent)

    # probes ---------------------------------------------------------------------------------------
    def health(self) -> tuple[int, Any]:
        return self.request("GET", "/health")

    def ready(self) -> tuple[int, Any]:
        return self.request("GET", "/ready")

    def metrics_text(self) -> str:
        """GET /metrics as text (Prometheus exposition); raises on a non-2xx answer."""
        response = self.http.get(self.url("/metrics"))
        self.last_response = response
        raise_for_status(response, "app metrics")
        return response.text
