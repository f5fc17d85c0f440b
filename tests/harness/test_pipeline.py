"""harness.clients.hops against metric texts captured from the running lab (tests/harness/fixtures/pipeline,
README there: lab/otel-collector:local 0.165.0, VictoriaLogs 1.52.1, the backend's prometheus_client,
Prometheus 2.42 and 3.16.0): what each hop counted, how two moments compare, and the one line a failing step
appends. The reads go over real HTTP to recorded answers, as the signal clients' tests do."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.base import observes
from harness.clients import hops
from harness.clients.hops import (
    ACCEPTED,
    APP_REQUESTS,
    COLLECTOR_RESTARTED,
    IN_FLIGHT,
    LIMITER_REFUSED,
    PROMETHEUS_REQUESTS,
    QUEUE_CAPACITY,
    QUEUE_SIZE,
    SEND_FAILED,
    SENT,
    STORE_RECEIVED,
    AppView,
    CollectorView,
    PipelineSnapshot,
    StoreView,
)
from harness.lab.targets.base import Endpoints
from tests.harness.fake_http import Reply, fake_server

FIXTURES = Path(__file__).parent / "fixtures" / "pipeline"
NOW = 1_796_144_600.0


def text(name: str) -> str:
    return (FIXTURES / name).read_text()


def collector(name: str, now: float = NOW) -> CollectorView:
    return CollectorView.from_samples(hops.parse_exposition(text(name)), "test", now)


def snap(name: str, taken_at: float = NOW, **kw) -> PipelineSnapshot:
    return PipelineSnapshot(taken_at=taken_at, stores="jaeger-victorialogs",
                            collector=collector(name, taken_at), **kw)


# ------------------------------------------------------------------------------------ parsing


def test_the_collectors_own_counters_per_signal() -> None:
    c = collector("collector-healthy.txt")
    assert c.accepted == {"traces": 93.0, "logs": 94.0}
    assert c.refused == {"traces": 0.0, "logs": 0.0} and c.failed == {"traces": 0.0, "logs": 0.0}
    assert c.limiter_refused == {"traces": 0.0, "logs": 0.0}  # memory_limiter: incoming == outgoing
    (jaeger,) = c.exporters["traces"]
    (victorialogs,) = c.exporters["logs"]
    assert (jaeger.name, jaeger.destination, jaeger.sent) == ("otlp_grpc/jaeger", "jaeger", 93.0)
    assert (victorialogs.destination, victorialogs.sent) == ("victorialogs", 94.0)
    assert victorialogs.send_failed == 0.0
    assert (victorialogs.queue_size, victorialogs.queue_capacity) == (0.0, 1000.0)
    assert c.started_at == pytest.approx(NOW - 73.561873715)


def test_a_store_that_does_not_answer_shows_in_the_queue_then_in_send_failed() -> None:
    down = collector("collector-store-down.txt").exporters["logs"][0]
    assert (down.queue_size, down.send_failed) == (8.0, 0.0)  # retrying: queued, nothing failed yet
    failed = collector("collector-send-failed.txt").exporters["logs"][0]
    assert (failed.queue_size, failed.send_failed, failed.sent) == (50.0, 52.0, 94.0)  # retry gave up
    assert collector("collector-send-failed.txt").exporters["traces"][0].send_failed == 0.0


def test_the_apps_traced_requests_leave_probes_and_scrapes_out() -> None:
    app = AppView.from_samples(hops.parse_exposition(text("backend-metrics.txt")), "test")
    assert app.by_endpoint == {"metrics": 14.0, "ready": 13.0, "get_all_tasks": 20.0}
    assert app.requests == 20.0
    assert app.started_at == pytest.approx(1.79614450377e09)


def test_victorialogs_counts_what_it_ingested() -> None:
    samples = hops.parse_exposition(text("victorialogs-metrics.txt"))
    assert hops.total(samples, "vl_rows_ingested") == 94.0  # vl_rows_ingested_total, _total dropped


def test_a_stopped_collector_is_read_from_prometheus_last_scrape(server) -> None:
    """Prometheus keeps a stopped target's series only in range selectors: the last scrape of each."""
    from harness.clients.prometheus import PrometheusClient

    server.route("GET", "/api/v1/query", Reply(body=json.loads(text("prometheus-collector-down.json"))))
    result = PrometheusClient(server.url).query('{job="otel-collector"}[3m]')
    c = CollectorView.from_samples(hops.samples_from_query(result), "prometheus", NOW)
    assert c.accepted["traces"] == 211.0 and c.accepted["logs"] > 254.0  # the scrape before the stop
    assert c.exporters["logs"][0].send_failed == 52.0
    uptime_at = max(s.at for s in hops.samples_from_query(result) if s.name == "otelcol_process_uptime")
    assert c.started_at == pytest.approx(uptime_at - 268.771369574)


