"""harness.drive.load (a bounded run over real HTTP, actions during it) and harness.checks.accounting (where a
loss is placed, the table, the budgets) — the acceptance path runs both against the lab
(features/accounting.feature); here the parts that need no lab."""

from __future__ import annotations

import dataclasses
import threading
import time
from types import SimpleNamespace

import pytest

from harness.checks import accounting
from harness.checks.accounting import Account, Accounting
from harness.clients.hops import (
    ACCEPTED,
    APP_ALL_REQUESTS,
    APP_REQUESTS,
    COLLECTOR_RESTARTED,
    PROMETHEUS_REQUESTS,
    REFUSED,
    SEND_FAILED,
    SENT,
    STORE_RECEIVED,
    PipelineSnapshot,
)
from harness.clients.model import Span, Trace
from harness.clients.tracecontext import parse_traceparent
from harness.drive import load
from harness.drive.load import LoadPlan, LoadRun, Sent
from harness.lab.targets.base import Endpoints
from tests.harness.fake_http import Reply, fake_server

DEAD = "http://127.0.0.1:9"  # the discard port: nothing listens


def lab_at(front: str, stores: str = "jaeger-victorialogs") -> SimpleNamespace:
    urls = dict(frontend=front, backend=DEAD, prometheus=DEAD, traces=DEAD, logs=DEAD, collector_health=DEAD,
                collector_metrics=DEAD)
    return SimpleNamespace(endpoints=Endpoints(target="docker", stores=stores, **urls),
                           config=SimpleNamespace(stores=stores))


# ------------------------------------------------------------------------------------------- load


