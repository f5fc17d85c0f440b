"""Grafana's trace↔logs correlations, followed the way Grafana itself follows them.

Each step below is the harness's reading of Grafana's own code (checked against the Tempo data
source plugin ``grafana/grafana-tempo-datasource`` v13.1.5, the newest release before the pinned
Grafana 13.2.3 that could be read, and Grafana's ``public/app/features/explore/TraceView`` and
``pkg/services/provisioning/values``; docs/adr/0005-tempo-loki-checked-against-the-real-thing.md):

- **Provisioning** (:func:`provisioned`): a provisioned string is split on ``$$``, each part has
  environment variables expanded (Go's ``os.ExpandEnv``: unset -> empty), and the parts are joined
  with ``$``. So ``$${__tags}`` in ``datasources.yaml`` reaches the data source as ``${__tags}``.
- **Trace -> logs** (:func:`trace_to_logs`): the trace is loaded through the Tempo data source
  (as the trace view does); the link is the one on the trace's root span. ``${__tags}`` is built
  from the span's resource and span attributes that match the link's configured ``tags`` —
  ``<value or key, dots -> underscores>="<attribute value>"`` joined by ``, `` — and the query is
  interpolated with ``__tags``, ``__trace`` and ``__span`` as Grafana's template service does. A
  variable the scope does not define means Grafana shows no link: that fails here too. The Loki
  query runs over the span's time plus the link's ``spanStartTimeShift``/``spanEndTimeShift``.
- **Logs -> trace** (:func:`logs_to_trace`): the Loki derived field's ``url`` is interpolated with
  ``__value.raw`` = the trace id. The Tempo data source treats a hex-only query as a trace id and
  sends the backend ``queryType: "traceId"`` (``traceql`` goes to the TraceQL path, which older
  backends refuse and newer ones run as a search), with the time range widened by ``traceQuery``'s
  shifts when ``timeShiftEnabled`` (else the zero range: no start/end sent to Tempo).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.base import evidence
from harness.base.waiting import GiveUp, NotYet
from harness.checks.expectation import expect_within
from harness.clients.grafana import frame_columns, frames

if TYPE_CHECKING:
    from harness.lab.lifecycle import Lab

SERVICE = "flask-backend"
BASE_RANGE_MS = 15 * 60 * 1000  # the time picker's "last 15 minutes" the links start from

# Tempo backend answers for a trace it does not (yet) have (plugin v13.1.5 pkg/tempo/trace.go and
# newer: "failed to get trace with id: <id> Status: ..." / "trace with id <id> not found ...").
_NOT_FOUND = re.compile(r"failed to get trace with id|trace with id \S+ not found|trace not found", re.I)


# == provisioning ==================================================================================

_ENV_REF = re.compile(r"\$(?:\{([^}]*)\}|([A-Za-z0-9_]+)|([*#$@!?\-]))")


def _expand_env(text: str, env: Mapping[str, str]) -> str:
    """Go's ``os.ExpandEnv``: ``${NAME}`` and ``$NAME`` become the variable's value, "" if unset."""
    return _ENV_REF.sub(lambda m: env.get(next(g for g in m.groups() if g is not None), ""), text)


def provisioned(value: Any, env: Mapping[str, str] | None = None) -> Any:
    """A provisioned YAML value as Grafana stores it: strings (also nested in maps and lists) have
    ``$$`` turned into a literal ``$`` and every other ``$NAME``/``${NAME}`` replaced from the
    environment (``pkg/services/provisioning/values/values.go`` ``interpolateValue``)."""
    env = os.environ if env is None else env
    if isinstance(value, str):
        return "$".join(_expand_env(part, env) for part in value.split("$$"))
    if isinstance(value, Mapping):
        return {k: provisioned(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [provisioned(v, env) for v in value]
    return value


# == Grafana's template interpolation ==============================================================

# public/app/features/variables/utils.ts `variableRegex`: $var, [[var]] / [[var:fmt]], ${var.path:fmt}
_VARIABLE = re.compile(r"\$(\w+)|\[\[([\s\S]+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::(\w+))?\}")
_PATH_PART = re.compile(r"""\[\s*(?:"([^"]*)"|'([^']*)'|(\d+))\s*\]|([^.\[\]]+)""")


def _field(value: Any, path: str) -> Any:
    """lodash ``get(value, path)``: ``tags["service.name"]``, ``tags.x``; None when absent."""
    for m in _PATH_PART.finditer(path):
        key = next(g for g in m.groups() if g is not None)
        if isinstance(value, Mapping) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return None
    return value