def test_prometheus_3_answers_the_same_shape_for_a_stopped_collector(server) -> None:
    """The same read against Prometheus 3.16.0 (lab/prometheus:local, 2026-12-07): its range
    selectors are left-open and it negotiates the scrape format, and the reader still finds the
    last scrape before the stop (the collector's own /metrics said 130 spans, 2497 log records a
    few seconds later, uptime 1260.3 s)."""
    from harness.clients.prometheus import PrometheusClient

    server.route("GET", "/api/v1/query",
                 Reply(body=json.loads(text("prometheus-3.16-collector-down.json"))))
    result = PrometheusClient(server.url).query('{job="otel-collector"}[3m]')
    samples = hops.samples_from_query(result)
    c = CollectorView.from_samples(samples, "prometheus", NOW)
    assert c.accepted["traces"] == 130.0 and c.accepted["logs"] == 2495.0
    uptime_at = max(s.at for s in samples if s.name == "otelcol_process_uptime")
    assert c.started_at == pytest.approx(uptime_at - 1259.307600672)

# ------------------------------------------------------------------------------------ moments


def test_diff_is_the_movement_from_the_earlier_to_the_later_snapshot_in_either_order() -> None:
    healthy = snap("collector-healthy.txt", NOW)
    failed = snap("collector-send-failed.txt", NOW + 148.3)  # same process: uptime 73.6 s -> 221.8 s
    moved = failed.diff(healthy)
    assert moved == healthy.diff(failed)
    logs = moved["logs"]
    assert logs[ACCEPTED] == 254.0 - 94.0
    assert logs[SENT] == 0.0 and logs[SEND_FAILED] == 52.0
    assert logs[QUEUE_SIZE] == 50.0 and logs[QUEUE_CAPACITY] == 1000.0  # gauges: the later value
    assert COLLECTOR_RESTARTED not in logs
    assert moved["traces"][ACCEPTED] == moved["traces"][SENT] == 202.0 - 93.0


def test_after_a_collector_restart_the_later_counters_count_alone() -> None:
    before = snap("collector-send-failed.txt", NOW)  # started NOW - 221.8
    after = snap("collector-healthy.txt", NOW + 60)  # started NOW + 60 - 73.6: another process
    moved = after.diff(before)["logs"]
    assert moved[COLLECTOR_RESTARTED] == 1.0
    assert moved[ACCEPTED] == 94.0 and moved[SEND_FAILED] == 0.0  # never negative


def test_a_hop_either_snapshot_lacks_is_left_out() -> None:
    app = AppView("test", 1.0, {"get_all_tasks": 5.0})
    first = PipelineSnapshot(taken_at=NOW, stores="jaeger-victorialogs", app=app)
    second = snap("collector-healthy.txt", NOW + 10, app=AppView("test", 1.0, {"get_all_tasks": 25.0}),
                  prometheus_requests=24.0)
    moved = second.diff(first)
    assert moved["traces"] == {APP_REQUESTS: 20.0, QUEUE_SIZE: 0.0, QUEUE_CAPACITY: 1000.0, IN_FLIGHT: 0.0}
    assert moved["metrics"] == {APP_REQUESTS: 20.0}
    assert second.hops()["metrics"][PROMETHEUS_REQUESTS] == 24.0


# ------------------------------------------------------------------------------------ the line


def test_the_line_places_a_loss_between_the_collector_and_the_store() -> None:
    store = {"logs": StoreView("victorialogs", 94.0, "log records", "test")}
    healthy = snap("collector-healthy.txt", NOW, app=AppView("t", 1.0, {"get_all_tasks": 20.0}), store=store)
    failed = snap("collector-send-failed.txt", NOW + 148.3, app=AppView("t", 1.0, {"get_all_tasks": 40.0}),
                  store=store)
    line = hops.describe("logs", failed, since=healthy)
    assert line == ("in the last 148 s: the app counted 20 requests; the collector accepted 160 log records, "
                    "refused 0, sent 0 to victorialogs (send failed 52), queue 50/1000; "
                    "victorialogs received 0 log records")
    total = hops.describe("logs", failed)
    assert total.startswith("the app counted 40 requests; the collector accepted 254 log records")


