"""Correlation: one trace id in the trace, the logs and a Prometheus exemplar (and Grafana's links)."""

from __future__ import annotations

from pytest_bdd import then

from harness.bdd.scenario import sentence
from harness.checks import grafana_links, histograms
from harness.lab.lifecycle import Lab


@then(sentence('Prometheus has an exemplar pointing at that trace on the "{endpoint}" series of "{metric}" '
               'within {timeout:Duration}'))
def exemplar(lab: Lab, trace_id: str, endpoint: str, metric: str, timeout: float) -> None:
    histograms.exemplar_for_trace(lab, metric, endpoint, trace_id, timeout=timeout)


@then("Grafana's trace-to-logs query for that trace returns its log records")
def trace_to_logs(lab: Lab, trace_id: str) -> None:
    grafana_links.trace_to_logs(lab, trace_id)


@then("Grafana's logs-to-trace link for that trace id opens the trace")
def logs_to_trace(lab: Lab, trace_id: str) -> None:
    grafana_links.logs_to_trace(lab, trace_id)
