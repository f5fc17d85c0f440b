"""One assertion vocabulary for all signals: "this arrives within T", "this moved by N".

Each function polls through :func:`harness.waiting.eventually`, so a failure says what was last
seen (the spans found, the records returned, the PromQL value), and records evidence on the step.
Steps call these; the logic lives here where unit tests can reach it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from harness import evidence
from harness.dashboards import load_dashboards, promql_queries, substitute_variables
from harness.lab import Lab
from harness.signals.model import LogRecord, Span, Trace
from harness.waiting import GiveUp, NotYet, eventually

SERVICE = "flask-backend"
T = TypeVar("T")

# ---------------------------------------------------------------------------------------- traces


def rooted_at_a_server_span(trace: Trace) -> str | None:
    """None when the spans form one tree whose root is the request's server span; else what is
    missing. Stores receive a request's spans in several batches: the SQL span may come first."""
    ids = {s.span_id for s in trace.spans}
    roots = [s for s in trace.spans if s.parent_span_id not in ids]
    if len(roots) != 1 or roots[0].kind != "server":
        return f"its spans do not yet hang from one server span (roots: {[r.name for r in roots]})"
    return None


def trace_arrives(
    lab: Lab,
    trace_id: str,
    *,
    timeout: float = 30,
    require: Callable[[Trace], str | None] | None = rooted_at_a_server_span,
) -> Trace:
    """Wait until the trace store returns the trace (and ``require`` finds nothing missing)."""

    def check() -> Trace:
        trace = lab.traces.get_trace(trace_id)
        if trace is None or not trace.spans:
            raise NotYet(f"{lab.traces.name} has no trace {trace_id} yet")
        missing = require(trace) if require else None
        if missing:
            raise NotYet(f"trace {trace_id} has {len(trace.spans)} spans ({trace.summary()}) but {missing}")
        return trace

    trace = eventually(
        check, timeout=timeout, describe=f"trace {trace_id} in {lab.traces.name}", interval=1.0
    )
    evidence.attach("trace", f"trace {trace_id} in {lab.traces.name}", spans=trace.summary())
    return trace


def trace_satisfies(lab: Lab, trace_id: str, check: Callable[[Trace], T], *, timeout: float = 15) -> T:
    """Poll the trace until ``check`` passes (late spans arrive in later batches); its last
    AssertionError is the failure message."""

    def attempt() -> T:
        trace = lab.traces.get_trace(trace_id)
        if trace is None:
            raise NotYet(f"{lab.traces.name} has no trace {trace_id}")
        return check(trace)

    return eventually(attempt, timeout=timeout, describe=f"trace {trace_id} to match", interval=1.0)


def server_span(trace: Trace, method: str, route: str) -> Span:
    """The HTTP server span of ``METHOD route`` (name or http.route/url attributes)."""
    for span in trace.server_spans():
        attrs = span.attributes
        span_method = attrs.get("http.request.method") or attrs.get("http.method")
        span_route = attrs.get("http.route") or attrs.get("url.path") or attrs.get("http.target")
        if span.name == f"{method} {route}" or (span_method == method and span_route == route):
            return span
    raise AssertionError(f"no server span for {method} {route}; spans: {trace.summary()}")


def descendant_named(trace: Trace, parent: Span, name: str) -> Span:
    for span in trace.descendants_of(parent):
        if span.name == name:
            return span
    raise AssertionError(f"no span {name!r} below {parent.name!r}; spans: {trace.summary()}")


def sql_descendant(trace: Trace, parent: Span) -> Span:
    """A SQLAlchemy client span below ``parent`` (has db.system / db.statement)."""
    for span in trace.descendants_of(parent):
        keys = set(span.attributes)
        if keys & {"db.system", "db.system.name", "db.statement", "db.query.text"}:
            return span
    raise AssertionError(f"no SQL span below {parent.name!r}; spans: {trace.summary()}")


def error_span(trace: Trace) -> Span:
    for span in trace.spans:
        if span.status == "error":
            return span
    raise AssertionError(f"no span with error status; spans: {trace.summary()}")