def test_the_line_says_what_could_not_be_read() -> None:
    nothing = PipelineSnapshot(taken_at=NOW, stores="jaeger-victorialogs", problems=("collector down",))
    line = hops.describe("traces", nothing)
    assert "the app's counter is unreadable" in line
    assert "the collector's spans counters are unreadable" in line
    assert "jaeger's own counter is unreadable" in line and line.endswith("[collector down]")
    with pytest.raises(ValueError, match="signal 'spans' is not one of traces, logs, metrics"):
        hops.describe("spans", nothing)


def test_a_collector_and_store_that_have_seen_nothing_say_so() -> None:
    """Counters are born with the first item: a collector that answers with no span counters has
    taken in no spans (a sampler that drops everything), which is not "unreadable"."""
    logs_only = "\n".join(line for line in text("collector-healthy.txt").splitlines() if "span" not in line)
    c = CollectorView.from_samples(hops.parse_exposition(logs_only), "test", NOW)
    nothing = PipelineSnapshot(taken_at=NOW, stores="jaeger-victorialogs", collector=c,
                               problems=("jaeger's ingest counter (otelcol_receiver_accepted_spans) "
                                         "not in Prometheus",))
    line = hops.describe("traces", nothing)
    assert "the collector has taken in no spans since it started" in line
    assert "jaeger has counted no spans (its ingest counter is born with the first)" in line
    assert "the collector's spans counters are unreadable" not in line


def test_limiter_refusals_are_named() -> None:
    view = CollectorView("t", None, accepted={"traces": 10.0}, refused={"traces": 90.0},
                         limiter_refused={"traces": 90.0}, exporters={"traces": ()})
    values = PipelineSnapshot(taken_at=NOW, stores="jaeger-victorialogs", collector=view)
    assert values.hops()["traces"][LIMITER_REFUSED] == 90.0
    assert "refused 90 (memory_limiter 90), and exports them nowhere" in hops.describe("traces", values)


# ------------------------------------------------------------------------------------ the reads


def endpoints(**urls: str) -> Endpoints:
    dead = "http://127.0.0.1:9"  # discard port: nothing listens
    base = dict(frontend=dead, backend=dead, prometheus=dead, traces=dead, logs=dead, collector_health=dead,
                collector_metrics=dead)
    return Endpoints(target="docker", stores="jaeger-victorialogs", **{**base, **urls})


def test_snapshot_reads_every_hop_where_the_lab_publishes_it() -> None:
    jaeger = {"__name__": "otelcol_receiver_accepted_spans_total", "job": "jaeger", "transport": "grpc"}
    prom_answers = {  # Jaeger's counter: its series over the lookback, the last scrape's value counts
        "jaeger": {"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": jaeger, "values": [[NOW - 2, "211"], [NOW, "213"]]}]}},
        "requests": {"status": "success", "data": {"resultType": "vector",
                                                   "result": [{"metric": {}, "value": [NOW, "20"]}]}},
    }

    def prometheus_reply(request) -> Reply:
        query = request.param("query") or ""
        return Reply(body=prom_answers["jaeger" if "jaeger" in query else "requests"])

    with fake_server() as app, fake_server() as col, fake_server() as logs, fake_server() as prom:
        app.route("GET", "/metrics", Reply(body=text("backend-metrics.txt")))
        col.route("GET", "/metrics", Reply(body=text("collector-store-down.txt")))
        logs.route("GET", "/metrics", Reply(body=text("victorialogs-metrics.txt")))
        prom.route("GET", "/api/v1/query", prometheus_reply)
        lab = SimpleNamespace(endpoints=endpoints(backend=app.url, collector_metrics=col.url, logs=logs.url,
                                                  prometheus=prom.url))
        s = hops.snapshot(lab)
        line = hops.explain(lab, "logs")
    assert s.problems == ()
    by_hop = s.hops()
    assert by_hop["logs"][STORE_RECEIVED] == 94.0 and by_hop["traces"][STORE_RECEIVED] == 213.0
    assert by_hop["logs"][QUEUE_SIZE] == 8.0 and by_hop["metrics"][PROMETHEUS_REQUESTS] == 20.0
    assert line.startswith("the app counted 20 requests; the collector accepted")
    assert "sent 94 to victorialogs, queue 8/1000; victorialogs received 94 log records" in line
    queries = [r.param("query") for r in prom.requests]
    assert any('job="jaeger"' in q and "otelcol_receiver_accepted_spans" in q for q in queries)


