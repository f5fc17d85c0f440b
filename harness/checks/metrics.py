"""Checks on Prometheus: counters of the endpoint a sentence names, samples kept, scrapes fresh.

A counter check reads the series of the endpoint it names, never the metric as a whole, and first
makes sure that series exists: Prometheus answers an absent series with nothing, which a sum reads
as 0, so "grew by exactly 5" used to start from a noted 0 of a series the app no longer labels and
merely time out. :func:`endpoint_series` ends such a wait at once, naming the labels the app uses.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.base import evidence, timeouts
from harness.base.waiting import GiveUp, NotYet, scaled
from harness.checks.expectation import absent_throughout, expect_within
from harness.checks.selection import Identity

if TYPE_CHECKING:  # a vocabulary over a Lab, not a user of the lab's lifecycle
    from harness.lab.lifecycle import Lab

REQUESTS = "http_requests_total"
SERIES: Identity[Mapping[str, str]] = Identity("series", {
    "metric": lambda labels: labels.get("__name__"),
    "endpoint": lambda labels: labels.get("endpoint"),
})


SERIES_WINDOW_S = 120.0  # the chart of a series a step read: the last two minutes …
SERIES_STEP_S = 2.0  # … at the scrape interval


def attach_series(lab: Lab, promql: str, *, mark: float | None = None,
                  window: float = SERIES_WINDOW_S) -> None:
    """Evidence only: ``promql`` over the last ``window`` seconds (one range query), so the report
    can draw the series the step read, with ``mark`` (epoch seconds: the request, the sample) on
    it. A lab that does not answer leaves no chart, never a failure."""
    end = time.time()
    try:
        rows = lab.prometheus.query_range(promql, end - window, end, step=SERIES_STEP_S)
    except Exception:
        return
    points = [[round(t, 3), v] for row in rows[:1] for t, v in row["values"] if math.isfinite(v)]
    if points:
        evidence.attach("series", promql, promql=promql, points=points, mark=mark, series=len(rows),
                        start=round(end - window, 3), end=round(end, 3))


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

    def look() -> float:
        value = prom_value(lab, promql)
        problem = fail_fast(value) if fail_fast is not None else None
        if problem:
            raise GiveUp(problem)  # waiting cannot fix it
        if not predicate(value):
            raise NotYet(f"{promql} = {value}")
        return value

    return expect_within(lab, "metrics", look, what=describe, timeout=timeout,
                         shown=lambda v: {"promql": promql, "value": v})


def endpoint_series(lab: Lab, metric: str, endpoint: str, *, timeout: float = 30) -> list[dict[str, str]]:
    """The label sets of ``metric``'s series for ``endpoint`` (the app declares every endpoint's
    series at start, so a metric with series but none for the endpoint will never have one)."""

    def look() -> list[dict[str, str]]:
        labels = [dict(r["metric"]) for r in lab.prometheus.query(metric)]
        if not labels:
            raise NotYet(f"Prometheus has no series of {metric} yet")
        picked = SERIES.pick(labels, metric=metric, endpoint=endpoint)
        if not picked:
            raise GiveUp(f"Prometheus has series of {metric}, none of endpoint={endpoint!r}: the app "
                         f"labels them {sorted({tuple(sorted(x)) for x in labels})}")
        return picked

    return expect_within(lab, "metrics", look, what=f"the {endpoint} series of {metric} in Prometheus",
                         timeout=timeout, shown=lambda found: {"series": found})


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
    value = prom_reaches(lab, promql, lambda v: target <= v <= app_counter(lab, metric, labels),
                         timeout=timeout,
                         describe=f"Prometheus to catch up with the app's {metric} ({target:g})")
    evidence.attach("query", f"{promql} settled", app=target, prometheus=value)
    attach_series(lab, promql, mark=time.time())
    return value


def requests_to(endpoint: str) -> str:
    """PromQL: the app's request count for one endpoint."""
    return f'sum({REQUESTS}{{endpoint="{endpoint}"}})'


def noted_requests(lab: Lab, endpoint: str, *, timeout: float = 30) -> dict[str, float]:
    """``{endpoint: settled request count}`` of a series that exists: a Then step names the endpoint
    it compares against."""
    endpoint_series(lab, REQUESTS, endpoint, timeout=timeout)
    return {endpoint: settled_counter(lab, REQUESTS, {"endpoint": endpoint}, timeout=timeout)}


