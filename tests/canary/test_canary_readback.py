"""The canary's read-back (app/canary/pipeline_canary/readback.py) over real sockets against the
recorded answers the harness's own store clients are tested with (tests/harness/fixtures/signals:
Jaeger, VictoriaLogs, Tempo 2.10 and Loki 3.7 captured, Prometheus documented): it asks each store
with the harness's client for the canary's service, and finds probes by trace id (Prometheus: by the
counter's value in samples taken since the canary started)."""

from __future__ import annotations

import pytest
from pipeline_canary import SERVICE_NAME
from pipeline_canary.metrics import Metrics
from pipeline_canary.readback import (
    METRICS_TARGET,
    Readback,
    counter_seen,
    log_trace_ids_in,
    targets_of,
    trace_ids_in,
)
from pipeline_canary.settings import Settings
from pipeline_canary.tracker import Probe, Target, Tracker

from harness.clients.jaeger import JaegerTraceStore
from harness.clients.loki import LokiLogStore
from harness.clients.prometheus import PrometheusClient
from harness.clients.tempo import TempoTraceStore
from harness.clients.victorialogs import VictoriaLogsStore
from tests.canary.conftest import sample
from tests.harness.fake_http import SIGNAL_FIXTURES, FakeServer, Reply, signal_doc

JAEGER_IDS = {"1" * 32, "2" * 32, "3" * 32}
TEMPO_IDS = {"4bf92f3577b34da6a3ce929d0e0e4736", "000000000000000000e9329d67b6146a",
             "0af7651916cd43dd8448eb211c80319c", "114f2b5e67944ef2bfc6532d00b888fc"}


def test_the_targets_of_each_store_set() -> None:
    assert targets_of("jaeger-victorialogs") == [Target("traces", "jaeger"), Target("logs", "victorialogs"),
                                                 METRICS_TARGET]
    assert targets_of("tempo-loki") == [Target("traces", "tempo"), Target("logs", "loki"), METRICS_TARGET]


def test_jaeger_search_of_the_canary_service(server: FakeServer) -> None:
    server.route("GET", "/api/traces", Reply(body=signal_doc("jaeger", "search.json")))
    assert trace_ids_in(JaegerTraceStore(server.url), lookback_s=12, limit=40) == JAEGER_IDS
    sent = server.last("/api/traces")
    assert (sent.param("service"), sent.param("limit"), sent.param("lookback")) == (SERVICE_NAME, "40", "12s")


def test_tempo_traceql_search_of_the_canary_service(server: FakeServer) -> None:
    server.route("GET", "/api/search", Reply(body=signal_doc("tempo", "search_captured.json")))
    assert trace_ids_in(TempoTraceStore(server.url), lookback_s=12, limit=40) == TEMPO_IDS
    sent = server.last("/api/search")
    assert sent.param("q") == '{resource.service.name="pipeline-canary"}'
    assert int(sent.param("end")) - int(sent.param("start")) == 12


def test_victorialogs_logsql_of_the_canary_records(server: FakeServer) -> None:
    server.route("GET", "/select/logsql/query",
                 Reply(body=(SIGNAL_FIXTURES / "victorialogs" / "query_otlp_lab.jsonl").read_bytes()))
    assert log_trace_ids_in(VictoriaLogsStore(server.url), lookback_s=12, limit=40) == {
        "4bf92f3577b34da6a3ce929d0e0e4736"}
    sent = server.last("/select/logsql/query")
    assert sent.param("query") == '_time:12s "service.name":="pipeline-canary" "canary probe"'
    assert sent.param("limit") == "40"


def test_loki_logql_of_the_canary_records(server: FakeServer) -> None:
    server.route("GET", "/loki/api/v1/query_range",
                 Reply(body=signal_doc("loki", "query_range_categorized_captured.json")))
    assert log_trace_ids_in(LokiLogStore(server.url), lookback_s=12, limit=40) == {
        "0000000000000000d6e9329d67b6146a"}
    sent = server.last("/loki/api/v1/query_range")
    assert sent.param("query") == '{service_name="pipeline-canary"} |= "canary probe"'


def test_prometheus_counter_in_samples_since_the_start(server: FakeServer) -> None:
    # query_range_up.json: two series, samples at ...430.781 (1, 0), ...445.781 (1, 0), ...460.781 (1, 1)
    server.route("GET", "/api/v1/query", Reply(body=signal_doc("prometheus", "query_range_up.json")))
    prometheus = PrometheusClient(server.url)
    assert counter_seen(prometheus, "pipeline-canary", 30, since=1435781440.0) == 1
    assert counter_seen(prometheus, "pipeline-canary", 30, since=1435781470.0) == 0  # all before the start
    assert server.last("/api/v1/query").param("query") == (
        'pipeline_canary_probes_sent_total{job="pipeline-canary",signal="metrics",store="prometheus"}[30s]')


@pytest.fixture
def lab(server: FakeServer) -> FakeServer:
    """One fake answering as the whole jaeger-victorialogs set and Prometheus."""
    server.route("GET", "/api/traces", Reply(body=signal_doc("jaeger", "search.json")))
    server.route("GET", "/select/logsql/query", Reply(500, "cannot open storage"))
    server.route("GET", "/api/v1/query", Reply(body={"status": "success", "data": {
        "resultType": "matrix", "result": [{"metric": {}, "values": [[2000.0, "2"]]}]}}))
    return server


def test_a_round_finds_what_each_store_has_and_counts_a_store_that_fails(lab: FakeServer,
                                                                          metrics: Metrics) -> None:
    settings = Settings(traces_url=lab.url, logs_url=lab.url, prometheus_url=lab.url, budget_s=60)
    tracker = Tracker(targets_of(settings.stores), metrics, budget_s=60, late_window_s=300)
    readback = Readback(settings, tracker, started=1000.0)
    for seq, trace_id in ((1, "1" * 32), (2, "2" * 32), (3, "9" * 32)):
        probe = Probe(seq, trace_id, emitted=2000.0)
        tracker.sent(probe)
        metrics.sent.labels(*METRICS_TARGET.labels).inc()  # what emit.py does for the metrics target
    readback.round(lambda: 2001.5)
    assert sample(metrics, "pipeline_canary_probes_found_total", "traces", "jaeger") == 2
    assert sample(metrics, "pipeline_canary_probes_found_total", "metrics", "prometheus") == 2
    assert sample(metrics, "pipeline_canary_probes_found_total", "logs", "victorialogs") == 0
    assert sample(metrics, "pipeline_canary_readback_errors_total", "logs", "victorialogs") == 1
    assert sample(metrics, "pipeline_canary_delivery_seconds_sum", "traces", "jaeger") == 3.0
    readback.round(lambda: 2061.0)  # past the budget: what is still missing is lost
    assert sample(metrics, "pipeline_canary_probes_lost_total", "traces", "jaeger") == 1
    assert sample(metrics, "pipeline_canary_probes_lost_total", "logs", "victorialogs") == 3
    assert sample(metrics, "pipeline_canary_probes_lost_total", "metrics", "prometheus") == 1
