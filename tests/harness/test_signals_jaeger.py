"""JaegerTraceStore against a real local HTTP server answering Jaeger query-service JSON
(fixtures/signals/jaeger, sources in fixtures/signals/README.md)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests

from harness.base import evidence
from harness.clients.base import SignalError
from harness.clients.jaeger import JaegerTraceStore, parse_jaeger_trace
from harness.clients.model import Span
from tests.harness.fake_http import Reply, signal_doc

FIX = Path(__file__).parent / "fixtures" / "signals" / "jaeger"
LAB_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
ERROR_TRACE = "0af7651916cd43dd8448eb211c80319c"


def doc(name: str) -> Any:
    return signal_doc("jaeger", name)



@pytest.fixture
def jaeger(server) -> JaegerTraceStore:
    return JaegerTraceStore(server.url)


def test_lab_trace_spans_parents_kinds_and_attributes(server, jaeger):
    server.route("GET", f"/api/traces/{LAB_TRACE}", Reply(body=doc("trace_lab_create_task.json")))
    trace = jaeger.get_trace(LAB_TRACE.upper())  # ids are normalised to lowercase
    assert trace is not None and trace.trace_id == LAB_TRACE
    assert trace.spans == (
        Span(trace_id=LAB_TRACE, span_id="b7ad6b7169203331", parent_span_id="00f067aa0ba902b7",
             name="POST /api/tasks", service="flask-backend", kind="server", status="unset",
             attributes={"http.request.method": "POST", "http.route": "/api/tasks",
                         "http.response.status_code": 201},
             start_ns=1700000000000000000, duration_ns=12_500_000),
        Span(trace_id=LAB_TRACE, span_id="5fb397be34d26b51", parent_span_id="b7ad6b7169203331",
             name="create_task", service="flask-backend", kind="internal", status="unset",
             attributes={"task.title": "buy milk", "task.id": 42},
             start_ns=1700000000001000000, duration_ns=9_000_000),
        Span(trace_id=LAB_TRACE, span_id="2a1b3c4d5e6f7081", parent_span_id="5fb397be34d26b51",
             name="INSERT taskdb", service="flask-backend", kind="client", status="unset",
             attributes={"db.system": "postgresql", "db.statement": "INSERT INTO tasks (title, description) "
                         "VALUES (%(title)s, %(description)s) RETURNING tasks.id"},
             start_ns=1700000000002000000, duration_ns=3_000_000),
    )
    [server_span] = trace.server_spans()
    [manual] = trace.named("create_task")
    assert trace.children_of(server_span) == [manual]
    assert [s.name for s in trace.descendants_of(server_span)] == ["create_task", "INSERT taskdb"]
    assert server.last().path == f"/api/traces/{LAB_TRACE}"


def test_error_status_from_otel_status_code_and_error_tag(server, jaeger):
    server.route("GET", f"/api/traces/{ERROR_TRACE}", Reply(body=doc("trace_lab_error.json")))
    trace = jaeger.get_trace(ERROR_TRACE)
    assert [(s.name, s.kind, s.status) for s in trace.spans] == [
        ("GET /api/simulate-error", "server", "error"),
        ("simulate_error", "internal", "error"),
        ("health", "server", "ok"),
    ]
    # the synthetic tags of the OTLP translation are not attributes
    assert trace.spans[0].attributes == {"http.request.method": "GET", "http.response.status_code": 500}
    assert trace.spans[0].parent_span_id is None


def test_jaeger_model_fixture_references_processes_and_tag_types(server, jaeger):
    server.route("GET", "/api/traces/00000000000000000000000000000001", Reply(body=doc("trace_ui_01.json")))
    trace = jaeger.get_trace("1")
    by_name = {}
    for span in trace.spans:
        by_name.setdefault(span.name, []).append(span)
    assert trace.trace_id == "00000000000000000000000000000001"
    # CHILD_OF in the same trace is the parent; a CHILD_OF into another trace is not
    [ref_test] = by_name["reference-test"]
    assert (ref_test.span_id, ref_test.parent_span_id, ref_test.service) == (
        "0000000000000004", "0000000000000002", "service-y")
    [preserve] = by_name["preserveParentID-test"]
    assert preserve.parent_span_id == "0000000000000004" and preserve.duration_ns == 4000
    tagged = next(s for s in by_name["some-operation"] if s.service == "service-x")
    assert tagged.status == "error"  # error=true
    assert tagged.attributes == {"peer.service": "service-y", "peer.ipv4": 23456, "temperature": 72.5,
                                 "blob": "AAAwOQ=="}
    assert tagged.kind == "unspecified" and tagged.start_ns == 1485467191639875000


def test_not_found_is_none(server, jaeger):
    server.route("GET", f"/api/traces/{LAB_TRACE}", Reply(404, doc("trace_not_found.json")))
    with evidence.capture() as log:
        assert jaeger.get_trace(LAB_TRACE) is None
    assert any(e.kind == "trace" and e.detail == {"found": False} for e in log.items)


def test_empty_data_is_none(server, jaeger):
    server.route("GET", f"/api/traces/{LAB_TRACE}", Reply(body={"data": [], "errors": None}))
    assert jaeger.get_trace(LAB_TRACE) is None


def test_server_error_raises_with_body(server, jaeger):
    body = {"data": None, "errors": [{"code": 500, "msg": "storage unavailable"}]}
    server.route("GET", f"/api/traces/{LAB_TRACE}", Reply(500, body))
    with pytest.raises(SignalError, match=r"HTTP 500.*storage unavailable"):
        jaeger.get_trace(LAB_TRACE)


def test_invalid_trace_id_is_refused_before_asking():
    with pytest.raises(ValueError):
        JaegerTraceStore("http://127.0.0.1:9").get_trace("not-a-trace-id")


def test_search_sends_service_window_and_limit_and_sorts_newest_first(server, jaeger):
    server.route("GET", "/api/traces", Reply(body=doc("search.json")))
    ids = jaeger.search("flask-backend", limit=2, lookback_s=600)
    assert ids == ["2" * 32, "3" * 32]
    sent = server.last("/api/traces")
    assert (sent.param("service"), sent.param("limit"), sent.param("lookback")) == (
        "flask-backend", "2", "600s")
    start, end = int(sent.param("start")), int(sent.param("end"))
    assert end - start == 600_000_000 and abs(end / 1e6 - time.time()) < 5  # microseconds


def test_services_and_ready(server, jaeger):
    server.route("GET", "/api/services", Reply(body=doc("services.json")))
    assert jaeger.services() == ["flask-backend", "jaeger"]
    assert jaeger.ready() is True
    assert JaegerTraceStore("http://127.0.0.1:9").ready() is False


def test_api_v3_otlp_json(server):
    server.route("GET", f"/api/v3/traces/{LAB_TRACE}", Reply(body=doc("v3_trace.json")))
    trace = JaegerTraceStore(server.url, api="v3").get_trace(LAB_TRACE)
    assert [(s.name, s.kind, s.status, s.parent_span_id, s.service) for s in trace.spans] == [
        ("POST /api/tasks", "server", "unset", "00f067aa0ba902b7", "flask-backend"),
        ("create_task", "internal", "error", "b7ad6b7169203331", "flask-backend"),
    ]
    assert trace.spans[0].attributes == {"http.response.status_code": 201}  # no @jaeger@warnings
    assert trace.spans[0].duration_ns == 12_500_000


def test_api_v3_not_found(server):
    server.route("GET", f"/api/v3/traces/{LAB_TRACE}", Reply(404, doc("v3_not_found.json")))
    assert JaegerTraceStore(server.url, api="v3").get_trace(LAB_TRACE) is None


def test_timeout_is_honoured(server, monkeypatch):
    monkeypatch.delenv("LAB_TIMEOUT_SCALE", raising=False)
    server.route("GET", f"/api/traces/{LAB_TRACE}", Reply(body=doc("trace_lab_create_task.json"), delay=2))
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        JaegerTraceStore(server.url, timeout=0.3).get_trace(LAB_TRACE)
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize(("tags", "status"), [
    ([{"key": "otel.status_code", "type": "string", "value": "ERROR"}], "error"),
    ([{"key": "error", "type": "bool", "value": True}], "error"),
    ([{"key": "error", "type": "string", "value": "true"}], "error"),
    ([{"key": "otel.status_code", "type": "string", "value": "OK"}], "ok"),
    ([], "unset"),
])
def test_status_mapping(tags, status):
    data = {"spans": [{"traceID": LAB_TRACE, "spanID": "1", "operationName": "x", "references": [],
                       "startTime": 1, "duration": 1, "tags": tags, "processID": "p1"}],
            "processes": {"p1": {"serviceName": "s"}}}
    [span] = parse_jaeger_trace(data)
    assert span.status == status and "error" not in span.attributes