@pytest.mark.parametrize(("rate", "duration", "message"), [
    (0, 10, "a load rate of 0 requests a second is out of range; use more than 0 and at most 100"),
    (500, 10, "a load rate of 500 requests a second is out of range"),
    (20, 0, "a load of 0 seconds is out of range"),
    (20, 3600, "a load of 3600 seconds is out of range; use more than 0 and at most 600"),
    (100, 200, "100/s for 200 s is 20000 requests; at most 10000 are sent in one run"),
])
def test_a_load_is_bounded(rate: float, duration: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LoadPlan(rate, duration)


def test_the_traffic_sends_at_its_rate_with_its_own_trace_ids_and_acts_during_it() -> None:
    seen: list[str] = []
    lock = threading.Lock()

    def answer(request) -> Reply:
        with lock:
            seen.append(request.headers.get("traceparent", ""))
        return Reply(body={"count": 0, "tasks": []})

    with fake_server() as front:
        front.route("GET", "/api/tasks", answer)
        traffic = load.Traffic(lab_at(front.url), LoadPlan(rate=40, duration=1.5)).start()
        acted = traffic.during("a pause", lambda: time.sleep(0.2))
        run = traffic.wait()
    assert len(run.requests) == 60 and not run.failures
    assert {r.trace_id for r in run.requests} == {parse_traceparent(h)[0] for h in seen}
    assert len({r.trace_id for r in run.requests}) == 60
    sends = sorted(r.at for r in run.requests)
    # paced at 40/s, not a burst; no upper bound: a busy host is slow, and how slow is for bench/
    assert sends[-1] - sends[0] >= 1.3, sends
    assert run.ended_at >= sends[-1]
    assert acted.at_request == 20 and acted.snapshot is not None
    assert acted.ended_at - acted.started_at >= 0.15
    assert [r.trace_id for r in run.requests if r.at < acted.started_at]  # traffic went on around it
    assert run.snapshots == [run.before, acted.snapshot, run.after]
    assert run.summary()["statuses"] == {"200": 60}


def test_a_stopped_traffic_sends_no_more_and_errors_are_recorded() -> None:
    with fake_server() as front:
        front.route("GET", "/api/tasks", Reply(502, {"error": "bad gateway"}))
        traffic = load.Traffic(lab_at(front.url), LoadPlan(rate=20, duration=30)).start()
        traffic.wait_for(5)
        traffic.stop()
        sent = traffic.sent
        time.sleep(0.3)
        assert traffic.sent == sent < 600
        run = traffic.wait()
    assert run.failures and all(r.status == 502 for r in run.failures)
    with pytest.raises(AssertionError, match=r"requests did not answer 200 \({'502': \d+}\)"):
        accounting.assert_every_request_succeeded(run)


def test_sentences_name_services_or_the_store_sets_stores() -> None:
    lab = lab_at(DEAD)
    assert load.service_named(lab, '"otel-collector"') == "otel-collector"
    assert load.service_named(lab, 'the "otel-collector" service') == "otel-collector"
    assert load.service_named(lab, "the trace store") == "jaeger"
    assert load.service_named(lab, "the log store") == "victorialogs"
    assert load.service_named(lab_at(DEAD, "tempo-loki"), "the trace store") == "tempo"
    with pytest.raises(Exception, match="'\"collector\"' names no service of the lab; use one of frontend"):
        load.service_named(lab, '"collector"')


# ------------------------------------------------------------------------------------- accounting


def span(name: str, span_id: str, parent: str | None, kind: str, **attributes) -> Span:
    return Span("a" * 32, span_id, parent, name, "flask-backend", kind, "unset", attributes)


def test_a_trace_counts_when_it_has_its_server_span_and_its_sql_span() -> None:
    server = span("GET /api/tasks", "1" * 16, None, "server",
                  **{"http.route": "/api/tasks", "http.request.method": "GET"})
    sql = span("SELECT tasks", "2" * 16, "1" * 16, "client", **{"db.system": "sqlite"})
    assert accounting.check_trace(Trace("a" * 32, (server, sql))) is None
    assert "no SQL span" in accounting.check_trace(Trace("a" * 32, (server,)))
    assert accounting.check_trace(None) == "not in the trace store"
    assert "no server span with service='flask-backend', kind='server', method='GET', route='/api/tasks'" \
        in accounting.check_trace(Trace("a" * 32, (sql,)))


def make(hops: dict[str, dict[str, float]], *, traces_found: int = 100, logs_found: int = 200,
         spans_found: int = 400, sent: int = 100) -> Accounting:
    t0 = 1_800_000_000.0
    requests = [Sent(i, f"{i:032x}", t0 + i * 0.1, 0.01, 200) for i in range(sent)]
    before = PipelineSnapshot(taken_at=t0, stores="jaeger-victorialogs")
    run = LoadRun(LoadPlan(10, sent / 10), t0, t0 + sent / 10, requests, [], before)
    missing = [r.trace_id for r in requests[traces_found:]]
    return Accounting(
        run,
        Account("traces", "traces", sent, traces_found, missing),
        Account("logs", "log records", 2 * sent, logs_found,
                [r.trace_id for r in requests[logs_found // 2:]]),
        Account("metrics", "requests", sent, int(hops.get("metrics", {}).get(PROMETHEUS_REQUESTS, sent))),
        {"traces": {}, "logs": {}, "metrics": {}, **hops}, spans_found, 4.0, 3.0)


def test_a_loss_is_placed_at_the_hop_whose_counters_fall_short() -> None:
    whole = {APP_REQUESTS: 100, ACCEPTED: 400, REFUSED: 0, SENT: 400, STORE_RECEIVED: 400}
    assert make({"traces": whole}).placement("traces") == "nothing lost"
    before = make({"traces": {**whole, ACCEPTED: 250, SENT: 250, STORE_RECEIVED: 250}}, traces_found=60,
                  spans_found=240)
    assert before.placement("traces") == ("app → collector: the collector took in 250 of ~400 spans "
                                          "(the app's SDK could not deliver the rest)")
    to_store = make({"traces": {**whole, SENT: 300, SEND_FAILED: 100, STORE_RECEIVED: 300}}, traces_found=75,
                    spans_found=300)
    assert to_store.placement("traces") == ("collector → store: 100 spans failed after the retries, "
                                            "0 found the sending queue full")
    in_store = make({"traces": whole}, traces_found=70, spans_found=280)
    assert in_store.placement("traces") == ("in the store: it took in 400 spans but answers with 280 of this "
                                            "run's (it lost what it held)")
    restarted = make({"traces": {**whole, COLLECTOR_RESTARTED: 1.0}})
    assert restarted.placement("traces") == "nothing lost (the collector restarted)"


def test_the_table_shows_sent_found_and_lost_per_signal_and_hop() -> None:
    acc = make({"traces": {APP_REQUESTS: 100, ACCEPTED: 400, REFUSED: 0, SENT: 400, STORE_RECEIVED: 400},
                "logs": {APP_REQUESTS: 100, APP_ALL_REQUESTS: 110, ACCEPTED: 220, SENT: 220,
                         STORE_RECEIVED: 220},
                "metrics": {APP_REQUESTS: 100, PROMETHEUS_REQUESTS: 100}}, logs_found=198)
    table = acc.table()
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["signal", "unit", "seen", "as"]
    assert lines[1].split() == ["traces", "traces", "by", "trace", "id", "100", "100",
                                "-", "-", "-", "-", "-", "-", "-", "-", "-", "100", "0"]
    assert "in flight at read" in lines[0] and "retried" in lines[0]
    assert lines[4].split()[-2:] == ["198", "-"] and lines[3].split()[-2:] == ["198", "2"]
    assert "logs: in the store: it took in 220 log records but answers with 198" in table
    with pytest.raises(AssertionError, match=r"2 of 200 log records \(1.00 %\) are missing, more than 0.1 %"):
        accounting.assert_missing_at_most(acc, "logs", 0.1)
    accounting.assert_missing_at_most(acc, "logs", 1.0)
    accounting.assert_missing_at_most(acc, "traces", 0)


def test_the_collector_budget_names_each_counter_that_moved() -> None:
    acc = make({"traces": {ACCEPTED: 400, REFUSED: 30, SENT: 400}, "logs": {SEND_FAILED: 5}})
    with pytest.raises(AssertionError, match="traces: 30 spans refused; logs: 5 log records failed to send"):
        accounting.assert_collector_clean(acc)
    accounting.assert_collector_clean(make({"traces": {ACCEPTED: 400, SENT: 400}}))


def test_missing_telemetry_must_sit_in_the_faults_window() -> None:
    acc = make({"traces": {}}, traces_found=90, logs_found=200)  # requests 90..99 (+9.0 s..+9.9 s) missing
    t0 = acc.run.started_at
    late = load.LoadAction("a restart", 80, started_at=t0 + 8.0, ended_at=t0 + 8.5)
    accounting.assert_missing_only_around(acc, late, margin=2.0)
    early = load.LoadAction("a restart", 20, started_at=t0 + 2.0, ended_at=t0 + 3.0)
    outside = (r"10 requests in flight only outside a restart \(\+2.0s to \+3.0s, ± 2 s\) lack telemetry; "
               r"first: \['0+5a sent at \+9.0s, answered after 0.0s'")
    with pytest.raises(AssertionError, match=outside):
        accounting.assert_missing_only_around(acc, early, margin=2.0)


def test_a_request_sent_before_the_fault_and_answered_during_it_is_within_its_window() -> None:
    """A slow lab (a TCG VM) answers seconds after the request: its spans end, and are lost, in the
    fault even though it was sent before the margin."""
    acc = make({"traces": {}}, traces_found=90, logs_found=200)  # requests 90..99 (+9.0 s..+9.9 s)
    t0 = acc.run.started_at
    slow = [dataclasses.replace(r, seconds=6.0) if r.index >= 90 else r for r in acc.run.requests]
    acc = dataclasses.replace(acc, run=dataclasses.replace(acc.run, requests=slow))
    fault = load.LoadAction("a cut", 150, started_at=t0 + 16.0, ended_at=t0 + 40.0)
    accounting.assert_missing_only_around(acc, fault, margin=1.0)  # answered at +15.0 s..+15.9 s
    later = load.LoadAction("a cut", 150, started_at=t0 + 17.5, ended_at=t0 + 40.0)
    with pytest.raises(AssertionError, match=r"in flight only outside a cut .* answered after 6.0s"):
        accounting.assert_missing_only_around(acc, later, margin=1.0)


def test_a_fault_that_took_effect_after_the_traffic_is_an_error_not_a_pass() -> None:
    def slow_to_set_up() -> SimpleNamespace:
        time.sleep(1.0)  # a busy VM over ssh
        now = time.time()
        return SimpleNamespace(in_effect=(now, now + 0.1))

    with fake_server() as front:
        front.route("GET", "/api/tasks", Reply(body={"count": 0, "tasks": []}))
        traffic = load.Traffic(lab_at(front.url), LoadPlan(rate=20, duration=0.5)).start()
        late = r"took effect only after the traffic had ended .*make the traffic longer"
        with pytest.raises(Exception, match=late):
            traffic.during("a slow fault", slow_to_set_up)
        assert traffic.actions[0].in_effect is not None
        traffic.wait()