def requests_grew_by(
    lab: Lab, endpoint: str, noted: Mapping[str, float], n: int, *, timeout: float = 30
) -> float:
    """The request count of ``endpoint`` grew by exactly ``n`` from the value noted for it."""
    assert endpoint in noted, f"no request count of {endpoint!r} was noted (noted: {sorted(noted)})"
    endpoint_series(lab, REQUESTS, endpoint, timeout=timeout)
    return counter_grew_by(lab, requests_to(endpoint), noted[endpoint], n, timeout=timeout)


def counter_grew_by(lab: Lab, promql: str, before: float, delta: float, *, timeout: float = 30) -> float:
    """Wait for ``before + delta`` exactly; more than that fails at once (the count must be exact)."""
    target = before + delta
    return prom_reaches(
        lab, promql, lambda v: math.isclose(v, target), timeout=timeout,
        describe=f"{promql} to grow from {before:g} by exactly {delta:g}",
        fail_fast=lambda v: (
            f"{promql} grew from {before:g} to {v:g}, more than {delta:g}" if v > target + 1e-9 else None
        ),
    )


def metrics_fresh(lab: Lab, job: str, *, max_age: float, watch: float) -> float:
    """For ``watch`` seconds (scaled), Prometheus' newest sample of ``job`` is never older than
    ``max_age`` (scaled): the lab scrapes every 2 s, so a longer interval, a stuck scrape or a
    target that keeps failing shows here, whatever a counter happens to have caught. Returns the
    oldest age seen."""
    promql = f'time() - max(timestamp(up{{job="{job}"}}))'

    def age() -> float:
        rows = lab.prometheus.query(promql)
        if not rows:
            raise NotYet(f"Prometheus has no sample of job {job} yet")
        return float(rows[0]["value"])

    expect_within(lab, "metrics", age, timeout=max_age, what=f"a first sample of job {job} in Prometheus")
    limit = scaled(max_age)

    def stale(seen: float) -> str | None:
        if seen <= limit:
            return None
        detail = "none at all" if math.isinf(seen) or math.isnan(seen) else f"{seen:.0f} s old"
        return (f"Prometheus' newest sample of job {job} is {detail}, more than {max_age:g} s "
                "(the lab scrapes every few seconds)")

    def newest_age() -> float:
        rows = lab.prometheus.query(promql)
        return float(rows[0]["value"]) if rows else math.inf

    ages = absent_throughout(lab, "metrics", newest_age, stale, window=watch,
                             what=f"the age of job {job}'s newest sample ({promql})")
    return max(ages)


def scrape_targets_up(lab: Lab, *, timeout: float = 60) -> list[dict[str, Any]]:
    def look() -> list[dict[str, Any]]:
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

    return expect_within(lab, "metrics", look, timeout=timeout, what="every Prometheus scrape target up",
                         shown=lambda ts: {"targets": [f"{t.get('job')}: {t.get('health')}" for t in ts]})


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
    attach_series(lab, promql, mark=at)
    if not sample.value > 0:
        raise AssertionError(f"{promql} had no value above 0 at {at:.0f} once settled ({sample.value:g})")
    return sample


def sample_still_there(lab: Lab, sample: PromqlSample, *, timeout: float = 30) -> None:
    """Prometheus answers ``sample``'s query at its moment with the same value (its history
    survived), once it answers queries again."""

    def look() -> float:
        rows = lab.prometheus.query(sample.promql, at=sample.at)
        if not rows:
            raise NotYet(f"Prometheus has no sample of {sample.promql} at {sample.at:.0f} "
                         f"(it had {sample.value:g})")
        return sum(float(r["value"]) for r in rows)

    value = expect_within(lab, "metrics", look, timeout=timeout,
                          what=f"{sample.promql} at {sample.at:.0f} in Prometheus' history",
                          shown=lambda v: {"before": sample.value, "now": v})
    assert math.isclose(value, sample.value), (
        f"Prometheus now answers {sample.promql} at {sample.at:.0f} with {value:g}, not {sample.value:g}"
    )
