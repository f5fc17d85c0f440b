"""Grafana's correlations, followed the way the UI follows them: read the link from the
datasource's provisioned settings, fill in the trace id, run it through ``/api/ds/query``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from harness import evidence
from harness.waiting import NotYet, eventually

if TYPE_CHECKING:
    from harness.lab import Lab

SERVICE = "flask-backend"


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


def trace_to_logs_query(tempo_json: dict[str, Any], trace_id: str) -> tuple[str, str]:
    """(datasource uid, LogQL) the Tempo datasource's trace→logs link builds for ``trace_id``."""
    link = tempo_json.get("tracesToLogsV2") or {}
    uid = link.get("datasourceUid")
    if not uid:
        raise AssertionError(f"the tempo datasource has no tracesToLogsV2 link: {tempo_json}")
    if link.get("customQuery") and link.get("query"):
        query = link["query"]
        query = query.replace("${__trace.traceId}", trace_id).replace("${__span.traceId}", trace_id)
        query = re.sub(r"\$\{__span\.tags\[\"?service\.name\"?\]\}", SERVICE, query)
        query = query.replace("${__span.tags.service.name}", SERVICE)
    else:
        query = f'{{service_name="{SERVICE}"}} |= "{trace_id}"'
    return uid, query


def trace_to_logs(lab: Lab, trace_id: str, *, timeout: float = 30) -> int:
    assert lab.grafana is not None, "this store set has no Grafana"
    tempo = lab.grafana.datasource("tempo") or {}
    uid, query = trace_to_logs_query(tempo.get("jsonData", {}), trace_id)

    def check() -> int:
        response = lab.grafana.ds_query(
            [{"refId": "A", "datasource": {"uid": uid}, "expr": query, "queryType": "range", "maxLines": 100}]
        )
        rows = frame_rows(response)
        if rows == 0:
            raise NotYet(f"{query} returned no log lines through Grafana")
        return rows

    rows = eventually(check, timeout=timeout, describe=f"Grafana trace→logs for {trace_id}")
    evidence.attach("query", f"Grafana trace→logs via {uid}: {query}", rows=rows)
    return rows


def logs_to_trace(lab: Lab, trace_id: str, *, timeout: float = 30) -> int:
    assert lab.grafana is not None, "this store set has no Grafana"
    loki = (lab.grafana.datasource("loki") or {}).get("jsonData", {})
    fields = [f for f in loki.get("derivedFields", []) if f.get("datasourceUid")]
    assert fields, f"the loki datasource has no derived field linking to a trace datasource: {loki}"
    field = fields[0]
    target_uid = field["datasourceUid"]
    url = field.get("url", "${__value.raw}")
    query = url.replace("${__value.raw}", trace_id)

    def check() -> int:
        response = lab.grafana.ds_query(
            [{"refId": "A", "datasource": {"uid": target_uid}, "queryType": "traceql", "query": query}]
        )
        rows = frame_rows(response)
        if rows == 0:
            raise NotYet(f"trace {query} not found through Grafana datasource {target_uid}")
        return rows

    rows = eventually(check, timeout=timeout, describe=f"Grafana logs→trace for {trace_id}")
    evidence.attach(
        "query",
        f"Grafana logs→trace via derived field {field.get('name')} → {target_uid}",
        query=query,
        rows=rows,
    )
    return rows
