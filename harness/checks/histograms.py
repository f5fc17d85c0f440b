"""Checks on the app's histograms: the bucket a request falls in, the bounds the SLOs need, the
database operations observed, and the exemplar that links a bucket to its trace.

A histogram only knows its bucket bounds. "A slow request shows in the latency histogram" used to
be satisfied by the 1.2 s request landing in *some* bucket above 1 s — also with the buckets cut to
``(1.0, 15.0)``, where the lab's latency SLO (p95 < 500 ms) can no longer be judged: with no bound
at 0.5 s, ``histogram_quantile`` interpolates across 0-1 s and the alert fires or stays quiet by
arithmetic, not by latency (issue 22). So the request is now counted in the bucket it must fall in,
whose both bounds must exist (:func:`request_in_bucket`), and the bounds must include every latency
SLO threshold (:func:`bounds_include`). Everything is read for the endpoint the sentence names.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from harness.base.waiting import GiveUp, NotYet
from harness.checks.expectation import expect_within
from harness.checks.metrics import attach_series, settled_counter
from harness.checks.selection import Identity

if TYPE_CHECKING:  # a vocabulary over a Lab, not a user of the lab's lifecycle
    from harness.lab.lifecycle import Lab

LATENCY = "http_request_duration_seconds"
DB_LATENCY = "db_query_duration_seconds"
Buckets = Mapping[float, float]  # a histogram's cumulative counts by upper bound (le)
EXEMPLAR: Identity[Mapping[str, Any]] = Identity("exemplar", {
    "series": lambda e: e["series"].get("__name__"),
    "endpoint": lambda e: e["series"].get("endpoint"),
    "trace_id": lambda e: e["labels"].get("trace_id") or e["labels"].get("traceID"),
})
DB_OPERATION: Identity[Mapping[str, str]] = Identity("database operation series", {
    "operation": lambda labels: labels.get("operation"),
})


def bound_at(buckets: Iterable[float], seconds: float) -> float | None:
    """The bucket bound equal to ``seconds`` (as Prometheus prints it), if there is one."""
    return next((le for le in buckets if math.isclose(le, seconds, rel_tol=1e-9)), None)


def said(bounds: Iterable[float]) -> str:
    return ", ".join(f"{b:g}" for b in sorted(bounds))


def observations_between(buckets: Buckets, low: float, high: float) -> float:
    """Observations in (``low``, ``high``]: both must be bounds of the histogram, else it cannot
    tell (``GiveUp`` naming the bound it lacks and the bounds it has)."""
    for seconds, side in ((low, "more than"), (high, "at most")):
        if bound_at(buckets, seconds) is None:
            raise GiveUp(f"{LATENCY} has no bucket bound at {seconds:g} s (its bounds: {said(buckets)}): it "
                         f"cannot tell whether a request took {side} {seconds:g} s")
    return buckets[bound_at(buckets, high)] - buckets[bound_at(buckets, low)]  # type: ignore[index]


def histogram_buckets(lab: Lab, metric: str, by: str) -> dict[str, dict[float, float]]:
    """``{label value: {le: cumulative count}}`` of histogram ``metric`` for every value of ``by``
    (series without that label under "")."""
    rows = lab.prometheus.query(f"sum by ({by}, le) ({metric}_bucket)")
    found: dict[str, dict[float, float]] = {}
    for row in rows:
        found.setdefault(row["metric"].get(by, ""), {})[float(row["metric"]["le"])] = float(row["value"])
    return found


def latency_snapshot(lab: Lab) -> dict[str, dict[float, float]]:
    """The whole request-latency histogram by endpoint, once Prometheus holds every request the app
    has counted: a later step reads any endpoint and any bucket from it, so it cannot go stale."""
    settled_counter(lab, f"{LATENCY}_count", {})
    return histogram_buckets(lab, LATENCY, "endpoint")


def _of_endpoint(found: Mapping[str, Buckets], endpoint: str) -> Buckets:
    if endpoint in found:
        return found[endpoint]
    if not found:
        raise NotYet(f"Prometheus has no series of {LATENCY} yet")
    raise GiveUp(f"{LATENCY} has series, none of endpoint={endpoint!r} (endpoints: {sorted(found)}): "
                 "the app does not label its requests by endpoint")


def request_in_bucket(lab: Lab, endpoint: str, low: float, high: float, before: Mapping[str, Buckets],
                      *, timeout: float = 30) -> float:
    """Wait until the latency histogram of ``endpoint`` holds exactly one more request in the bucket
    (``low``, ``high``] than the snapshot ``before``; a request counted in another bucket, or more
    than one, ends the wait at once. The bucket comes from the caller, never from the snapshot (an
    endpoint absent from it had no request yet)."""
    old = before.get(endpoint, {})
    old_total = old.get(math.inf, 0.0)

    def look() -> float:
        base = observations_between(old, low, high) if old else 0.0
        buckets = _of_endpoint(histogram_buckets(lab, LATENCY, "endpoint"), endpoint)
        value = observations_between(buckets, low, high)
        more = buckets.get(math.inf, 0.0) - old_total
        if value > base + 1:
            raise GiveUp(f"{value - base:g} more {endpoint} requests in ({low:g} s, {high:g} s], not one")
        if value < base + 1 and more >= 1:
            grew = [f"le={le:g}: {old.get(le, 0):g}→{n:g}" for le, n in sorted(buckets.items())
                    if n != old.get(le, 0)]
            raise GiveUp(f"the {endpoint} request was counted outside ({low:g} s, {high:g} s]: {grew}")
        if value < base + 1:
            raise NotYet(f"{value:g} {endpoint} requests in ({low:g} s, {high:g} s] (before: {base:g})")
        return value

    return expect_within(lab, "metrics", look, timeout=timeout,
                         what=f"one more {endpoint} request in {LATENCY}'s bucket ({low:g} s, {high:g} s]",
                         shown=lambda v: {"bucket": f"({low:g} s, {high:g} s]", "now": v})


def bounds_include(lab: Lab, metric: str, thresholds: Mapping[str, float], *,
                   timeout: float = 30) -> dict[str, list[float]]:
    """Every series of histogram ``metric`` has a bucket bound at each threshold (``{what it is
    the threshold of: seconds}``); returns each endpoint's bounds."""
    if not thresholds:
        raise AssertionError(f"no threshold to find among {metric}'s bounds: every bound of none is there")

    def look() -> dict[str, list[float]]:
        rows = lab.prometheus.query(f"group by (endpoint, le) ({metric}_bucket)")
        bounds: dict[str, set[float]] = {}
        for row in rows:
            bounds.setdefault(row["metric"].get("endpoint", ""), set()).add(float(row["metric"]["le"]))
        if not bounds:
            raise NotYet(f"Prometheus has no series of {metric}_bucket yet")
        lacking = {name: f"{seconds:g} s" for name, seconds in thresholds.items()
                   if any(bound_at(b, seconds) is None for b in bounds.values())}
        if lacking:
            some = next(iter(bounds.values()))
            raise GiveUp(f"{metric} has no bucket bound at the threshold of {lacking} (the app's bounds: "
                         f"{said(some)}): histogram_quantile interpolates across the bucket around it, so "
                         "the alert fires or stays quiet by arithmetic, not by latency")
        return {name: sorted(b) for name, b in bounds.items()}

    return expect_within(lab, "metrics", look, timeout=timeout,
                         what=f"a bucket bound of {metric} at every SLO threshold ({thresholds})",
                         shown=lambda found: {"thresholds": dict(thresholds),
                                              "bounds": said(next(iter(found.values())))})


