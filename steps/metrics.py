"""Metrics: counters move by exactly the traffic sent; histograms see slow requests and DB work.

Baselines are whole snapshots (the noted counter keyed by its endpoint, the latency histogram of
every endpoint); the Then step reads the endpoint and the threshold from its own sentence.
"""

from __future__ import annotations

from pytest_bdd import given, then, when

from harness.bdd.scenario import sentence
from harness.checks import expect
from harness.drive import traffic
from harness.drive.traffic import ok
from harness.lab.lifecycle import Lab


@given(sentence('I note the Prometheus value of requests to "{endpoint}"'), target_fixture="noted_requests")
def note_requests(lab: Lab, endpoint: str) -> dict[str, float]:
    return expect.noted_requests(lab, endpoint)


@when(sentence("I create {n:d} tasks through the front"))
def create_n_tasks(lab: Lab, n: int) -> None:
    for i in range(n):
        ok(lab.front.create_task(f"metrics task {i + 1} of {n}"), 201)


@then(sentence('Prometheus shows requests to "{endpoint}" grew by exactly {n:d}'))
def requests_grew_by(lab: Lab, noted_requests: dict[str, float], endpoint: str, n: int) -> None:
    expect.requests_grew_by(lab, endpoint, noted_requests, n)


@when(sentence("I call the slow endpoint with a delay of {delay:Duration}"), target_fixture="latency_before")
def call_slow(lab: Lab, delay: float) -> dict[str, dict[float, float]]:
    before = expect.latency_snapshot(lab)
    traffic.slow(lab.front, delay)
    return before


@then(sentence('Prometheus counts a request to "{endpoint}" slower than {seconds:Duration}'))
def counts_slow(
    lab: Lab, latency_before: dict[str, dict[float, float]], endpoint: str, seconds: float
) -> None:
    expect.slow_request_counted(lab, endpoint, seconds, latency_before)


@when(sentence('I run the database smoke test with {ops:d} "{kind}" operations'))
def db_smoke(lab: Lab, ops: int, kind: str) -> None:
    ok(lab.front.db_smoke(ops, kind), 200)


@then(sentence("Prometheus has database latency samples for {operations:List}"))
def db_latency_samples(lab: Lab, operations: list[str]) -> None:
    expect.db_operations_observed(lab, operations)


@given("some mixed traffic has been sent to the front")
def mixed_traffic(lab: Lab) -> None:
    traffic.mixed(lab.front)


@then("every PromQL query of the provisioned dashboards returns data")
def dashboard_queries(lab: Lab) -> None:
    queries = expect.dashboard_queries(lab.config.stack_dir / "grafana" / "dashboards")
    assert queries, "no PromQL query found in stack/grafana/dashboards"
    expect.queries_return_data(lab, queries)


@then("the SLI recording rules produce values")
def sli_rules(lab: Lab) -> None:
    expect.recording_rules_have_values(lab)