def test_explain_never_fails_when_nothing_answers() -> None:
    lab = SimpleNamespace(endpoints=endpoints())
    line = hops.explain(lab, "traces")
    assert "the app's counter is unreadable" in line and "collector counters unreadable" in line
    old = SimpleNamespace(endpoints=Endpoints(target="existing", stores="jaeger-victorialogs",
                                              **{k: "http://127.0.0.1:9" for k in (
                                                  "frontend", "backend", "prometheus", "traces", "logs",
                                                  "collector_health")}))
    assert "no collector_metrics endpoint" in hops.explain(old, "logs")


def test_movement_adds_the_pieces_around_a_restart() -> None:
    """before -> right before the restart -> after: each piece's movement, added (the restart costs
    only what moved between the last snapshot and the stop)."""
    before = snap("collector-healthy.txt", NOW)  # started NOW - 73.6
    right_before = snap("collector-send-failed.txt", NOW + 148.3)  # same process
    after = snap("collector-healthy.txt", NOW + 300)  # started NOW + 300 - 73.6: another process
    moved = hops.movement([after, before, right_before])  # any order
    logs = moved["logs"]
    assert logs[ACCEPTED] == (254.0 - 94.0) + 94.0
    assert logs[SEND_FAILED] == 52.0 + 0.0
    assert logs[COLLECTOR_RESTARTED] == 1.0
    assert logs[QUEUE_SIZE] == 0.0  # the last piece's gauge
    assert hops.movement([before]) == {"traces": {}, "logs": {}, "metrics": {}}


def test_a_counter_born_between_two_snapshots_moved_from_zero() -> None:
    """A fresh lab's collector has no span counters until its first span, and Jaeger's ingest
    counter is not in Prometheus until then: the first run's pieces count from 0, not from "unread"
    (seen on a fresh VM: 56 spans accepted against 161 sent)."""
    jaeger_unborn = hops.counter_not_born("jaeger", observes.STORE_KINDS["jaeger"].ingest_counter)
    before = PipelineSnapshot(taken_at=NOW, stores="jaeger-victorialogs",
                              collector=CollectorView("test", NOW - 60, accepted={"logs": 10.0}),
                              problems=(jaeger_unborn,))
    after = PipelineSnapshot(taken_at=NOW + 60, stores="jaeger-victorialogs",
                             collector=CollectorView("test", NOW - 60,
                                                     accepted={"traces": 161.0, "logs": 30.0}),
                             store={"traces": StoreView("jaeger", 161.0, "spans", "test")})
    moved = after.diff(before)
    assert moved["traces"][ACCEPTED] == 161.0 and moved["logs"][ACCEPTED] == 20.0
    assert moved["traces"][STORE_RECEIVED] == 161.0
    assert before.value("traces", ACCEPTED) == 0.0
    unread = PipelineSnapshot(taken_at=NOW, stores="jaeger-victorialogs",
                              problems=("collector counters unreadable",))
    assert unread.value("traces", ACCEPTED) is None and ACCEPTED not in after.diff(unread)["traces"]


def test_movement_bridges_a_snapshot_that_could_not_read_a_hop() -> None:
    """A scrape that timed out (a busy backend on a TCG VM) leaves one snapshot without Prometheus'
    count: the movement runs from the last snapshot that had it, so it costs nothing."""
    def at(t: float, prom: float | None) -> PipelineSnapshot:
        return PipelineSnapshot(taken_at=NOW + t, stores="jaeger-victorialogs", prometheus_requests=prom)

    moved = hops.movement([at(0, 10.0), at(20, None), at(40, None), at(60, 90.0), at(80, 90.0)])
    assert moved["metrics"][PROMETHEUS_REQUESTS] == 80.0
    assert PROMETHEUS_REQUESTS not in hops.movement([at(0, None), at(60, 90.0)])["metrics"]
