"""Failure: restart and stop services on purpose; users are spared, signals tell the story."""

from __future__ import annotations

from pytest_bdd import given, parsers, then, when

from harness import expect, traffic
from harness.lab import Lab
from harness.scenario import ScenarioContext
from harness.traffic import ok


@when(parsers.parse('the "{service}" service is restarted'))
def restart(lab: Lab, service: str) -> None:
    lab.target.restart(service)


@when(parsers.parse('the "{service}" service is stopped'))
def stop(lab: Lab, request, service: str) -> None:
    request.addfinalizer(lambda: traffic.ensure_started(lab, service))  # leave the lab as found
    lab.target.stop(service)


@when(parsers.parse('the "{service}" service is started again'))
def start(lab: Lab, service: str) -> None:
    traffic.ensure_started(lab, service)


@then(parsers.parse("the front answers 200 on the task API within {seconds:d} seconds"))
def front_recovers(lab: Lab, seconds: int) -> None:
    traffic.front_recovers(lab.front, timeout=seconds)


@then(parsers.parse("the front then answers {n:d} requests in a row without a 502"))
def no_502(lab: Lab, n: int) -> None:
    traffic.assert_all_ok(lab.front, n, forbid=(502,))


@then(parsers.parse("{n:d} requests through the front all succeed"))
def all_succeed(lab: Lab, n: int) -> None:
    traffic.assert_all_ok(lab.front, n)


@given("I note the SLI values")
def note_slis(lab: Lab, ctx: ScenarioContext) -> None:
    ctx.noted["sli"] = expect.sli_values(lab)


@when(parsers.parse("I call the error endpoint {n:d} times"))
def call_errors(lab: Lab, n: int) -> None:
    traffic.errors(lab.front, n)


@when(parsers.parse("I call the slow endpoint {n:d} times with a delay of {delay:g} seconds"))
def call_slow_n(lab: Lab, n: int, delay: float) -> None:
    for _ in range(n):
        ok(lab.front.simulate_slow(delay), 200)


@then("the error-rate SLI rises")
def error_rate_rises(lab: Lab, ctx: ScenarioContext) -> None:
    expect.sli_rises(lab, "error_rate", ctx.noted["sli"])


@then("the p95 latency SLI rises")
def p95_rises(lab: Lab, ctx: ScenarioContext) -> None:
    expect.sli_rises(lab, "latency_p95", ctx.noted["sli"])
