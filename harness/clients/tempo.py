"""Grafana Tempo as a :class:`TraceStore` (https://grafana.com/docs/tempo/latest/api_docs/).

Shapes as Tempo 2.10.8 answers them (captured from that tag built from source and run with
stack/tempo/tempo.yaml; tests/harness/fixtures/signals/README.md):

- ``GET /api/v2/traces/<id>`` answers 200 ``{"trace": {"resourceSpans": [...]}, "metrics":
  {"inspectedBytes": "..."}}``; ``"status": "PARTIAL"`` and ``"message"`` appear only for a trace
  cut at the size limit (a complete one has no ``status``). A trace Tempo does not have is **200**
  ``{"trace": {}, "metrics": {}}``, not a 404. The older ``GET /api/traces/<id>`` answers
  ``{"batches": [...]}`` and a bodiless 404 when it has no such trace. Both are OTLP/JSON as
  marshalled by gogo/jsonpb, so trace and span ids are **base64** there (Tempo issue #5437),
  while ``/api/search`` returns **hex** ids with leading zeros dropped and ``startTimeUnixNano``
  as a string. :func:`hex_id` takes both.
- ``api="auto"`` (default) uses v2 and falls back to v1 for good when a Tempo older than 2.6
  answers v2 with the router's ``404 page not found``.
- Search uses TraceQL: ``q={resource.service.name="<service>"}`` with ``start``/``end`` in
  epoch seconds and ``limit``.
"""

from __future__ import annotations

import time
from typing import Any

from harness.base import evidence
from harness.base.http import DEFAULT_TIMEOUT, LabSession
from harness.clients.base import (
    HttpClient,
    decode_json,
    make_trace,
    parse_otlp_spans,
    raise_for_status,
    record_trace,
    require_trace_id,
    trace_id_hex,
)
from harness.clients.model import Trace, TraceStore

_ROUTE_MISSING = "404 page not found"


def traceql_string(value: str) -> str:
    """A TraceQL double-quoted string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def resource_spans_of(body: Any) -> list[dict[str, Any]]:
    """The resource spans of a v1 (``batches``) or v2 (``trace``) body, or of plain OTLP/JSON."""
    if not isinstance(body, dict):
        return []
    if isinstance(body.get("trace"), dict):
        body = body["trace"]
    return body.get("resourceSpans") or body.get("batches") or []


class TempoTraceStore(TraceStore):
    """Traces from Tempo's query frontend at ``base_url`` (e.g. ``http://127.0.0.1:3200``)."""

    name = "tempo"

    def __init__(self, base_url: str, *, api: str = "auto", timeout: float = DEFAULT_TIMEOUT,
                 http: LabSession | None = None):
        if api not in ("auto", "v1", "v2"):
            raise ValueError(f"Tempo api {api!r} is not 'auto', 'v1' or 'v2'")
        self.api = api
        self.client = HttpClient(base_url, timeout=timeout, http=http)

    @property
    def base_url(self) -> str:
        return self.client.base_url

    def get_trace(self, trace_id: str) -> Trace | None:
        """The trace, or None when Tempo has no spans for it (v2: 200 with an empty trace; v1: 404)."""
        trace_id = require_trace_id(trace_id)
        api = "v1" if self.api == "v1" else "v2"
        response = self.client._get(self._trace_path(api, trace_id))
        if api == "v2" and self.api == "auto" and response.status_code == 404 \
                and response.text.strip() == _ROUTE_MISSING:
            self.api = "v1"  # this Tempo predates /api/v2
            response = self.client._get(self._trace_path("v1", trace_id))
        if response.status_code == 404:
            trace = None
        else:
            raise_for_status(response, "Tempo trace")
            body = decode_json(response, "Tempo trace")
            if isinstance(body, dict) and body.get("status") == "PARTIAL":
                evidence.attach("note", f"tempo: trace {trace_id} is partial",
                                message=body.get("message", ""))
            trace = make_trace(trace_id, parse_otlp_spans(resource_spans_of(body)))
        record_trace(self.name, trace_id, trace)
        return trace

    @staticmethod
    def _trace_path(api: str, trace_id: str) -> str:
        return f"/api/v2/traces/{trace_id}" if api == "v2" else f"/api/traces/{trace_id}"

    def search(self, service: str, *, limit: int = 20, lookback_s: int = 900) -> list[str]:
        """Trace ids whose spans have ``resource.service.name == service``, newest first."""
        end = int(time.time()) + 1
        query = "{resource.service.name=" + traceql_string(service) + "}"
        params = {"q": query, "limit": limit, "start": end - lookback_s, "end": end}
        response = self.client._get("/api/search", params=params)
        raise_for_status(response, "Tempo search")
        body = decode_json(response, "Tempo search")
        found = []
        for item in body.get("traces") or []:
            trace_id = trace_id_hex(item.get("traceID"))
            if trace_id:
                found.append((int(item.get("startTimeUnixNano") or 0), trace_id))
        ids = [t for _, t in sorted(found, reverse=True)][:limit]
        evidence.attach("trace", f"tempo: TraceQL {query} last {lookback_s}s", count=len(ids),
                        trace_ids=ids[:20])
        return ids

    def ready(self) -> bool:
        """GET /ready answers 200 when Tempo serves queries."""
        try:
            return self.client._get("/ready").status_code == 200
        except OSError:
            return False
