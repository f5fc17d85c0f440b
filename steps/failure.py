"""Failure: restart and stop services on purpose; users are spared, signals tell the story. Each When
is one runtime fault of the vocabulary (harness/faults/runtime.py), applied as a step."""

from __future__ import annotations

import pytest
from pytest_bdd import given, then, when

from harness.bdd.scenario import sentence
from harness.checks import metrics, services, slis
from harness.drive import traffic
from harness.faults import runtime
from harness.lab.lifecycle import Lab


@when(sentence('the "{service}" service is restarted'))
def restart(lab: Lab, service: str) -> None:
    runtime.Restart(service).apply(lab)


@when(sentence('the "{service}" service is stopped'))
def stop(lab: Lab, request: pytest.FixtureRequest, service: str) -> None:
    fault = runtime.Stop(service)
    request.addfinalizer(lambda: fault.undo(lab))  # leave the lab as found
    fault.apply(lab)


@when(sentence('the "{service}" service is started again'))
def start(lab: Lab, service: str) -> None:
    runtime.Stop(service).undo(lab)


@then(sentence("the front answers 200 on the task API within {timeout:Duration}"))
def front_recovers(lab: Lab, timeout: float) -> None:
    traffic.front_recovers(lab.front, timeout=timeout)


@then(sentence("the front then answers {n:d} requests in a row without a 502"))
def no_502(lab: Lab, n: int) -> None:
    traffic.assert_all_ok(lab.front, n, forbid=(502,))


@then(sentence("{n:d} requests through the front all succeed"))
def all_succeed(lab: Lab, n: int) -> None:
    traffic.assert_all_ok(lab.front, n)


@given("I note the SLI values", target_fixture="noted_slis")
def note_slis(lab: Lab) -> dict[str, float]:
    return slis.sli_values(lab)


@when(sentence("I call the error endpoint {n:d} times"))
def call_errors(lab: Lab, n: int) -> None:
    traffic.errors(lab.front, n)


@when(sentence("I call the slow endpoint {n:d} times with a delay of {delay:Duration}"))
def call_slow_n(lab: Lab, n: int, delay: float) -> None:
    traffic.slow(lab.front, delay, n)


@then(sentence("the {name} SLI rises"))
def sli_rises(lab: Lab, noted_slis: dict[str, float], name: str) -> None:
    slis.sli_rises(lab, name, noted_slis)


@then(sentence("the {quantile} latency SLI rises above {seconds:Duration}"))
def latency_sli_rises_above(lab: Lab, noted_slis: dict[str, float], quantile: str, seconds: float) -> None:
    slis.sli_rises(lab, f"{quantile} latency", noted_slis, above=seconds)


@when(sentence('the "{service}" service is recreated'))
def recreate(lab: Lab, service: str) -> None:
    runtime.Recreate(service).apply(lab)


@when(sentence('the "{service}" service is replaced by a new container at a new address'))
def replace(lab: Lab, service: str) -> None:
    runtime.Replace(service).apply(lab)


@then(sentence("within {timeout:Duration} the front answers {n:d} requests in a row without a 502"))
def steady_within(lab: Lab, timeout: float, n: int) -> None:
    traffic.front_steady(lab.front, n, timeout=timeout)


@when(sentence('the main process of the "{service}" service ends'))
def main_process_ends(lab: Lab, service: str) -> None:
    runtime.EndMainProcess(service).apply(lab)


@then(sentence('the "{service}" service is running and healthy again within {timeout:Duration}'))
def healthy_again(lab: Lab, service: str, timeout: float) -> None:
    services.service_healthy_again(lab, service, timeout=timeout)


@given("the SLI window holds none of the earlier scenarios' requests")
def sli_window_quiet(lab: Lab) -> None:
    slis.sli_window_quiet(lab)


@given(sentence('Prometheus has a sample of the requests to "{endpoint}"'), target_fixture="prom_sample")
def prometheus_sample(lab: Lab, endpoint: str) -> metrics.PromqlSample:
    return metrics.prometheus_sample(lab, metrics.requests_to(endpoint))


@then("Prometheus still has that sample")
def sample_still_there(lab: Lab, prom_sample: metrics.PromqlSample) -> None:
    metrics.sample_still_there(lab, prom_sample)
