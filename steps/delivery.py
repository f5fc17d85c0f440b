"""Delivery: a request's telemetry arrives within the lab's budget, and every request is traced,
with or without trace context from its caller."""

from __future__ import annotations

from pytest_bdd import then, when

from harness.bdd.scenario import sentence
from harness.checks import metrics, traces
from harness.drive import traffic
from harness.lab.lifecycle import Lab


@when(
    sentence("I create {n:d} tasks through the front without trace context"), target_fixture="untraced_titles"
)
def create_untraced(lab: Lab, n: int) -> list[str]:
    return traffic.untraced_tasks(lab.front, n)


@then(sentence("the trace store has a trace of each of those tasks within {timeout:Duration}"))
def trace_of_each(lab: Lab, untraced_titles: list[str], timeout: float) -> None:
    traces.traces_of_tasks(lab, untraced_titles, timeout=timeout)


@then(sentence("Prometheus' newest sample of the app is never older than {max_age:Duration} "
               "while watched for {watch:Duration}"))
def app_metrics_fresh(lab: Lab, max_age: float, watch: float) -> None:
    metrics.metrics_fresh(lab, "flask-backend", max_age=max_age, watch=watch)