def db_snapshot(lab: Lab) -> dict[str, float]:
    """Samples of the database latency histogram by operation, once Prometheus holds what the app
    has counted (a later step compares against it)."""
    settled_counter(lab, f"{DB_LATENCY}_count", {})
    rows = lab.prometheus.query(f"sum by (operation) ({DB_LATENCY}_count)")
    return {r["metric"].get("operation", ""): float(r["value"]) for r in rows}


def db_operations_grew(lab: Lab, operations: list[str], before: Mapping[str, float], *,
                       timeout: float = 30) -> dict[str, float]:
    """Each operation's series of the database latency histogram has samples it did not have in
    ``before`` (samples from earlier traffic do not count)."""
    if not operations:
        raise AssertionError("no database operation named: every operation of none grew")

    def look() -> dict[str, float]:
        rows = lab.prometheus.query(f"sum by (operation) ({DB_LATENCY}_count)")
        series = [dict(r["metric"], value=float(r["value"])) for r in rows]
        counts = {}
        for op in operations:
            picked = DB_OPERATION.pick(series, operation=op)
            counts[op] = float(picked[0]["value"]) if picked else 0.0
        still = [op for op in operations if counts[op] <= before.get(op, 0.0)]
        if still:
            raise NotYet(f"no new {DB_LATENCY} samples for {still}: now {counts}, before {dict(before)}")
        return counts

    return expect_within(lab, "metrics", look, timeout=timeout,
                         what=f"new {DB_LATENCY} samples for {operations}",
                         shown=lambda counts: {"now": counts, "before": dict(before)})


def exemplar_for_trace(lab: Lab, metric: str, endpoint: str, trace_id: str, *,
                       timeout: float = 30) -> dict[str, Any]:
    """Wait for an exemplar pointing at ``trace_id`` on ``endpoint``'s bucket series of histogram
    ``metric``, in the bucket its value falls in (value at most the bucket's bound)."""

    def look() -> dict[str, Any]:
        now = time.time()
        series = lab.prometheus.exemplars(f"{metric}_bucket", start=now - 900, end=now + 60)
        seen = [{"labels": {}, **e, "series": s.get("seriesLabels", {})}
                for s in series for e in s.get("exemplars", [])]
        found = EXEMPLAR.one(seen, series=f"{metric}_bucket", endpoint=endpoint, trace_id=trace_id)
        le = float(found["series"].get("le", "nan"))
        if not float(found["value"]) <= le:
            raise GiveUp(f"the exemplar of {trace_id} ({found['value']} s) sits in the bucket le={le:g}")
        return {"series": found["series"], "exemplar": {k: v for k, v in found.items() if k != "series"}}

    found = expect_within(lab, "metrics", look, timeout=timeout, kind="exemplar",
                          what=f"exemplar on {metric} of {endpoint} for trace {trace_id}",
                          shown=lambda found: {**found, "trace_id": trace_id})
    mark = found["exemplar"].get("timestamp")
    attach_series(lab, f'sum({metric}_count{{endpoint="{endpoint}"}})',
                  mark=float(mark) if isinstance(mark, int | float) else None)
    return found
