"""Metrics: counters move by exactly the traffic sent; histograms count a slow request in the bucket
it must fall in, have a bound at every latency SLO threshold, and see the database work sent.

Baselines are whole snapshots (the noted counter keyed by its endpoint, the latency histogram of
every endpoint, the database histogram of every operation); the Then step reads the endpoint, the
bucket or the operations from its own sentence.
"""

from __future__ import annotations

from pytest_bdd import given, then, when

from harness.bdd.scenario import sentence
from harness.checks import dashboards, histograms, metrics, slis
from harness.drive import traffic
from harness.drive.traffic import ok
from harness.lab.lifecycle import Lab


@given(sentence('I note the Prometheus value of requests to "{endpoint}"'), target_fixture="noted_requests")
def note_requests(lab: Lab, endpoint: str) -> dict[str, float]:
    return metrics.noted_requests(lab, endpoint)


@when(sentence("I create {n:d} tasks through the front"))
def create_n_tasks(lab: Lab, n: int) -> None:
    for i in range(n):
        ok(lab.front.create_task(f"metrics task {i + 1} of {n}"), 201)


@then(sentence('Prometheus shows requests to "{endpoint}" grew by exactly {n:d}'))
def requests_grew_by(lab: Lab, noted_requests: dict[str, float], endpoint: str, n: int) -> None:
    metrics.requests_grew_by(lab, endpoint, noted_requests, n)


@when(sentence("I call the slow endpoint with a delay of {delay:Duration}"), target_fixture="latency_before")
def call_slow(lab: Lab, delay: float) -> dict[str, dict[float, float]]:
    before = histograms.latency_snapshot(lab)
    traffic.slow(lab.front, delay)
    return before


@then(sentence('Prometheus counts that request to "{endpoint}" in the latency bucket from {low:Duration} '
               "to {high:Duration}"))
def counted_in_bucket(
    lab: Lab, latency_before: dict[str, dict[float, float]], endpoint: str, low: float, high: float
) -> None:
    histograms.request_in_bucket(lab, endpoint, low, high, latency_before)


@then("the latency histogram has a bucket bound at every latency SLO threshold Prometheus alerts on")
def bounds_at_slo_thresholds(lab: Lab) -> None:
    thresholds = slis.latency_slo_thresholds(lab, histograms.LATENCY)
    histograms.bounds_include(lab, histograms.LATENCY, thresholds)


@when(sentence('I run the database smoke test with {ops:d} "{kind}" operations'), target_fixture="db_before")
def db_smoke(lab: Lab, ops: int, kind: str) -> dict[str, float]:
    before = histograms.db_snapshot(lab)
    ok(lab.front.db_smoke(ops, kind), 200)
    return before


@then(sentence("Prometheus has new database latency samples for {operations:List}"))
def db_latency_samples(lab: Lab, db_before: dict[str, float], operations: list[str]) -> None:
    histograms.db_operations_grew(lab, operations, db_before)


@given("some mixed traffic has been sent to the front")
def mixed_traffic(lab: Lab) -> None:
    traffic.mixed(lab.front)


@then("every PromQL query of the provisioned dashboards returns data")
def dashboard_queries(lab: Lab) -> None:
    queries = dashboards.dashboard_queries(lab.config.stack_dir / "grafana" / "dashboards")
    dashboards.queries_return_data(lab, queries)


@then("the SLI recording rules produce values")
def sli_rules(lab: Lab) -> None:
    slis.recording_rules_have_values(lab)
