"""Near misses: for every Then step sharpened by issue 22, an answer that is almost right — the lab's
own recorded answer with one thing wrong — does not satisfy it, and the answer that is right does.

Each near miss first shows that it would have satisfied the old, looser matcher (so the test fails
when a check is loosened back), then that the check refuses it, saying what is wrong. The answers
come from tests/harness/fixtures/checks/ (recorded from a lab; README there) through the real store
clients, served by a real HTTP server.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.base.waiting import GiveUp, WaitTimeout
from harness.checks import histograms, logs, metrics, services, slis, traces
from harness.clients.jaeger import JaegerTraceStore
from harness.clients.victorialogs import VictoriaLogsStore
from harness.lab.engine import ServiceState
from tests.harness.fake_http import FakeServer, Reply
from tests.harness.test_checks_vocabulary import lab_with, vector

FIXTURES = Path(__file__).parent / "fixtures" / "checks"
TID = "4bf92f3577b34da6a3ce929d0e0e4999"  # the recorded error request
SHORT = 1.2  # seconds: a wait that must not be satisfied
ERROR_ROUTE = ("GET", "/api/simulate-error")
APP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)


# ------------------------------------------------------------------------------------------ logs

def recorded_records() -> dict[str, dict[str, Any]]:
    lines = (FIXTURES / "victorialogs-error-request.jsonl").read_text().splitlines()
    return {entry["_msg"]: entry for entry in map(json.loads, lines)}


def log_lab(server: FakeServer, *entries: dict[str, Any]) -> Any:
    """VictoriaLogs answering ``entries`` (as JSON lines) to every query."""
    server.route("GET", "/select/logsql/query", Reply(body="\n".join(json.dumps(e) for e in entries)))
    return lab_with(logs=VictoriaLogsStore(server.url))


def error_record(lab: Any, timeout: float = SHORT) -> Any:
    return logs.error_record(lab, TID, text="Simulated error", severity="ERROR", error_type="SimulatedError",
                             timeout=timeout)


def test_the_errors_own_record_satisfies_the_step(server: FakeServer) -> None:
    record = error_record(log_lab(server, recorded_records()["Simulated error"]), timeout=5)
    assert record.body == "Simulated error" and record.severity == "ERROR"
    assert logs.attribute(record, "error.type") == "SimulatedError"
    query = server.last("/select/logsql/query").param("query")
    assert f'"trace_id":="{TID}"' in query and '"Simulated error"' in query


def test_the_request_completed_error_record_is_not_the_errors_own_record(server: FakeServer) -> None:
    """Issue 22: with the error's record gone to WARN, the request's own "Request completed"
    record of the 500 — at ERROR, with the trace id — satisfied "an ERROR record of the trace"."""
    records = recorded_records()
    lab = log_lab(server, records["Incoming request"], records["Request completed"])
    completed = lab.logs.query("flask-backend", trace_id=TID)[0]
    assert (completed.body, completed.severity, completed.trace_id) == ("Request completed", "ERROR", TID)
    with pytest.raises(WaitTimeout, match=r"no log record with service='flask-backend', trace_id='4bf9\w+', "
                                          r"body='Simulated error' among 2"):
        error_record(lab)


def test_the_errors_record_at_warn_is_refused_at_once(server: FakeServer) -> None:
    entry = {**recorded_records()["Simulated error"], "severity_text": "WARN", "severity_number": "13"}
    with pytest.raises(GiveUp, match=r"the app's 'Simulated error' record of trace 4bf9\w+ is not what an "
                                     r"error search finds: its severity is WARN, not ERROR; logs by hop"):
        error_record(log_lab(server, entry), timeout=30)


def test_the_errors_record_without_error_type_is_refused(server: FakeServer) -> None:
    """What OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT=6 does to the record: the oldest attribute goes."""
    entry = {k: v for k, v in recorded_records()["Simulated error"].items() if k != "error.type"}
    with pytest.raises(GiveUp, match=r"error.type is None, not 'SimulatedError'"):
        error_record(log_lab(server, entry), timeout=30)


def test_the_errors_record_without_its_exception_is_refused(server: FakeServer) -> None:
    entry = {k: v for k, v in recorded_records()["Simulated error"].items() if not k.startswith("exception.")}
    with pytest.raises(GiveUp, match=r"exception.type is None, not 'SimulatedError'; exception.message is "
                                     r"missing; exception.stacktrace is missing"):
        error_record(log_lab(server, entry), timeout=30)


def test_a_record_that_only_contains_the_message_is_not_it(server: FakeServer) -> None:
    entry = {**recorded_records()["Incoming request"], "_msg": "Incoming request (retried)"}
    lab = log_lab(server, entry)
    assert "Incoming request" in lab.logs.query("flask-backend", trace_id=TID)[0].body  # the old `in`
    with pytest.raises(WaitTimeout, match=r"no log record with .*body='Incoming request' among 1"):
        logs.log_records(lab, TID, text="Incoming request", timeout=SHORT)


def test_loki_keeps_the_errors_attributes_with_underscores() -> None:
    record = SimpleNamespace(attributes={"error_type": "SimulatedError"})
    assert logs.attribute(record, "error.type") == "SimulatedError"  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------- traces

def recorded_trace() -> dict[str, Any]:
    return json.loads((FIXTURES / "jaeger-error-trace.json").read_text())


def trace_lab(server: FakeServer, body: dict[str, Any]) -> Any:
    server.route("GET", f"/api/traces/{TID}", Reply(body=body))
    return lab_with(traces=JaegerTraceStore(server.url))


def server_raw(body: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in body["data"][0]["spans"] if s["operationName"] == "GET /api/simulate-error")


def set_tag(raw: dict[str, Any], key: str, value: Any) -> None:
    raw["tags"] = [t for t in raw["tags"] if t["key"] != key]
    raw["tags"].append({"key": key, "type": "string", "value": value})


def test_the_error_trace_has_its_server_span_and_manual_span_in_error(server: FakeServer) -> None:
    spans = traces.trace_satisfies(trace_lab(server, recorded_trace()), TID,
                                   lambda t: traces.in_error(t, ERROR_ROUTE, ["simulate_error"]), timeout=5)
    assert [(s.name, s.kind, s.status) for s in spans] == [
        ("GET /api/simulate-error", "server", "error"), ("simulate_error", "internal", "error")]


def test_an_error_only_somewhere_in_the_trace_is_not_the_server_spans(server: FakeServer) -> None:
    body = recorded_trace()
    raw = server_raw(body)
    raw["tags"] = [t for t in raw["tags"] if t["key"] not in ("error", "otel.status_code")]
    lab = trace_lab(server, body)
    assert any(s.status == "error" for s in lab.traces.get_trace(TID).spans)  # the old "a span with error"
    with pytest.raises(GiveUp, match=r"not in error status: GET /api/simulate-error \[server\] is unset"):
        traces.trace_satisfies(lab, TID, lambda t: traces.in_error(t, ERROR_ROUTE, ["simulate_error"]),
                               timeout=30)


@pytest.mark.parametrize(("tag", "value", "why"), [
    ("http.route", "/api/simulate-slow", "the span's name says the operation; its route does not"),
    ("span.kind", "internal", "a span of that name that is no server span"),
    ("http.method", "POST", "another method on that route"),
])
def test_a_span_named_like_the_operation_is_not_its_server_span(server: FakeServer, tag: str, value: str,
                                                                 why: str) -> None:
    body = recorded_trace()
    set_tag(server_raw(body), tag, value)
    lab = trace_lab(server, body)
    assert lab.traces.get_trace(TID).named("GET /api/simulate-error"), "the old name match finds it"
    with pytest.raises(WaitTimeout, match=r"no server span with service='flask-backend', kind='server', "
                                          r"method='GET', route='/api/simulate-error'"):
        traces.trace_satisfies(lab, TID, lambda t: traces.server_span(t, *ERROR_ROUTE), timeout=SHORT)


# --------------------------------------------------------------------------------------- metrics

def buckets_answer(bounds: tuple[float, ...], counts: dict[float, int], endpoint: str = "simulate_slow",
                   ) -> Reply:
    """``sum by (endpoint, le)`` of a histogram with these bounds and cumulative ``counts``."""
    les = [*bounds, math.inf]
    running, rows = 0, []
    for le in les:
        running = counts.get(le, running)
        rows.append(({"endpoint": endpoint, "le": "+Inf" if math.isinf(le) else repr(le)}, str(running)))
    return Reply(body=vector(*rows))


COARSE = (1.0, 15.0)


def snapshot(bounds: tuple[float, ...], counts: dict[float, int]) -> dict[str, dict[float, float]]:
    running, out = 0, {}
    for le in (*bounds, math.inf):
        running = counts.get(le, running)
        out[le] = float(running)
    return {"simulate_slow": out}


def test_the_slow_request_in_its_bucket_satisfies_the_step(server: FakeServer) -> None:
    before = snapshot(APP_BUCKETS, {1.0: 3})  # three fast requests earlier
    server.route("GET", "/api/v1/query", buckets_answer(APP_BUCKETS, {1.0: 3, 2.5: 4}))
    assert histograms.request_in_bucket(lab_with(server), "simulate_slow", 1.0, 2.5, before, timeout=5) == 1


def test_a_slow_request_with_buckets_cut_to_1_and_15_seconds_is_refused(server: FakeServer) -> None:
    """Issue 22: the 1.2 s request lands in (1, 15]: "slower than 1 second" holds, yet the
    histogram cannot say it took at most 2.5 s — nor judge the 500 ms SLO."""
    before = snapshot(COARSE, {1.0: 3})
    server.route("GET", "/api/v1/query", buckets_answer(COARSE, {1.0: 3, 15.0: 4}))
    now = histograms.histogram_buckets(lab_with(server), histograms.LATENCY, "endpoint")["simulate_slow"]
    assert now[math.inf] - now[1.0] == before["simulate_slow"][math.inf] - before["simulate_slow"][1.0] + 1
    with pytest.raises(GiveUp, match=r"no bucket bound at 2.5 s \(its bounds: 1, 15, inf\): it cannot tell "
                                     r"whether a request took at most 2.5 s; metrics by hop"):
        histograms.request_in_bucket(lab_with(server), "simulate_slow", 1.0, 2.5, before, timeout=30)


def test_a_slow_request_counted_in_another_bucket_or_twice_is_refused(server: FakeServer) -> None:
    before = snapshot(APP_BUCKETS, {1.0: 3})
    server.route("GET", "/api/v1/query", buckets_answer(APP_BUCKETS, {1.0: 3, 2.5: 3, 5.0: 4}))
    with pytest.raises(GiveUp, match=r"counted outside \(1 s, 2.5 s\]: \['le=5: 3→4', 'le=10: 3→4', "):
        histograms.request_in_bucket(lab_with(server), "simulate_slow", 1.0, 2.5, before, timeout=30)
    server.route("GET", "/api/v1/query", buckets_answer(APP_BUCKETS, {1.0: 3, 2.5: 5}))
    with pytest.raises(GiveUp, match=r"2 more simulate_slow requests in \(1 s, 2.5 s\], not one"):
        histograms.request_in_bucket(lab_with(server), "simulate_slow", 1.0, 2.5, before, timeout=30)


def recorded_rules() -> list[dict[str, Any]]:
    body = json.loads((FIXTURES / "prometheus-rules.json").read_text())
    return [rule for group in body["data"]["groups"] for rule in group["rules"]]


def test_the_latency_slo_thresholds_come_from_the_alerts_prometheus_loaded() -> None:
    rules = recorded_rules()
    assert slis.latency_thresholds(rules, histograms.LATENCY) == {"TaskManagerLatencySLOBreached": 0.5}
    unlabelled = [{**r, "labels": {}} if r.get("type") == "alerting" else r for r in rules]
    assert slis.latency_thresholds(unlabelled, histograms.LATENCY) == {}
    odd = [{**r, "query": "sli:latency_p95:seconds_rate5m > bool 0.5"}
           if r.get("name") == "TaskManagerLatencySLOBreached" else r for r in rules]
    with pytest.raises(GiveUp, match="TaskManagerLatencySLOBreached does not read '<SLI> > <seconds>'"):
        slis.latency_thresholds(odd, histograms.LATENCY)
    other = [{**r, "query": "sli:requests:rate5m > 0.5"}
             if r.get("name") == "TaskManagerLatencySLOBreached" else r for r in rules]
    with pytest.raises(GiveUp, match="compares sli:requests:rate5m, which is not recorded from "):
        slis.latency_thresholds(other, histograms.LATENCY)


def bounds_answer(bounds: tuple[float, ...]) -> Reply:
    rows = [({"endpoint": e, "le": repr(le)}, "1") for e in ("create_task", "simulate_slow") for le in bounds]
    return Reply(body=vector(*rows, ({"endpoint": "create_task", "le": "+Inf"}, "1")))


def test_buckets_without_a_bound_at_the_slo_threshold_are_refused(server: FakeServer) -> None:
    thresholds = {"TaskManagerLatencySLOBreached": 0.5}
    server.route("GET", "/api/v1/query", bounds_answer(APP_BUCKETS))
    found = histograms.bounds_include(lab_with(server), histograms.LATENCY, thresholds, timeout=5)
    assert 0.5 in found["simulate_slow"]
    server.route("GET", "/api/v1/query", bounds_answer(COARSE))
    refused = (r"no bucket bound at the threshold of \{'TaskManagerLatencySLOBreached': '0.5 s'\} "
               r"\(the app's bounds: 1, 15.*by arithmetic, not by latency")
    with pytest.raises(GiveUp, match=refused):
        histograms.bounds_include(lab_with(server), histograms.LATENCY, thresholds, timeout=30)


def test_a_counter_whose_endpoint_label_was_dropped_is_named_as_such(server: FakeServer) -> None:
    labels = {"__name__": "http_requests_total", "instance": "backend:5000", "job": "flask-backend",
              "method": "POST", "status_code": "201"}
    server.route("GET", "/api/v1/query", Reply(body=vector((labels, "5"))))
    refused = (r"has series of http_requests_total, none of endpoint='create_task': the app labels them "
               r"\[\('__name__', 'instance', 'job', 'method', 'status_code'\)\]")
    with pytest.raises(GiveUp, match=refused):
        metrics.noted_requests(lab_with(server), "create_task", timeout=30)


def exemplars_answer(endpoint: str, value: str, le: str) -> Reply:
    series = {"__name__": "http_request_duration_seconds_bucket", "endpoint": endpoint, "le": le}
    return Reply(body={"status": "success", "data": [{"seriesLabels": series, "exemplars": [
        {"labels": {"trace_id": TID}, "value": value, "timestamp": 1700000000.1}]}]})


def test_an_exemplar_on_another_endpoints_series_is_not_it(server: FakeServer) -> None:
    server.route("GET", "/api/v1/query_exemplars", exemplars_answer("create_task", "0.004", "0.005"))
    assert histograms.exemplar_for_trace(lab_with(server), histograms.LATENCY, "create_task", TID, timeout=5)
    server.route("GET", "/api/v1/query_exemplars", exemplars_answer("get_all_tasks", "0.004", "0.005"))
    with pytest.raises(WaitTimeout, match=r"no exemplar with .*endpoint='create_task'.* among 1"):
        histograms.exemplar_for_trace(lab_with(server), histograms.LATENCY, "create_task", TID, timeout=SHORT)
    server.route("GET", "/api/v1/query_exemplars", exemplars_answer("create_task", "0.04", "0.005"))
    with pytest.raises(GiveUp, match=r"\(0.04 s\) sits in the bucket le=0.005"):
        histograms.exemplar_for_trace(lab_with(server), histograms.LATENCY, "create_task", TID, timeout=30)


def test_database_samples_from_earlier_traffic_are_not_the_smoke_tests(server: FakeServer) -> None:
    before = {"SELECT": 40.0, "INSERT": 9.0, "UPDATE": 2.0, "DELETE": 1.0}
    rows = [({"operation": op}, str(n)) for op, n in before.items()]
    server.route("GET", "/api/v1/query", Reply(body=vector(*rows)))
    with pytest.raises(WaitTimeout, match=r"no new db_query_duration_seconds samples for \['SELECT', "):
        histograms.db_operations_grew(lab_with(server), list(before), before, timeout=SHORT)
    grown = [({"operation": op}, str(n + 8)) for op, n in before.items()]
    server.route("GET", "/api/v1/query", Reply(body=vector(*grown)))
    assert histograms.db_operations_grew(lab_with(server), list(before), before, timeout=5)["SELECT"] == 48


def test_a_p95_moved_only_by_fast_errors_does_not_rise_above_the_slo(server: FakeServer) -> None:
    """The scenario's ten fast errors lift the p95 from "no data" before its slow requests count."""
    server.route("GET", "/api/v1/query", Reply(body=vector(({}, "0.0048"))))
    noted = {"p95 latency": math.nan}
    assert slis.sli_rises(lab_with(server), "p95 latency", noted, timeout=5) == 0.0048  # the old "rises"
    with pytest.raises(WaitTimeout, match=r"to rise above 0.5 \(it had no data\); last seen: .* = 0.0048"):
        slis.sli_rises(lab_with(server), "p95 latency", noted, above=0.5, timeout=SHORT)


