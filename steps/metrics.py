"""Metrics: counters move by exactly the traffic sent; histograms see slow requests and DB work."""

from __future__ import annotations

from pytest_bdd import given, parsers, then, when

from harness import expect, traffic
from harness.lab import Lab
from harness.scenario import ScenarioContext
from harness.traffic import ok


def _requests_to(endpoint: str) -> str:
    return f'sum(http_requests_total{{endpoint="{endpoint}"}})'


@given(parsers.parse('I note the Prometheus value of requests to "{endpoint}"'))
def note_requests(lab: Lab, ctx: ScenarioContext, endpoint: str) -> None:
    ctx.noted[endpoint] = expect.settled_counter(lab, "http_requests_total", {"endpoint": endpoint})


@when(parsers.parse("I create {n:d} tasks through the front"))
def create_n_tasks(lab: Lab, n: int) -> None:
    for i in range(n):
        ok(lab.front.create_task(f"metrics task {i + 1} of {n}"), 201)


@then(parsers.parse('Prometheus shows requests to "{endpoint}" grew by exactly {n:d}'))
def requests_grew_by(lab: Lab, ctx: ScenarioContext, endpoint: str, n: int) -> None:
    expect.counter_grew_by(lab, _requests_to(endpoint), ctx.noted[endpoint], n)


@when(parsers.parse("I call the slow endpoint with a delay of {delay:g} seconds"))
def call_slow(lab: Lab, ctx: ScenarioContext, delay: float) -> None:
    ctx.noted["slow_before"] = expect.count_slower_than(
        lab, "http_request_duration_seconds", 'endpoint="simulate_slow"', 1.0
    )
    ok(lab.front.simulate_slow(delay), 200)


@then(parsers.parse('Prometheus counts a request to "{endpoint}" slower than {seconds:g} second'))
def counts_slow(lab: Lab, ctx: ScenarioContext, endpoint: str, seconds: float) -> None:
    expect.slow_request_counted(lab, endpoint, seconds, ctx.noted["slow_before"])


@when(parsers.parse('I run the database smoke test with {ops:d} "{kind}" operations'))
def db_smoke(lab: Lab, ops: int, kind: str) -> None:
    ok(lab.front.db_smoke(ops, kind), 200)


@then("Prometheus has database latency samples for SELECT, INSERT, UPDATE and DELETE")
def db_latency_samples(lab: Lab) -> None:
    expect.db_operations_observed(lab, ["SELECT", "INSERT", "UPDATE", "DELETE"])


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
