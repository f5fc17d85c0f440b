"""Jaeger v2 (1.7x, OpenTelemetry-native) query service as a :class:`TraceStore`.

Primary API: the JSON API on :16686 that Jaeger's own UI uses — ``/api/traces/{id}``,
``/api/traces?service=..`` and ``/api/services`` — answering ``{"data": [...], "errors": ...}``
with traces as ``{traceID, spans: [{spanID, operationName, references, startTime µs, duration µs,
tags, processID}], processes}``. OTLP spans arrive there translated: the span kind is the tag
``span.kind``, the status the tags ``otel.status_code`` / ``error``; those synthetic tags are
folded back into :class:`Span` fields rather than left among the attributes.

``api="v3"`` reads ``/api/v3/traces/{id}`` instead (OTLP/JSON in ``{"result": {...}}``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

from harness.base import evidence
from harness.base.http import DEFAULT_TIMEOUT, LabSession
from harness.clients.base import (
    HttpClient,
    SignalError,
    decode_json,
    make_trace,
    parse_otlp_spans,
    raise_for_status,
    record_trace,
    require_trace_id,
    span_id_hex,
    trace_id_hex,
)
from harness.clients.model import Span, Trace, TraceStore

# Tags the OTLP -> Jaeger translation adds; they become Span.kind / Span.status, not attributes.
SYNTHETIC_TAGS = frozenset({
    "span.kind", "otel.status_code", "otel.status_description", "otel.scope.name", "otel.scope.version",
    "otel.library.name", "otel.library.version", "w3c.tracestate", "internal.span.format",
})
KINDS = frozenset({"server", "client", "producer", "consumer", "internal"})


def _tag_value(tag: Mapping[str, Any]) -> Any:
    value, kind = tag.get("value"), tag.get("type", "string")
    if kind == "int64" and isinstance(value, str):
        return int(value)
    if kind == "float64" and isinstance(value, str):
        return float(value)
    if kind == "bool" and isinstance(value, str):
        return value.lower() == "true"
    return value


def _status(tags: Mapping[str, Any]) -> str:
    code = str(tags.get("otel.status_code", "")).upper()
    if code == "ERROR" or tags.get("error") in (True, "true"):
        return "error"
    if code == "OK":
        return "ok"
    return "unset"


def parse_jaeger_trace(data: Mapping[str, Any]) -> list[Span]:
    """Spans of one trace in Jaeger's UI JSON model."""
    processes = data.get("processes") or {}
    spans = []
    for raw in data.get("spans") or []:
        trace_id = trace_id_hex(raw.get("traceID"))
        span_id = span_id_hex(raw.get("spanID"))
        if trace_id is None or span_id is None:
            raise SignalError(f"Jaeger span without ids: {str(raw)[:300]}")
        tags = {t["key"]: _tag_value(t) for t in raw.get("tags") or [] if "key" in t}
        parent = None
        for ref in raw.get("references") or []:  # the model's rule: first CHILD_OF in the same trace
            if ref.get("refType") == "CHILD_OF" and trace_id_hex(ref.get("traceID")) == trace_id:
                parent = span_id_hex(ref.get("spanID"))
                break
        process = raw.get("process") or processes.get(raw.get("processID", ""), {})
        kind = str(tags.get("span.kind", "")).lower()
        attributes = {k: v for k, v in tags.items() if k not in SYNTHETIC_TAGS}
        if attributes.get("error") in (True, "true"):  # added by the translation for error status
            del attributes["error"]
        spans.append(Span(
            trace_id=trace_id,
            span_id=span_id,
            parent_span_id=parent,
            name=raw.get("operationName", ""),
            service=process.get("serviceName", ""),
            kind=kind if kind in KINDS else "unspecified",
            status=_status(tags),
            attributes=attributes,
            start_ns=int(raw.get("startTime", 0)) * 1000,
            duration_ns=int(raw.get("duration", 0)) * 1000,
        ))
    return spans


class JaegerTraceStore(TraceStore):
    """Traces from Jaeger's query service at ``base_url`` (e.g. ``http://127.0.0.1:16686``)."""

    name = "jaeger"

    def __init__(self, base_url: str, *, api: str = "classic", timeout: float = DEFAULT_TIMEOUT,
                 http: LabSession | None = None):
        if api not in ("classic", "v3"):
            raise ValueError(f"Jaeger api {api!r} is not 'classic' or 'v3'")
        self.api = api
        self.client = HttpClient(base_url, timeout=timeout, http=http)

    @property
    def base_url(self) -> str:
        return self.client.base_url

    def get_trace(self, trace_id: str) -> Trace | None:
        """The trace, or None on 404 / an empty answer (not stored yet)."""
        trace_id = require_trace_id(trace_id)
        if self.api == "v3":
            trace = self._get_trace_v3(trace_id)
        else:
            response = self.client._get(f"/api/traces/{trace_id}")
            if response.status_code == 404:
                trace = None
            else:
                raise_for_status(response, "Jaeger trace")
                body = decode_json(response, "Jaeger trace")
                _raise_errors(body, "Jaeger trace")
                spans = [s for t in body.get("data") or [] for s in parse_jaeger_trace(t)]
                trace = make_trace(trace_id, spans)
        record_trace(self.name, trace_id, trace)
        return trace

    def _get_trace_v3(self, trace_id: str) -> Trace | None:
        response = self.client._get(f"/api/v3/traces/{trace_id}")
        if response.status_code == 404:
            return None
        raise_for_status(response, "Jaeger api/v3 trace")
        body = decode_json(response, "Jaeger api/v3 trace")
        result = body.get("result") or {}
        spans = [dataclasses.replace(s, attributes={k: v for k, v in s.attributes.items()
                                                    if not k.startswith("@jaeger@")})
                 for s in parse_otlp_spans(result.get("resourceSpans") or [])]
        return make_trace(trace_id, spans)

    def search(self, service: str, *, limit: int = 20, lookback_s: int = 900) -> list[str]:
        """Trace ids of ``service``'s traces that started in the last ``lookback_s``, newest first."""
        end_us = int(time.time() * 1_000_000)
        params = {"service": service, "limit": limit, "start": end_us - lookback_s * 1_000_000,
                  "end": end_us, "lookback": f"{lookback_s}s"}
        response = self.client._get("/api/traces", params=params)
        raise_for_status(response, "Jaeger search")
        body = decode_json(response, "Jaeger search")
        _raise_errors(body, "Jaeger search")
        found = []
        for data in body.get("data") or []:
            spans = data.get("spans") or []
            started = min((int(s.get("startTime", 0)) for s in spans), default=0)
            trace_id = trace_id_hex(data.get("traceID"))
            if trace_id:
                found.append((started, trace_id))
        ids = [t for _, t in sorted(found, reverse=True)][:limit]
        evidence.attach("trace", f"jaeger: search service={service} last {lookback_s}s", count=len(ids),
                        trace_ids=ids[:20])
        return ids

    def services(self) -> list[str]:
        """GET /api/services: the service names Jaeger has seen."""
        response = self.client._get("/api/services")
        raise_for_status(response, "Jaeger services")
        body = decode_json(response, "Jaeger services")
        return sorted(body.get("data") or [])

    def ready(self) -> bool:
        """The query API answers (Jaeger's query port has no /ready; /api/services is cheap)."""
        try:
            return self.client._get("/api/services").status_code == 200
        except OSError:
            return False


def _raise_errors(body: Mapping[str, Any], what: str) -> None:
    errors = body.get("errors") or []
    if errors and not body.get("data"):
        raise SignalError(f"{what}: " + "; ".join(str(e.get("msg", e)) for e in errors))