def test_a_service_of_the_store_set_missing_is_not_healthy() -> None:
    running = {s: ServiceState("running") for s in ("frontend", "backend", "otel-collector", "prometheus",
                                                    "jaeger")}
    lab = lab_with(target=SimpleNamespace(status=lambda: running),
                   config=SimpleNamespace(stores="jaeger-victorialogs"))
    with pytest.raises(WaitTimeout, match=r"missing: \['victorialogs'\]"):
        services.services_healthy(lab, timeout=SHORT)


def test_a_redeploy_compared_over_no_container_proves_nothing() -> None:
    assert services.containers_recreated({}, {}) == {}  # the old step's comparison
    with pytest.raises(AssertionError, match="compared over none proves nothing"):
        services.none_recreated({}, {})
    services.none_recreated({"backend": "a1"}, {"backend": "a1"})


def test_near_misses_are_the_recorded_answers_with_one_thing_changed() -> None:
    """The fixtures hold what the lab answered: each near miss above differs from them in one field."""
    records = recorded_records()
    assert set(records) == {"Incoming request", "Simulated error", "Request completed"}
    trace = copy.deepcopy(recorded_trace())
    assert {s["operationName"] for s in trace["data"][0]["spans"]} == {"GET /api/simulate-error",
                                                                      "simulate_error"}


def test_a_recording_rule_whose_value_is_no_data_has_no_value(server: FakeServer) -> None:
    rules = {"status": "success", "data": {"groups": [{"name": "sli", "rules": [
        {"name": "sli:latency_p95:seconds_rate1m", "type": "recording", "query": "histogram_quantile(…)"}]}]}}
    server.route("GET", "/api/v1/rules", Reply(body=rules))
    server.route("GET", "/api/v1/query", Reply(body=vector(({}, "NaN"))))
    assert lab_with(server).prometheus.query("sli:latency_p95:seconds_rate1m"), "the old check: a series"
    with pytest.raises(WaitTimeout, match=r"rules without values: \['sli:latency_p95:seconds_rate1m'\]"):
        slis.recording_rules_have_values(lab_with(server), timeout=SHORT)
    server.route("GET", "/api/v1/query", Reply(body=vector(({}, "0.012"))))
    assert slis.recording_rules_have_values(lab_with(server), timeout=5) == ["sli:latency_p95:seconds_rate1m"]
