"""One assertion vocabulary for all signals: "this arrives within T", "this moved by N".

Each function polls through :func:`harness.base.waiting.eventually`, so a failure says what was last
seen (the spans found, the records returned, the PromQL value), and records evidence on the step.
Steps call these; the logic lives here where unit tests can reach it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from harness.base import evidence, timeouts
from harness.base.errors import LabError
from harness.base.waiting import GiveUp, NotYet, WaitTimeout, eventually, scaled
from harness.checks.dashboards import load_dashboards, promql_queries, substitute_variables
from harness.clients import hops
from harness.clients.model import LogRecord, Span, Trace

if TYPE_CHECKING:  # a vocabulary over a Lab, not a user of the lab's lifecycle
    from harness.lab.lifecycle import Lab

SERVICE = "flask-backend"
LATENCY = "http_request_duration_seconds"
T = TypeVar("T")
Buckets = Mapping[float, float]  # a histogram's cumulative counts by upper bound (le)


def by_hop(lab: Lab, signal: str, wait: Callable[[], T]) -> T:
    """``wait()``, and when it times out, its message says what each hop counted for ``signal``
    (the app's requests, the collector's accepted/refused/sent items, the store's own counter:
    :func:`harness.clients.hops.explain`), so a missing trace or log record points at the hop that
    lost it."""
    try:
        return wait()
    except WaitTimeout as exc:
        counted = hops.explain(lab, signal)
        evidence.attach("note", f"{signal}: what each hop counted", hops=counted)
        error = WaitTimeout(exc.describe, exc.timeout, exc.attempts, exc.last_observation)
        error.args = (f"{exc}; {signal} by hop: {counted}",)
        raise error from None

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

    trace = by_hop(lab, "traces", lambda: eventually(
        check, timeout=timeout, describe=f"trace {trace_id} in {lab.traces.name}", interval=1.0
    ))
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


def manual_span(trace: Trace, route: tuple[str, str], name: str) -> Span:
    """The span ``name`` below the server span of ``(method, route)``."""
    return descendant_named(trace, server_span(trace, *route), name)


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


def traces_of_tasks(lab: Lab, titles: list[str], *, timeout: float = 30) -> dict[str, str]:
    """Wait until the trace store has, among the service's recent traces, one whose ``create_task``
    span carries each title (requests sent without a traceparent: the trace ids are the app's)."""
    found: dict[str, str] = {}  # title -> trace id

    def check() -> dict[str, str]:
        ids = lab.traces.search(SERVICE, limit=50, lookback_s=600)
        for trace_id in ids:
            if trace_id in found.values():
                continue
            trace = lab.traces.get_trace(trace_id)
            for span in trace.named("create_task") if trace else []:
                title = span.attributes.get("task.title")
                if title in titles:
                    found[str(title)] = trace_id
        missing = [t for t in titles if t not in found]
        if missing:
            raise NotYet(f"{lab.traces.name} has traces of {len(found)} of the {len(titles)} tasks, none of "
                         f"{missing} ({len(ids)} recent traces of {SERVICE} searched)")
        return dict(found)

    result = by_hop(lab, "traces", lambda: eventually(
        check, timeout=timeout, interval=1.0,
        describe=f"a trace of each of {len(titles)} untraced tasks in {lab.traces.name}"))
    evidence.attach("trace", f"traces of {len(titles)} tasks created without trace context", traces=result)
    return result


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
    found = by_hop(lab, "logs", lambda: eventually(
        check, timeout=timeout, describe=f"{what} log record with trace {trace_id} in {lab.logs.name}"
    ))
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


def log_records_saying(lab: Lab, trace_id: str, texts: list[str], *, timeout: float = 30) -> list[LogRecord]:
    """The records of this trace for each of ``texts`` (each must have at least one)."""
    return [r for text in texts for r in log_records(lab, trace_id, text=text, timeout=timeout)]


def records_name_service(records: list[LogRecord], service: str) -> None:
    wrong = [(r.body, r.service) for r in records if r.service != service]
    assert records, "no log records to check"
    assert not wrong, f"records with another service name (body, service): {wrong}"


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

    return by_hop(lab, "metrics", lambda: eventually(check, timeout=timeout, describe=describe, interval=1.0))


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
    # Prometheus never holds more than the app has counted — unless its value is from before the
    # app restarted (a counter that reset and was not scraped since): not settled either.
    value = prom_reaches(
        lab,
        promql,
        lambda v: target <= v <= app_counter(lab, metric, labels),
        timeout=timeout,
        describe=f"Prometheus to catch up with the app's {metric} ({target:g})",
    )
    evidence.attach("query", f"{promql} settled", app=target, prometheus=value)
    return value


def requests_to(endpoint: str) -> str:
    """PromQL: the app's request count for one endpoint."""
    return f'sum(http_requests_total{{endpoint="{endpoint}"}})'


def noted_requests(lab: Lab, endpoint: str) -> dict[str, float]:
    """``{endpoint: settled request count}``: a Then step names the endpoint it compares against."""
    return {endpoint: settled_counter(lab, "http_requests_total", {"endpoint": endpoint})}


def requests_grew_by(
    lab: Lab, endpoint: str, noted: Mapping[str, float], n: int, *, timeout: float = 30
) -> float:
    """The request count of ``endpoint`` grew by exactly ``n`` from the value noted for it."""
    assert endpoint in noted, f"no request count of {endpoint!r} was noted (noted: {sorted(noted)})"
    return counter_grew_by(lab, requests_to(endpoint), noted[endpoint], n, timeout=timeout)


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


def observations_above(buckets: Buckets, seconds: float) -> tuple[float, float]:
    """(observations certainly above ``seconds``, the bucket bound that decides it).

    A histogram only knows its bucket bounds: "slower than 2 s" counts what lies above the first
    bound at or above 2 s (2.5 s with the app's buckets). With no finite bound that high the
    histogram cannot tell, and the bound is +Inf (nothing lies above it).
    """
    if not buckets:
        return 0.0, math.inf
    total = buckets.get(math.inf, max(buckets.values()))
    bound = min((le for le in buckets if le >= seconds), default=math.inf)
    return total - buckets.get(bound, total), bound


def histogram_buckets(lab: Lab, metric: str, by: str) -> dict[str, dict[float, float]]:
    """``{label value: {le: cumulative count}}`` of histogram ``metric`` for every value of ``by``."""
    rows = lab.prometheus.query(f"sum by ({by}, le) ({metric}_bucket)")
    found: dict[str, dict[float, float]] = {}
    for row in rows:
        found.setdefault(row["metric"].get(by, ""), {})[float(row["metric"]["le"])] = float(row["value"])
    return found


def latency_snapshot(lab: Lab) -> dict[str, dict[float, float]]:
    """The whole request-latency histogram by endpoint, once Prometheus holds every request the app
    has counted: a later step reads any endpoint and any threshold from it, so it cannot go stale."""
    settled_counter(lab, f"{LATENCY}_count", {})
    snapshot = histogram_buckets(lab, LATENCY, "endpoint")
    evidence.attach("query", f"{LATENCY} by endpoint before", endpoints=sorted(snapshot))
    return snapshot


def metrics_fresh(lab: Lab, job: str, *, max_age: float, watch: float) -> float:
    """For ``watch`` seconds (scaled), Prometheus' newest sample of ``job`` is never older than
    ``max_age`` (scaled): the lab scrapes every 2 s, so a longer interval, a stuck scrape or a
    target that keeps failing shows here, whatever a counter happens to have caught. Returns the
    oldest age seen."""
    promql = f'time() - max(timestamp(up{{job="{job}"}}))'

    def first_sample() -> None:
        if not lab.prometheus.query(promql):
            raise NotYet(f"Prometheus has no sample of job {job} yet")

    by_hop(lab, "metrics", lambda: eventually(first_sample, timeout=max_age,
                                              describe=f"a first sample of job {job} in Prometheus"))
    limit, deadline = scaled(max_age), time.monotonic() + scaled(watch)
    ages: list[float] = []
    while True:
        rows = lab.prometheus.query(promql)
        age = float(rows[0]["value"]) if rows else math.inf
        ages.append(age)
        if not age <= limit:
            detail = "none at all" if math.isinf(age) else f"{age:.0f} s old"
            counted = hops.explain(lab, "metrics")
            evidence.attach("query", promql, ages=[round(a, 1) for a in ages], hops=counted)
            raise AssertionError(f"Prometheus' newest sample of job {job} is {detail}, more than "
                                 f"{max_age:g} s (the lab scrapes every few seconds); "
                                 f"metrics by hop: {counted}")
        if time.monotonic() >= deadline:
            break
        time.sleep(1.0)
    evidence.attach("query", promql, ages=[round(a, 1) for a in ages])
    return max(ages)


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

    targets = by_hop(lab, "metrics", lambda: eventually(
        check, timeout=timeout, describe="every Prometheus scrape target up"))
    evidence.attach(
        "query", "Prometheus active targets", targets=[f"{t.get('job')}: {t.get('health')}" for t in targets]
    )
    return targets


def exemplar_for_trace(lab: Lab, metric: str, trace_id: str, *, timeout: float = 30) -> dict[str, Any]:
    """Wait for an exemplar on ``metric`` whose trace_id label is ``trace_id``."""

    def check() -> dict[str, Any]:
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

    found = by_hop(lab, "metrics", lambda: eventually(
        check, timeout=timeout, describe=f"exemplar on {metric} for trace {trace_id}"))
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

    names = by_hop(lab, "metrics", lambda: eventually(
        check, timeout=timeout, describe="every SLI recording rule to have a value", interval=3
    ))
    evidence.attach("query", f"{len(names)} recording rules have values", rules=names)
    return names


def slow_request_counted(
    lab: Lab, endpoint: str, seconds: float, before: Mapping[str, Buckets], *, timeout: float = 30
) -> float:
    """Wait until the latency histogram holds one more ``endpoint`` request above ``seconds`` than
    the snapshot ``before`` (the threshold comes from the caller, never from the snapshot; an
    endpoint absent from it had no request yet)."""
    base, _ = observations_above(before.get(endpoint, {}), seconds)

    def check() -> tuple[float, float, dict[float, float]]:
        buckets = histogram_buckets(lab, LATENCY, "endpoint").get(endpoint, {})
        value, bound = observations_above(buckets, seconds)
        if buckets and math.isinf(bound):
            raise GiveUp(f"{LATENCY} has no bucket bound at or above {seconds:g}s: it cannot tell")
        if value < base + 1:
            raise NotYet(f"{value:g} {endpoint} requests above {bound:g}s (before: {base:g})")
        return value, bound, buckets

    value, bound, buckets = eventually(
        check, timeout=timeout, describe=f"a {endpoint} request slower than {seconds:g}s in Prometheus"
    )
    evidence.attach(
        "query", f"{endpoint} requests in {LATENCY} above {bound:g}s", before=base, now=value, buckets=buckets
    )
    return value


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


def task_list(body: Any) -> None:
    """``body`` is the task API's list answer: a ``tasks`` list and a ``count`` covering it."""
    assert isinstance(body, dict) and isinstance(body.get("tasks"), list), f"no 'tasks' list in {body!r}"
    count = body.get("count")
    assert isinstance(count, int) and count >= len(body["tasks"]), f"bad count in {body!r}"


def containers_recreated(before: Mapping[str, str], after: Mapping[str, str]) -> dict[str, tuple[Any, Any]]:
    """``{service: (id before, id after)}`` for every service whose container changed (or came or went)."""
    services = sorted({*before, *after})
    return {s: (before.get(s), after.get(s)) for s in services if before.get(s) != after.get(s)}


def services_healthy(lab: Lab, *, timeout: float = 60) -> dict[str, str]:
    """Every service of the lab running and, where it has a healthcheck, healthy."""

    def check() -> dict[str, str]:
        states = lab.target.status()
        bad = {s: str(st) for s, st in states.items() if not st.ready}
        if not states or bad:
            raise NotYet(f"services not healthy: {bad or 'none found'}")
        return {s: str(st) for s, st in states.items()}

    states = eventually(check, timeout=timeout, describe="every service running and healthy")
    evidence.attach("note", "service states", **states)
    return states


def service_healthy_again(lab: Lab, service: str, *, timeout: float = 60) -> None:
    """The service runs and is healthy again (a restart policy, or the engine, brought it back)."""
    try:
        lab.target.wait_healthy(service, timeout)
    except LabError as exc:
        raise AssertionError(f"{service} did not come back by itself within {timeout:g}s: {exc}") from None


@dataclass(frozen=True)
class PromqlSample:
    """A PromQL value as Prometheus answered it at one moment (``at``, epoch seconds)."""

    promql: str
    at: float
    value: float


SAMPLE_SETTLE_S = timeouts.base("sample")


def prometheus_sample(lab: Lab, promql: str, *, timeout: float = 30,
                      settle: float = SAMPLE_SETTLE_S) -> PromqlSample:
    """A non-zero value of ``promql`` at a moment that will be in Prometheus' history afterwards.

    The moment is Prometheus' own "now" (its clock, not the harness host's: a VM's clock drifts),
    and the value is read there only once ``settle`` seconds have passed: a scrape carries the time
    it began and is appended when it ends, so the value at a moment a scrape had not yet reached
    changes afterwards (seen on the TCG VM: 1 at the moment, 2 there a minute later).
    """
    prom_reaches(lab, promql, lambda v: v > 0, describe=f"{promql} above 0 in Prometheus", timeout=timeout)
    rows = lab.prometheus.query(promql)
    at = float(rows[0]["timestamp"]) if rows else time.time()
    time.sleep(scaled(settle))
    rows = lab.prometheus.query(promql, at=at)
    sample = PromqlSample(promql, at, sum(float(r["value"]) for r in rows))
    evidence.attach("query", f"{promql} at {at:.3f}, read {scaled(settle):g}s later", value=sample.value)
    if not sample.value > 0:
        raise AssertionError(f"{promql} had no value above 0 at {at:.0f} once settled ({sample.value:g})")
    return sample


def sample_still_there(lab: Lab, sample: PromqlSample, *, timeout: float = 30) -> None:
    """Prometheus answers ``sample``'s query at its moment with the same value (its history
    survived), once it answers queries again."""

    def check() -> float:
        rows = lab.prometheus.query(sample.promql, at=sample.at)
        value = sum(float(r["value"]) for r in rows)
        if not rows:
            raise NotYet(f"Prometheus has no sample of {sample.promql} at {sample.at:.0f} "
                         f"(it had {sample.value:g})")
        return value

    value = eventually(check, timeout=timeout, describe=f"{sample.promql} at {sample.at:.0f} in Prometheus' "
                       "history", interval=1.0)
    evidence.attach("query", f"{sample.promql} at {sample.at:.3f} again", before=sample.value, now=value)
    assert math.isclose(value, sample.value), (
        f"Prometheus now answers {sample.promql} at {sample.at:.0f} with {value:g}, not {sample.value:g}"
    )


# ------------------------------------------------------------------------------------------- SLIs

SLI_QUERIES = {  # by the name a sentence gives them ("the error-rate SLI rises")
    "error-rate": "max(sli:error_rate:ratio_rate1m)",
    "p95 latency": "max(sli:latency_p95:seconds_rate1m)",
    "availability": "min(sli:availability:ratio_rate1m)",
}


def sli_values(lab: Lab) -> dict[str, float]:
    """Every SLI's value now (a later step picks the one its sentence names)."""
    return {name: prom_value(lab, q) for name, q in SLI_QUERIES.items()}


SLI_WINDOW_REQUESTS = "sum(sli:requests:rate1m)"


def sli_window_quiet(lab: Lab, *, timeout: float = 120) -> None:
    """Wait until the SLIs' 1-minute window holds no user request (probes and scrapes do not count).

    An SLI noted while earlier scenarios' requests are still in its window moves with them as they
    age out: slow requests of an earlier scenario make the noted p95 high, and it then falls while
    this scenario's requests arrive. With the window empty, the SLIs after the scenario's traffic
    are computed from that traffic alone, so "rises" cannot depend on what ran before.

    Quiet means the request rate reads 0 *and* every SLI reads "no data": on a slow host a rule
    group can lag or skip an evaluation, and a request rate of 0 was once seen beside a p95 of
    2.4 s still computed from the previous scenario's requests.
    """

    def check() -> None:
        seen = {"requests": prom_value(lab, SLI_WINDOW_REQUESTS)} | sli_values(lab)
        # prom_value reads an absent series as 0: with no request in the window the ratios and the
        # quantile are NaN (0/0) or absent, never a number.
        if seen["requests"] != 0 or any(not math.isnan(v) and v != 0 for v in seen.values()):
            raise NotYet(", ".join(f"{name} {value:g}" for name, value in seen.items()))

    by_hop(lab, "metrics", lambda: eventually(
        check, timeout=timeout, interval=1.0,
        describe="the SLI window (1 minute) to hold no user request and every SLI to read no data"))


def sli_rises(lab: Lab, name: str, before: Mapping[str, float], *, timeout: float = 90) -> float:
    """The SLI rises above the noted value; a noted "no data" (NaN: no request in its window) is
    risen from by any value above 0."""
    if name not in SLI_QUERIES or name not in before:
        raise GiveUp(f"no SLI called {name!r}; the SLIs are {', '.join(SLI_QUERIES)}")
    query, base = SLI_QUERIES[name], before[name]
    if math.isnan(base):
        return prom_reaches(lab, query, lambda v: not math.isnan(v) and v > 0, timeout=timeout,
                            describe=f"{name} SLI ({query}) to have a value above 0 (it had no data)")
    return prom_reaches(lab, query, lambda v: v > base, timeout=timeout,
                        describe=f"{name} SLI ({query}) to rise above {base:g}")


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
