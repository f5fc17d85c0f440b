"""Grafana Loki as a :class:`LogStore` (https://grafana.com/docs/loki/latest/reference/loki-http-api/).

``GET /loki/api/v1/query_range`` with LogQL, ``start``/``end`` in nanoseconds, ``limit`` and
``direction=backward`` answers ``{"status": "success", "data": {"resultType": "streams", "result":
[{"stream": {labels}, "values": [["<ns>", "<line>"], ...]}]}}``.

Shapes as Loki 3.7 answers them (captured from v3.7.6 built from source and run with
stack/loki/loki.yaml, fed by the lab's collector and backend; tests/harness/fixtures/signals/README.md):
logs that arrive over OTLP carry the stream labels ``service_name``, ``deployment_environment``
and ``deployment_environment_name`` (the lab's ``otlp_config``; Loki's defaults would add
``service_instance_id``), and everything else as *structured metadata* (dots become
underscores): ``trace_id``, ``span_id``, ``severity_text``, ``severity_number``, the other resource
attributes, the scope, the record's attributes (``exception_type``, ...) and the ``detected_level``
Loki derives itself. By default Loki folds structured metadata into ``stream`` (one stream per
distinct set) and each value is a pair; the client asks for
``X-Loki-Response-Encoding-Flags: categorize-labels``, with which ``stream`` keeps only the
stream labels and each value gets a third element ``{"structuredMetadata": {...}}`` — plus
``"parsed": {...}`` only when the query has a parser stage that extracted labels. Both encodings
are read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from harness.base import evidence
from harness.base.http import DEFAULT_TIMEOUT, LabSession
from harness.clients.base import (
    HttpClient,
    SignalError,
    decode_json,
    raise_for_status,
    require_trace_id,
    severity_text,
    span_id_hex,
    trace_id_hex,
)
from harness.clients.model import LogRecord, LogStore

ENCODING_FLAGS_HEADER = "X-Loki-Response-Encoding-Flags"
SEVERITY_KEYS = ("severity_text", "detected_level", "level")
TRACE_KEYS = ("trace_id", "traceid", "traceID")
SPAN_KEYS = ("span_id", "spanid", "spanID")


def logql_string(value: str) -> str:
    """A LogQL double-quoted string literal (Go-style escapes, as JSON's)."""
    return json.dumps(value, ensure_ascii=False)


def build_logql(service: str, *, text: str | None = None, trace_id: str | None = None,
                service_label: str = "service_name") -> str:
    """``{service_name="svc"} |= "text" | trace_id="id"`` (line filter before the label filter)."""
    query = "{" + f"{service_label}={logql_string(service)}" + "}"
    if text:
        query += f" |= {logql_string(text)}"
    if trace_id:
        query += f" | trace_id={logql_string(trace_id)}"
    return query


def _first(labels: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str | None, str | None]:
    for key in keys:
        if labels.get(key):
            return key, str(labels[key])
    return None, None


def parse_streams(result: list[dict[str, Any]], service_label: str = "service_name") -> list[LogRecord]:
    """Records from a ``streams`` result in either encoding."""
    records = []
    for stream in result or []:
        stream_labels = stream.get("stream") or {}
        for value in stream.get("values") or []:
            ts, line = value[0], value[1]
            extra = value[2] if len(value) > 2 and isinstance(value[2], dict) else {}
            labels = {**stream_labels, **(extra.get("structuredMetadata") or {}),
                      **(extra.get("parsed") or {})}
            used = {service_label}
            trace_key, trace_value = _first(labels, TRACE_KEYS)
            span_key, span_value = _first(labels, SPAN_KEYS)
            _, severity = _first(labels, SEVERITY_KEYS)
            used.update(k for k in (trace_key, span_key) if k)
            used.update(k for k in SEVERITY_KEYS if k in labels)  # one severity, however many spellings
            if "severity_number" in labels:
                used.add("severity_number")
                severity = severity or severity_text(labels["severity_number"])
            records.append(LogRecord(
                timestamp_ns=int(ts),
                body=line,
                severity=(severity or "").upper(),
                service=str(labels.get(service_label, "")),
                trace_id=trace_id_hex(trace_value),
                span_id=span_id_hex(span_value),
                attributes={k: v for k, v in labels.items() if k not in used},
            ))
    return records


class LokiLogStore(LogStore):
    """Log records from Loki at ``base_url`` (e.g. ``http://127.0.0.1:3100``)."""

    name = "loki"

    def __init__(self, base_url: str, *, tenant: str | None = None, service_label: str = "service_name",
                 timeout: float = DEFAULT_TIMEOUT, http: LabSession | None = None):
        self.service_label = service_label
        self.client = HttpClient(base_url, timeout=timeout, http=http)
        self.headers = {ENCODING_FLAGS_HEADER: "categorize-labels"}
        if tenant:
            self.headers["X-Scope-OrgID"] = tenant

    @property
    def base_url(self) -> str:
        return self.client.base_url

    def query_range(self, logql: str, *, start_ns: int, end_ns: int, limit: int = 200,
                    direction: str = "backward") -> list[dict[str, Any]]:
        """Run a LogQL log query; the ``result`` list (streams). Errors carry Loki's message."""
        params = {"query": logql, "start": start_ns, "end": end_ns, "limit": limit, "direction": direction}
        response = self.client._get("/loki/api/v1/query_range", params=params, headers=self.headers)
        raise_for_status(response, f"Loki query {logql!r}")
        body = decode_json(response, f"Loki query {logql!r}")
        if body.get("status") != "success":
            raise SignalError(f"Loki query {logql!r}: status {body.get('status')!r}: "
                              f"{body.get('error', body)}")
        data = body.get("data") or {}
        if data.get("resultType") != "streams":
            raise SignalError(f"Loki query {logql!r} is not a log query "
                              f"(resultType {data.get('resultType')!r})")
        return data.get("result") or []

    def query(self, service: str, *, text: str | None = None, trace_id: str | None = None,
              lookback_s: int = 900, limit: int = 200) -> list[LogRecord]:
        """The service's records of the last ``lookback_s`` with ``text`` in the line and/or
        ``trace_id`` in structured metadata, newest first."""
        if trace_id:
            trace_id = require_trace_id(trace_id)
        logql = build_logql(service, text=text, trace_id=trace_id, service_label=self.service_label)
        end_ns = time.time_ns() + 1_000_000_000
        result = self.query_range(logql, start_ns=end_ns - (lookback_s + 1) * 1_000_000_000, end_ns=end_ns,
                                  limit=limit)
        records = sorted(parse_streams(result, self.service_label), key=lambda r: r.timestamp_ns,
                         reverse=True)
        evidence.attach("log", f"LogQL: {logql}", count=len(records), records=[
            f"{r.severity} {r.body} trace_id={r.trace_id}" for r in records[:10]])
        return records

    def ready(self) -> bool:
        """GET /ready answers 200 ("ready") once Loki's ring is up."""
        try:
            return self.client._get("/ready").status_code == 200
        except OSError:
            return False
