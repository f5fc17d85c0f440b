"""VictoriaLogs as a :class:`LogStore` (https://docs.victoriametrics.com/victorialogs/querying/).

``/select/logsql/query`` answers JSON lines, one log entry per line: ``_msg``, ``_time`` (RFC 3339,
ns precision), ``_stream`` and every other field as a string. With OTLP ingestion the fields are
the resource attributes by name (``service.name`` — or ``resource.service.name`` when VictoriaLogs
runs with ``-opentelemetry.enableFieldPrefixes``), the log attributes by name (``attributes.``
prefixed in that mode), ``trace_id`` / ``span_id`` in hex, and the severity as ``severity_text`` +
``severity_number`` (older releases: ``severity``). All are accepted.

Queries are LogsQL, e.g.
``_time:900s "service.name":="flask-backend" "trace_id":="<id>" "Incoming request"``:
exact-value filters on fields and a phrase filter on the message.
"""

from __future__ import annotations

import json
from typing import Any

from harness.base import evidence
from harness.base.http import DEFAULT_TIMEOUT, LabSession
from harness.clients.base import (
    HttpClient,
    SignalError,
    raise_for_status,
    require_trace_id,
    rfc3339_to_ns,
    severity_text,
    span_id_hex,
    trace_id_hex,
)
from harness.clients.model import LogRecord, LogStore

SERVICE_FIELDS = ("service.name", "resource.service.name")
SEVERITY_FIELDS = ("severity_text", "severity", "level", "attributes.severity_text")
INTERNAL_FIELDS = frozenset({"_msg", "_time", "_stream", "_stream_id"})


def logsql_string(value: str) -> str:
    """A LogsQL double-quoted string (field names and values alike)."""
    return json.dumps(value, ensure_ascii=False)


def build_logsql(service: str, *, text: str | None = None, trace_id: str | None = None,
                 lookback_s: int = 900, service_field: str = "service.name") -> str:
    """The LogsQL for "this service's records of the last ``lookback_s``, optionally with a phrase
    in the message and/or a trace id"."""
    parts = [f"_time:{int(lookback_s)}s", f"{logsql_string(service_field)}:={logsql_string(service)}"]
    if trace_id:
        parts.append(f'"trace_id":={logsql_string(trace_id)}')
    if text:
        parts.append(logsql_string(text))
    return " ".join(parts)


def parse_entry(entry: dict[str, Any]) -> LogRecord:
    """One JSON line -> :class:`LogRecord` (attribute values stay strings, as stored)."""
    used = set(INTERNAL_FIELDS)
    service = ""
    for key in SERVICE_FIELDS:
        if entry.get(key):
            service = entry[key]
            used.add(key)
            break
    severity = ""
    for key in SEVERITY_FIELDS:
        if entry.get(key):
            severity = str(entry[key])
            used.add(key)
            break
    for key in ("severity_number", "attributes.severity_number"):
        if key in entry:
            used.add(key)
            severity = severity or severity_text(entry[key])
    used.update({"trace_id", "span_id"})
    attributes = {}
    for key, value in entry.items():
        if key in used:
            continue
        attributes[key.removeprefix("attributes.")] = value
    time_text = entry.get("_time")
    return LogRecord(
        timestamp_ns=rfc3339_to_ns(time_text) if time_text else 0,
        body=str(entry.get("_msg", "")),
        severity=severity.upper(),
        service=str(service),
        trace_id=trace_id_hex(entry.get("trace_id") or None),
        span_id=span_id_hex(entry.get("span_id") or None),
        attributes=attributes,
    )


def _time_ns(entry: dict[str, Any]) -> int:
    try:
        return rfc3339_to_ns(str(entry.get("_time", "")))
    except SignalError:
        return 0


class VictoriaLogsStore(LogStore):
    """Log records from VictoriaLogs at ``base_url`` (e.g. ``http://127.0.0.1:9428``)."""

    name = "victorialogs"

    def __init__(self, base_url: str, *, service_field: str = "service.name",
                 timeout: float = DEFAULT_TIMEOUT, http: LabSession | None = None):
        self.service_field = service_field
        self.client = HttpClient(base_url, timeout=timeout, http=http)

    @property
    def base_url(self) -> str:
        return self.client.base_url

    def logsql(self, query: str, *, limit: int = 200) -> list[dict[str, Any]]:
        """Run a LogsQL query; the raw entries (dicts), newest first."""
        response = self.client._get("/select/logsql/query", params={"query": query, "limit": limit})
        raise_for_status(response, f"VictoriaLogs query {query!r}")
        entries = []
        for n, line in enumerate(response.text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                entries.append(json.loads(line))
            except ValueError:
                raise SignalError(
                    f"VictoriaLogs query {query!r}: line {n} is not JSON: {line[:200]!r}") from None
        entries.sort(key=_time_ns, reverse=True)
        return entries

    def query(self, service: str, *, text: str | None = None, trace_id: str | None = None,
              lookback_s: int = 900, limit: int = 200) -> list[LogRecord]:
        """The service's records of the last ``lookback_s`` with ``text`` in the message and/or
        ``trace_id``, newest first."""
        if trace_id:
            trace_id = require_trace_id(trace_id)
        query = build_logsql(service, text=text, trace_id=trace_id, lookback_s=lookback_s,
                             service_field=self.service_field)
        records = [parse_entry(e) for e in self.logsql(query, limit=limit)]
        records.sort(key=lambda r: r.timestamp_ns, reverse=True)
        evidence.attach("log", f"LogsQL: {query}", count=len(records), records=[
            f"{r.severity} {r.body} trace_id={r.trace_id}" for r in records[:10]])
        return records

    def ready(self) -> bool:
        """GET /health answers 200 ("OK")."""
        try:
            return self.client._get("/health").status_code == 200
        except OSError:
            return False
