"""Prometheus HTTP API client: instant and range queries, exemplars, scrape targets, rules.

Shapes follow https://prometheus.io/docs/prometheus/latest/querying/api/ . Every query leaves
evidence (the PromQL and a trimmed result), so a failed metrics step shows what Prometheus said.
A ``"status": "error"`` answer raises :class:`PrometheusError` carrying Prometheus's own message.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from typing import Any

from harness.base import evidence
from harness.base.http import DEFAULT_TIMEOUT, LabSession
from harness.clients.base import HttpClient, SignalError, decode_json, epoch_seconds

TimeLike = float | int | dt.datetime


class PrometheusError(SignalError):
    """Prometheus answered ``status: error`` (bad PromQL, timeout, ...)."""

    def __init__(self, message: str, error_type: str = "", error: str = ""):
        super().__init__(message)
        self.error_type = error_type
        self.error = error


def _sample(value: Any) -> float:
    """Sample values are strings in the API (to carry NaN/Inf); make them floats."""
    return float(value)


class PrometheusClient(HttpClient):
    """The Prometheus HTTP API at ``base_url`` (e.g. ``http://127.0.0.1:9090``)."""

    def __init__(self, base_url: str, *, timeout: float = DEFAULT_TIMEOUT, http: LabSession | None = None):
        super().__init__(base_url, timeout=timeout, http=http)

    # plumbing ----------------------------------------------------------------------------------
    def _api(self, path: str, params: dict[str, Any] | list[tuple[str, Any]] | None = None,
             what: str = "") -> Any:
        """GET an ``/api/v1`` endpoint; the ``data`` of a success envelope, else PrometheusError."""
        response = self._get(path, params=params)
        body = decode_json(response, f"Prometheus {path}")
        if not isinstance(body, dict) or "status" not in body:
            raise SignalError(f"Prometheus {path}: not an API envelope (HTTP {response.status_code}): "
                              f"{evidence.trim(response.content, 300)}")
        if body["status"] != "success":
            error_type, error = body.get("errorType", ""), body.get("error", "")
            raise PrometheusError(
                f"Prometheus {path} failed ({error_type or 'error'}, HTTP {response.status_code}): "
                f"{error or 'no message'}" + (f" [query: {what}]" if what else ""),
                error_type=error_type, error=error,
            )
        if body.get("warnings"):
            evidence.attach("note", f"Prometheus warnings for {what or path}", warnings=body["warnings"])
        return body.get("data")

    # queries -----------------------------------------------------------------------------------
    def query(self, promql: str, at: TimeLike | None = None) -> list[dict[str, Any]]:
        """Instant query: ``[{"metric": {labels}, "value": float, "timestamp": float}]``.

        A scalar result comes back as one item with empty ``metric``; a range-vector result (a
        ``[5m]`` selector queried instantly) gives each series' ``values`` and its last ``value``.
        """
        params: dict[str, Any] = {"query": promql}
        if at is not None:
            params["time"] = epoch_seconds(at)
        data = self._api("/api/v1/query", params, what=promql)
        kind, result = data.get("resultType"), data.get("result")
        out: list[dict[str, Any]]
        if kind == "vector":
            out = [{"metric": item.get("metric", {}), "value": _sample(item["value"][1]),
                    "timestamp": float(item["value"][0])} for item in result if "value" in item]
        elif kind in ("scalar", "string"):
            out = [{"metric": {}, "value": _sample(result[1]) if kind == "scalar" else result[1],
                    "timestamp": float(result[0])}]
        elif kind == "matrix":
            out = []
            for item in result:
                values = [(float(t), _sample(v)) for t, v in item.get("values", [])]
                out.append({"metric": item.get("metric", {}), "values": values,
                            "value": values[-1][1] if values else math.nan,
                            "timestamp": values[-1][0] if values else math.nan})
        else:
            raise SignalError(f"Prometheus query {promql!r}: unknown resultType {kind!r}")
        evidence.attach("query", f"PromQL: {promql}", result_type=kind, series=len(out),
                        result=evidence.trim(repr(out), 1500))
        return out

    def query_range(self, promql: str, start: TimeLike, end: TimeLike,
                    step: float | str = 15) -> list[dict[str, Any]]:
        """Range query: ``[{"metric": {labels}, "values": [(ts, float), ...]}]``."""
        params = {"query": promql, "start": epoch_seconds(start), "end": epoch_seconds(end), "step": step}
        data = self._api("/api/v1/query_range", params, what=promql)
        out = [{"metric": item.get("metric", {}),
                "values": [(float(t), _sample(v)) for t, v in item.get("values", [])]}
               for item in data.get("result", [])]
        evidence.attach("query", f"PromQL range: {promql}", start=params["start"], end=params["end"],
                        step=step, series=len(out), result=evidence.trim(repr(out), 1500))
        return out

    def value(self, promql: str, at: TimeLike | None = None) -> float | None:
        """The single number a query yields; None when it yields nothing (no series yet).

        More than one series is a mistake in the query (wrap it in ``sum(...)``), so it raises.
        """
        result = self.query(promql, at)
        if not result:
            return None
        if len(result) > 1:
            raise SignalError(f"PromQL {promql!r} returned {len(result)} series, expected one; "
                              f"aggregate it (e.g. sum(...)). Series: {[r['metric'] for r in result][:5]}")
        return float(result[0]["value"])

    # exemplars ---------------------------------------------------------------------------------
    def exemplars(self, promql: str, start: TimeLike | None = None,
                  end: TimeLike | None = None) -> list[dict[str, Any]]:
        """GET /api/v1/query_exemplars: ``[{"seriesLabels", "exemplars": [{"labels", "value",
        "timestamp"}]}]`` with ``value`` and ``timestamp`` as floats. Default window: last 15 min."""
        end_s = epoch_seconds(end) if end is not None else time.time()
        start_s = epoch_seconds(start) if start is not None else end_s - 900
        data = self._api("/api/v1/query_exemplars",
                         {"query": promql, "start": start_s, "end": end_s}, what=promql) or []
        out = []
        for series in data:
            out.append({
                "seriesLabels": series.get("seriesLabels", {}),
                "exemplars": [{"labels": ex.get("labels", {}), "value": _sample(ex.get("value")),
                               "timestamp": float(ex.get("timestamp"))}
                              for ex in series.get("exemplars") or []],
            })
        evidence.attach("query", f"exemplars: {promql}", start=start_s, end=end_s, series=len(out),
                        trace_ids=sorted(exemplar_trace_ids(out))[:20])
        return out

    # state ---------------------------------------------------------------------------------------
    def targets(self, state: str = "active") -> list[dict[str, Any]]:
        """Scrape targets: ``[{"job", "health", "lastError", "scrapeUrl", "scrapePool", "labels",
        "lastScrape"}]`` (``state``: active, dropped or any)."""
        data = self._api("/api/v1/targets", {"state": state}, what=f"targets state={state}")
        out = []
        for key in ("activeTargets", "droppedTargets"):
            for t in data.get(key) or []:
                labels = t.get("labels") or {}
                out.append({
                    "job": labels.get("job") or (t.get("discoveredLabels") or {}).get("job", ""),
                    "health": t.get("health", "unknown" if key == "activeTargets" else "dropped"),
                    "lastError": t.get("lastError", ""),
                    "scrapeUrl": t.get("scrapeUrl", ""),
                    "scrapePool": t.get("scrapePool", ""),
                    "labels": labels,
                    "lastScrape": t.get("lastScrape", ""),
                    "active": key == "activeTargets",
                })
        evidence.attach("query", f"Prometheus targets ({state})",
                        targets=[f"{t['job']} {t['scrapeUrl']} {t['health']} {t['lastError']}".strip()
                                 for t in out])
        return out

    def rules(self, type: str | None = None) -> list[dict[str, Any]]:
        """Rule groups: ``[{"name", "file", "interval", "rules": [{"name", "type", "health",
        "lastError", "query", ...}]}]``; ``type`` is ``alert`` or ``record`` to filter."""
        params = {"type": type} if type else None
        data = self._api("/api/v1/rules", params, what="rules")
        groups = data.get("groups") or []
        for group in groups:
            for rule in group.get("rules") or []:
                rule.setdefault("lastError", "")
                rule.setdefault("health", "unknown")
        evidence.attach("query", "Prometheus rules", rules=[
            f"{g.get('name')}/{r.get('name')} {r.get('type')} {r.get('health')} {r.get('lastError')}".strip()
            for g in groups for r in g.get("rules") or []])
        return groups

    def rule_list(self, type: str | None = None) -> list[dict[str, Any]]:
        """All rules flattened, each with its ``group`` name added."""
        return [{**rule, "group": group.get("name", "")}
                for group in self.rules(type) for rule in group.get("rules") or []]

    def ready(self) -> bool:
        """GET /-/ready answers 200 once Prometheus serves queries."""
        try:
            return self._get("/-/ready").status_code == 200
        except OSError:
            return False


def exemplar_trace_ids(exemplar_series: list[dict[str, Any]]) -> set[str]:
    """Every trace id found in exemplar labels (``trace_id``, ``traceID`` or ``traceId``)."""
    ids = set()
    for series in exemplar_series:
        for ex in series.get("exemplars", []):
            labels = ex.get("labels", {})
            for key in ("trace_id", "traceID", "traceId"):
                if labels.get(key):
                    ids.add(str(labels[key]).lower())
    return ids
