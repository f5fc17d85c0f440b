"""Correlation: one trace id in the trace, the logs and a Prometheus exemplar (and Grafana's links)."""

from __future__ import annotations

from pytest_bdd import parsers, then

from harness import expect, grafana_links
from harness.lab import Lab
from harness.scenario import ScenarioContext


@then(
    parsers.parse(
        'Prometheus has an exemplar on "{metric}" pointing at that trace within {seconds:d} seconds'
    )
)
def exemplar(lab: Lab, ctx: ScenarioContext, metric: str, seconds: int) -> None:
    expect.exemplar_for_trace(lab, metric, ctx.trace_id, timeout=seconds)


@then("Grafana's trace-to-logs query for that trace returns its log records")
def trace_to_logs(lab: Lab, ctx: ScenarioContext) -> None:
    grafana_links.trace_to_logs(lab, ctx.trace_id)


@then("Grafana's logs-to-trace link for that trace id opens the trace")
def logs_to_trace(lab: Lab, ctx: ScenarioContext) -> None:
    grafana_links.logs_to_trace(lab, ctx.trace_id)