# ------------------------------------------------------------------------------------------ logs


def log_records(
    lab: Lab, trace_id: str, *, text: str | None = None, severity: str | None = None, timeout: float = 30
) -> list[LogRecord]:
    """Wait until the log store has records of the service with this trace id (and text/severity)."""

    def check() -> list[LogRecord]:
        records = lab.logs.query(SERVICE, trace_id=trace_id, text=text)
        matching = [
            r
            for r in records
            if r.trace_id == trace_id
            and (text is None or text in r.body)
            and (severity is None or r.severity.upper() == severity.upper())
        ]
        if not matching:
            seen = [f"{r.severity} {r.body!r} trace={r.trace_id}" for r in records[:5]]
            raise NotYet(
                f"{len(records)} records for trace {trace_id}"
                f"{' with ' + repr(text) if text else ''}, none matching; first: {seen}"
            )
        return matching

    what = " ".join(x for x in (severity, repr(text) if text else None) if x) or "any"
    found = eventually(
        check, timeout=timeout, describe=f"{what} log record with trace {trace_id} in {lab.logs.name}"
    )
    evidence.attach(
        "log",
        f"{len(found)} {what} record(s) for trace {trace_id} in {lab.logs.name}",
        records=[
            {
                "body": r.body,
                "severity": r.severity,
                "service": r.service,
                "trace_id": r.trace_id,
                "span_id": r.span_id,
            }
            for r in found[:5]
        ],
    )
    return found


# ------------------------------------------------------------------------------------ prometheus


def prom_value(lab: Lab, promql: str) -> float:
    """Sum of an instant vector (0 when empty): counters that do not exist yet count as 0."""
    result = lab.prometheus.query(promql)
    total = sum(float(r["value"]) for r in result) if result else 0.0
    evidence.attach("query", promql, value=total, series=len(result))
    return total


def prom_reaches(
    lab: Lab,
    promql: str,
    predicate: Callable[[float], bool],
    *,
    describe: str,
    timeout: float = 30,
    fail_fast: Callable[[float], str | None] | None = None,
) -> float:
    """Wait until ``predicate(value)``; ``fail_fast`` may name a value that can never become right."""

    def check() -> float:
        value = prom_value(lab, promql)
        if fail_fast is not None:
            problem = fail_fast(value)
            if problem:
                raise GiveUp(problem)  # waiting cannot fix it
        if not predicate(value):
            raise NotYet(f"{promql} = {value}")
        return value

    return eventually(check, timeout=timeout, describe=describe, interval=1.0)


def app_counter(lab: Lab, metric: str, labels: dict[str, str]) -> float:
    """Sum of a counter's samples with these labels, read from the app's own /metrics right now."""
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    total = 0.0
    for line in lab.backend.metrics_text().splitlines():
        if line.startswith(metric + "{") and all(w in line.split("}")[0] for w in wanted):
            total += float(line.rsplit("}", 1)[1].split()[0])
    return total


def settled_counter(lab: Lab, metric: str, labels: dict[str, str], *, timeout: float = 30) -> float:
    """The counter's value once Prometheus has scraped everything the app has counted so far.

    Noting a Prometheus value right after other traffic would note a stale one (the next scrape
    brings the rest), and "grew by exactly N" would then see more than N.
    """
    matchers = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    promql = f"sum({metric}{{{matchers}}})"
    target = app_counter(lab, metric, labels)
    value = prom_reaches(
        lab,
        promql,
        lambda v: v >= target,
        timeout=timeout,
        describe=f"Prometheus to catch up with the app's {metric} ({target:g})",
    )
    evidence.attach("query", f"{promql} settled", app=target, prometheus=value)
    return value


def counter_grew_by(lab: Lab, promql: str, before: float, delta: float, *, timeout: float = 30) -> float:
    """Wait for ``before + delta`` exactly; more than that fails at once (the count must be exact)."""
    target = before + delta
    return prom_reaches(
        lab,
        promql,
        lambda v: math.isclose(v, target),
        timeout=timeout,
        describe=f"{promql} to grow from {before:g} by exactly {delta:g}",
        fail_fast=lambda v: (
            f"{promql} grew from {before:g} to {v:g}, more than {delta:g}" if v > target + 1e-9 else None
        ),
    )