def interpolate(template: str, scoped_vars: Mapping[str, Any]) -> tuple[str, list[str]]:
    """``template`` with the scoped variables replaced, and the references it could not resolve
    (Grafana leaves those as written and does not offer the link at all)."""
    missing: list[str] = []

    def replace(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(4)
        path = m.group(5)
        if name not in scoped_vars:
            missing.append(m.group(0))
            return m.group(0)
        value = scoped_vars[name]
        if path:
            value = _field(value, path)
        if value is None or isinstance(value, (Mapping, list)):
            missing.append(m.group(0))
            return m.group(0)
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return _VARIABLE.sub(replace, template), missing


def interval_ms(text: str | None) -> int:
    """``rangeUtil.intervalToMs``: "-5m" -> -300000, "30s" -> 30000, "5" -> 5000; "" -> 0."""
    if not text:
        return 0
    text = str(text).strip()
    if re.fullmatch(r"-?\d+(?:\.\d+)?", text):
        return int(float(text) * 1000)
    m = re.match(r"^(-?\d+(?:\.\d+)?)(ms|[Mwdhmsy])", text)
    if not m:
        raise AssertionError(f"time shift {text!r} is not a Grafana interval (e.g. 5m, -1h, 30s)")
    seconds = {"y": 31536000, "M": 2592000, "w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1,
               "ms": 0.001}[m.group(2)]
    return int(int(float(m.group(1))) * seconds * 1000)


# == traces as Grafana's Tempo data source returns them ============================================

@dataclass(frozen=True)
class FrameSpan:
    """One row of the ``Trace`` data frame (plugin ``pkg/tempo/trace_transform.go`` ``TraceToFrame``)."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    service: str
    start_ms: float
    duration_ms: float
    service_tags: list[tuple[str, Any]] = field(default_factory=list)
    tags: list[tuple[str, Any]] = field(default_factory=list)

    def all_tags(self) -> list[tuple[str, Any]]:
        """``getSpanTags``: process (resource) tags, span tags, then the span's own fields."""
        return [*self.service_tags, *self.tags, ("spanId", self.span_id), ("traceId", self.trace_id),
                ("name", self.name), ("duration", self.duration_ms)]


def _pairs(value: Any) -> list[tuple[str, Any]]:
    return [(str(kv.get("key")), kv.get("value")) for kv in value or [] if isinstance(kv, Mapping)]


def trace_frame_spans(response: dict[str, Any], ref: str = "A") -> list[FrameSpan]:
    """The spans of the ``Trace`` frame(s) of one ``/api/ds/query`` result."""
    spans = []
    for frame in frames(response, ref):
        cols = frame_columns(frame)
        for i, span_id in enumerate(cols.get("spanID", [])):
            def col(name: str, default: Any = None, i: int = i, cols: dict[str, list[Any]] = cols) -> Any:
                values = cols.get(name) or []
                return values[i] if i < len(values) and values[i] is not None else default
            spans.append(FrameSpan(
                trace_id=str(col("traceID", "")), span_id=str(span_id),
                parent_span_id=str(col("parentSpanID", "")),
                name=str(col("operationName", "")), service=str(col("serviceName", "")),
                start_ms=float(col("startTime", 0)), duration_ms=float(col("duration", 0)),
                service_tags=_pairs(col("serviceTags")), tags=_pairs(col("tags")),
            ))
    return spans


def root_span(spans: list[FrameSpan]) -> FrameSpan:
    """``getRootSpan``: a span whose parent is not in the trace; the earliest such one."""
    ids = {s.span_id for s in spans}
    roots = [s for s in spans if s.parent_span_id.strip("0") == "" or s.parent_span_id not in ids]
    if not roots:
        raise AssertionError(f"the trace has no root span: {[s.span_id for s in spans]}")
    return min(roots, key=lambda s: (s.parent_span_id.strip("0") != "", s.start_ms))


def lab_span(trace_id: str, service: str = SERVICE) -> FrameSpan:
    """A stand-in root span carrying only ``service.name`` (for building a link without a trace)."""
    return FrameSpan(trace_id=trace_id, span_id="0" * 16, parent_span_id="", name="", service=service,
                     start_ms=time.time() * 1000, duration_ms=0, service_tags=[("service.name", service)])


# == trace -> logs ===================================================================================

def loki_label_name(name: str) -> str:
    """``toLokiLabelName``: OTel attribute names use dots, Loki label names cannot."""
    return name.replace(".", "_")


def formatted_tags(span: FrameSpan, tags_to_use: list[Mapping[str, Any]]) -> str:
    """``getFormattedTags`` for Loki: each span tag whose key is configured becomes
    ``<configured value or key, dots -> _>="<tag value>"``, in the span's tag order, joined by ``, ``."""
    out = []
    for key, value in span.all_tags():
        conf = next((t for t in tags_to_use if t.get("key") == key), None)
        if conf is not None:
            out.append(f'{loki_label_name(conf.get("value") or conf["key"])}="{value}"')
    return ", ".join(out)


def default_logs_tags() -> list[dict[str, Any]]:
    """``getDefaultLogsTags``: used when the link configures no tags."""
    keys = ["cluster", "hostname", "namespace", "pod", "service.name", "service.namespace"]
    return [{"key": k, "value": loki_label_name(k) if "." in k else None} for k in keys]


def span_scoped_vars(span: FrameSpan, tags: str) -> dict[str, Any]:
    """``scopedVarsFromTrace`` + ``scopedVarsFromSpan`` + ``__tags`` of a span's logs link."""
    span_tags = {k: v for k, v in [*span.service_tags, *span.tags]}
    return {
        "__trace": {"traceId": span.trace_id, "duration": span.duration_ms, "name": span.name},
        "__span": {"spanId": span.span_id, "traceId": span.trace_id, "duration": span.duration_ms,
                   "name": span.name, "tags": span_tags},
        "__tags": tags,
    }


def trace_to_logs_query(tempo_json: dict[str, Any], trace_id: str,
                        span: FrameSpan | None = None) -> tuple[str, str]:
    """(Loki data source uid, LogQL) of the Tempo data source's logs link on ``span`` (default: a
    span of the lab's service), as Grafana builds it for a Loki data source."""
    link = tempo_json.get("tracesToLogsV2") or {}
    uid = link.get("datasourceUid")
    if not uid:
        raise AssertionError(f"the tempo datasource has no tracesToLogsV2 link: {tempo_json}")
    span = span or lab_span(trace_id)
    tags = formatted_tags(span, link.get("tags") or default_logs_tags())
    if link.get("customQuery") and link.get("query"):
        template = link["query"]
    elif not tags:
        raise AssertionError(f"Grafana offers no logs link: none of the configured tags {link.get('tags')} "
                             f"is on span {span.span_id} ({span.all_tags()})")
    else:  # getLegacyQueryForLoki (the GrafanaDynamicTraceToLogs flag is off by default)
        template = "{${__tags}}"
        if link.get("filterByTraceID"):
            template += (' | label_format log_line_contains_trace_id='
                         '`{{ contains "${__span.traceId}" __line__  }}`'
                         ' | log_line_contains_trace_id="true" or trace_id="${__span.traceId}"')
        if link.get("filterBySpanID"):
            template += (' | label_format log_line_contains_span_id='
                         '`{{ contains "${__span.spanId}" __line__  }}`'
                         ' | log_line_contains_span_id="true" or span_id="${__span.spanId}"')
    query, missing = interpolate(template, span_scoped_vars(span, tags))
    if missing:
        raise AssertionError(f"Grafana offers no logs link: {missing} undefined for span {span.span_id} "
                             f"in {template!r}")
    return uid, query


def logs_time_range(tempo_json: dict[str, Any], span: FrameSpan) -> tuple[int, int]:
    """``getTimeRangeFromTimestamps``: the span's time widened by the link's shifts, epoch ms."""
    link = tempo_json.get("tracesToLogsV2") or {}
    start = int(span.start_ms + interval_ms(link.get("spanStartTimeShift")))
    end = int(span.start_ms + span.duration_ms + interval_ms(link.get("spanEndTimeShift")))
    return start, max(end, start + 1)


def frame_rows(response: dict[str, Any], ref: str = "A") -> int:
    """Rows across the data frames of one query result of ``/api/ds/query``."""
    result = response.get("results", {}).get(ref, {})
    if result.get("error"):
        raise AssertionError(f"Grafana query {ref} failed: {result['error']}")
    rows = 0
    for frame in result.get("frames", []):
        values = frame.get("data", {}).get("values", [])
        rows += len(values[0]) if values else 0
    return rows


def trace_to_logs(lab: Lab, trace_id: str, *, timeout: float = 30) -> int:
    """Open the trace through Grafana, follow its root span's logs link; the number of log lines."""
    assert lab.grafana is not None, "this store set has no Grafana"
    tempo = (lab.grafana.datasource("tempo") or {}).get("jsonData", {})
    link = tempo.get("tracesToLogsV2") or {}
    logs_ds = lab.grafana.datasource(link.get("datasourceUid") or "") if link.get("datasourceUid") else None
    if logs_ds is not None and logs_ds.get("type") != "loki":
        raise AssertionError(f"the trace-to-logs link points at a {logs_ds.get('type')} data source, "
                             "not Loki")
    spans = grafana_trace(lab, trace_id, timeout=timeout)
    root = root_span(spans)
    uid, query = trace_to_logs_query(tempo, trace_id, root)
    start_ms, end_ms = logs_time_range(tempo, root)

    def check() -> int:
        response = lab.grafana.ds_query(
            [{"refId": "A", "datasource": {"uid": uid}, "expr": query, "queryType": "range",
              "maxLines": 100}],
            from_=str(start_ms), to=str(end_ms),
        )
        result = (response.get("results") or {}).get("A") or {}
        if result.get("error"):
            raise GiveUp(f"Loki refused the trace-to-logs query {query}: {result['error']}")
        rows = frame_rows(response)
        if rows == 0:
            raise NotYet(f"{query} returned no log lines through Grafana")
        return rows

    return expect_within(lab, "logs", check, timeout=timeout, what=f"Grafana trace→logs for {trace_id}",
                         shown=lambda rows: {"query": f"via {uid}: {query}", "rows": rows,
                                             "root_span": root.span_id, "range_ms": [start_ms, end_ms]})


# == logs -> trace ===================================================================================

def is_trace_id_query(query: str) -> bool:
    """``isTraceIdQuery``: hex characters only (the Tempo data source then asks for that trace)."""
    return re.fullmatch(r"[0-9A-Fa-f]*", query.strip()) is not None


def trace_id_query(tempo_json: dict[str, Any], trace_id: str, *,
                   now_ms: int | None = None) -> tuple[dict[str, Any], str, str]:
    """The backend query the Tempo data source sends for a trace id, with its (from, to)
    (``handleTraceIdQuery`` + ``makeTraceIdRequest``)."""
    query = {"refId": "A", "queryType": "traceId", "query": trace_id.strip()}
    shift = tempo_json.get("traceQuery") or {}
    if not shift.get("timeShiftEnabled"):
        return query, "0", "0"  # the zero range: the backend sends Tempo no start/end
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    start = now_ms - BASE_RANGE_MS - interval_ms(shift.get("spanStartTimeShift") or "30m")
    end = now_ms + interval_ms(shift.get("spanEndTimeShift") or "30m")
    return query, str(start), str(end)


def grafana_trace(lab: Lab, trace_id: str, *, uid: str = "tempo", timeout: float = 30) -> list[FrameSpan]:
    """The trace's spans as Grafana's Tempo data source returns them (waits while it is not found)."""
    assert lab.grafana is not None, "this store set has no Grafana"
    tempo = (lab.grafana.datasource(uid) or {}).get("jsonData", {})

    def check() -> list[FrameSpan]:
        query, start, end = trace_id_query(tempo, trace_id)
        response = lab.grafana.ds_query([{**query, "datasource": {"uid": uid}}], from_=start, to=end)
        error = ((response.get("results") or {}).get("A") or {}).get("error")
        if error and _NOT_FOUND.search(str(error)):
            raise NotYet(f"Grafana's {uid} data source: {error}")
        if error:
            raise GiveUp(f"Grafana's {uid} data source refused the trace-id query: {error}")
        spans = trace_frame_spans(response)
        if not spans:
            raise NotYet(f"trace {trace_id} not found through Grafana data source {uid}")
        return spans

    return expect_within(lab, "traces", check, timeout=timeout, kind="trace",
                         what=f"trace {trace_id} through Grafana's {uid} data source",
                         shown=lambda spans: {"spans": len(spans)})


def logs_to_trace(lab: Lab, trace_id: str, *, timeout: float = 30) -> int:
    """Follow the Loki data source's derived field for ``trace_id``; the number of spans Grafana shows."""
    assert lab.grafana is not None, "this store set has no Grafana"
    loki = (lab.grafana.datasource("loki") or {}).get("jsonData", {})
    fields = [f for f in loki.get("derivedFields", []) if f.get("datasourceUid")]
    assert fields, f"the loki datasource has no derived field linking to a trace datasource: {loki}"
    field_ = fields[0]
    target_uid = field_["datasourceUid"]
    template = field_.get("url") or "${__value.raw}"
    value = {"raw": trace_id, "text": trace_id, "value": trace_id}
    query, missing = interpolate(template, {"__value": value})
    if missing:
        raise AssertionError(f"derived field {field_.get('name')}: {missing} undefined in {template!r}")
    if not is_trace_id_query(query):
        raise AssertionError(f"derived field {field_.get('name')} opens {query!r}, which Grafana runs as a "
                             "TraceQL search, not as a trace id")
    spans = grafana_trace(lab, query, uid=target_uid, timeout=timeout)
    evidence.attach("query", f"Grafana logs→trace via derived field {field_.get('name')} → {target_uid}",
                    query=query, queryType="traceId", spans=len(spans))
    return len(spans)