def count_slower_than(lab: Lab, metric: str, matchers: str, seconds: float) -> float:
    """Observations of histogram ``metric`` above ``seconds`` (count minus the first bucket ≥ seconds)."""
    buckets = lab.prometheus.query(f"sum by (le) ({metric}_bucket{{{matchers}}})")
    by_le = {float(b["metric"]["le"]): float(b["value"]) for b in buckets}
    if not by_le:
        return 0.0
    total = by_le.get(math.inf, max(by_le.values()))
    bounds = sorted(le for le in by_le if le >= seconds)
    below = by_le[bounds[0]] if bounds else total
    value = total - below
    evidence.attach("query", f"{metric}{{{matchers}}} observations > {seconds}s", value=value, buckets=by_le)
    return value


def scrape_targets_up(lab: Lab, *, timeout: float = 60) -> list[dict[str, Any]]:
    def check() -> list[dict[str, Any]]:
        targets = lab.prometheus.targets()
        if not targets:
            raise NotYet("Prometheus has no active targets")
        down = [
            f"{t.get('job')}@{t.get('scrapeUrl')}: {t.get('health')} {t.get('lastError', '')}".strip()
            for t in targets
            if t.get("health") != "up"
        ]
        if down:
            raise NotYet(f"targets not up: {down}")
        return targets

    targets = eventually(check, timeout=timeout, describe="every Prometheus scrape target up")
    evidence.attach(
        "query", "Prometheus active targets", targets=[f"{t.get('job')}: {t.get('health')}" for t in targets]
    )
    return targets


def exemplar_for_trace(lab: Lab, metric: str, trace_id: str, *, timeout: float = 30) -> dict[str, Any]:
    """Wait for an exemplar on ``metric`` whose trace_id label is ``trace_id``."""

    def check() -> dict[str, Any]:
        import time

        now = time.time()
        series = lab.prometheus.exemplars(f"{metric}_bucket", start=now - 900, end=now + 60)
        seen = []
        for s in series:
            for ex in s.get("exemplars", []):
                tid = ex.get("labels", {}).get("trace_id") or ex.get("labels", {}).get("traceID")
                seen.append(tid)
                if tid == trace_id:
                    return {"series": s.get("seriesLabels", {}), "exemplar": ex}
        raise NotYet(f"{len(seen)} exemplars on {metric}, none for {trace_id}; last: {seen[-3:]}")

    found = eventually(check, timeout=timeout, describe=f"exemplar on {metric} for trace {trace_id}")
    evidence.attach("exemplar", f"exemplar on {metric} → trace {trace_id}", **found)
    return found


# ----------------------------------------------------------------------------------- dashboards


def dashboard_queries(dashboards_dir: Path) -> list[tuple[str, str, str]]:
    """(dashboard uid, panel title, concrete PromQL) of every Prometheus query of every panel."""
    return [
        (q.dashboard_uid, q.panel_title, substitute_variables(q.expr, board))
        for board in load_dashboards(dashboards_dir)
        for q in promql_queries(board)
    ]


def queries_return_data(lab: Lab, queries: list[tuple[str, str, str]], *, timeout: float = 60) -> None:
    def check() -> None:
        empty = []
        for uid, title, expr in queries:
            if not lab.prometheus.query(expr):
                empty.append(f"{uid}/{title}: {expr}")
        if empty:
            raise NotYet(f"{len(empty)} of {len(queries)} queries return no data: {empty}")

    eventually(
        check, timeout=timeout, describe=f"all {len(queries)} dashboard queries to return data", interval=3
    )
    evidence.attach(
        "query",
        f"{len(queries)} dashboard queries returned data",
        queries=[f"{u}/{t}" for u, t, _ in queries],
    )


def recording_rules_have_values(lab: Lab, *, timeout: float = 90) -> list[str]:
    def check() -> list[str]:
        names = sorted(
            {
                r["name"]
                for g in lab.prometheus.rules()
                for r in g.get("rules", [])
                if r.get("type") == "recording"
            }
        )
        if not names:
            raise NotYet("Prometheus has no recording rules loaded")
        empty = [n for n in names if not lab.prometheus.query(n)]
        if empty:
            raise NotYet(f"recording rules without values: {empty}")
        return names

    names = eventually(
        check, timeout=timeout, describe="every SLI recording rule to have a value", interval=3
    )
    evidence.attach("query", f"{len(names)} recording rules have values", rules=names)
    return names


def slow_request_counted(
    lab: Lab, endpoint: str, seconds: float, before: float, *, timeout: float = 30
) -> float:
    """Wait until the histogram holds one more observation above ``seconds`` than ``before``."""

    def check() -> float:
        value = count_slower_than(lab, "http_request_duration_seconds", f'endpoint="{endpoint}"', seconds)
        if value < before + 1:
            raise NotYet(f"{value:g} observations of {endpoint} above {seconds}s (before: {before:g})")
        return value

    return eventually(
        check, timeout=timeout, describe=f"a {endpoint} request slower than {seconds}s in Prometheus"
    )


def db_operations_observed(lab: Lab, operations: list[str], *, timeout: float = 30) -> dict[str, float]:
    def check() -> dict[str, float]:
        result = lab.prometheus.query("sum by (operation) (db_query_duration_seconds_count)")
        counts = {r["metric"].get("operation", "?"): float(r["value"]) for r in result}
        missing = [op for op in operations if counts.get(op, 0) <= 0]
        if missing:
            raise NotYet(f"no db_query_duration_seconds samples for {missing}; have {counts}")
        return counts

    counts = eventually(check, timeout=timeout, describe=f"db_query_duration_seconds for {operations}")
    evidence.attach("query", "sum by (operation) (db_query_duration_seconds_count)", counts=counts)
    return counts


def services_healthy(lab: Lab, *, timeout: float = 60) -> dict[str, str]:
    def check() -> dict[str, str]:
        states = lab.target.status()
        bad = {
            s: st
            for s, st in states.items()
            if not (st.startswith("running") and "unhealthy" not in st and "starting" not in st)
        }
        if not states or bad:
            raise NotYet(f"services not healthy: {bad or 'none found'}")
        return states

    states = eventually(check, timeout=timeout, describe="every service running and healthy")
    evidence.attach("note", "service states", **states)
    return states


# ------------------------------------------------------------------------------------------- SLIs

SLI_QUERIES = {
    "error_rate": "max(sli:error_rate:ratio_rate1m)",
    "latency_p95": "max(sli:latency_p95:seconds_rate1m)",
    "availability": "min(sli:availability:ratio_rate1m)",
}


def sli_values(lab: Lab) -> dict[str, float]:
    return {name: prom_value(lab, q) for name, q in SLI_QUERIES.items()}


def sli_rises(lab: Lab, name: str, before: dict[str, float], *, timeout: float = 90) -> float:
    query = SLI_QUERIES[name]
    return prom_reaches(
        lab,
        query,
        lambda v: v > before[name],
        timeout=timeout,
        describe=f"{name} SLI ({query}) to rise above {before[name]:g}",
    )


# ---------------------------------------------------------------------------------------- Grafana


def grafana_datasources_healthy(lab: Lab, uids: list[str]) -> None:
    assert lab.grafana is not None, "this store set has no Grafana"
    problems = {}
    for uid in uids:
        health = lab.grafana.datasource_health(uid)
        if str(health.get("status", "")).upper() != "OK":
            problems[uid] = health
    assert not problems, f"datasources not healthy: {problems}"


def grafana_dashboards_exist(lab: Lab, uids: list[str]) -> None:
    assert lab.grafana is not None, "this store set has no Grafana"
    missing = [uid for uid in uids if lab.grafana.dashboard(uid) is None]
    assert not missing, f"dashboards missing in Grafana: {missing}"
