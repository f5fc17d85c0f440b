"""TempoTraceStore against a real local HTTP server answering Tempo API shapes
(fixtures/signals/tempo: answers captured from Tempo 2.10.8 and documentation-shaped ones; sources
in fixtures/signals/README.md)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from harness.clients.base import SignalError
from harness.clients.model import Span
from harness.clients.tempo import TempoTraceStore
from tests.harness.fake_http import Reply, signal_doc

FIX = Path(__file__).parent / "fixtures" / "signals" / "tempo"
LAB_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
EXAMPLE_TRACE = "5b8efff798038103d269b633813fc60c"
CAPTURED_CREATE = "0af7651916cd43dd8448eb211c80319c"
CAPTURED_ERROR = "000000000000000000e9329d67b6146a"


def doc(name: str) -> Any:
    return signal_doc("tempo", name)



def test_v2_trace_with_base64_ids(server):
    server.route("GET", f"/api/v2/traces/{LAB_TRACE}", Reply(body=doc("trace_v2_lab.json")))
    trace = TempoTraceStore(server.url).get_trace(LAB_TRACE)
    assert trace.spans == (
        Span(trace_id=LAB_TRACE, span_id="b7ad6b7169203331", parent_span_id="00f067aa0ba902b7",
             name="POST /api/tasks", service="flask-backend", kind="server", status="unset",
             attributes={"http.request.method": "POST", "http.route": "/api/tasks",
                         "http.response.status_code": 201},
             start_ns=1700000000000000000, duration_ns=12_500_000),
        Span(trace_id=LAB_TRACE, span_id="5fb397be34d26b51", parent_span_id="b7ad6b7169203331",
             name="create_task", service="flask-backend", kind="internal", status="error",
             attributes={"task.title": "buy milk", "task.id": 42, "task.completed": False},
             start_ns=1700000000001000000, duration_ns=9_000_000),
        Span(trace_id=LAB_TRACE, span_id="2a1b3c4d5e6f7081", parent_span_id="5fb397be34d26b51",
             name="INSERT taskdb", service="flask-backend", kind="client", status="ok",
             attributes={"db.system": "postgresql", "db.duration": 0.003},
             start_ns=1700000000002000000, duration_ns=3_000_000),
    )
    assert [r.path for r in server.requests] == [f"/api/v2/traces/{LAB_TRACE}"]


def test_v1_batches_from_the_otlp_example(server):
    server.route("GET", f"/api/traces/{EXAMPLE_TRACE}", Reply(body=doc("trace_v1_otlp_example.json")))
    trace = TempoTraceStore(server.url, api="v1").get_trace(EXAMPLE_TRACE)
    [span] = trace.spans
    assert (span.span_id, span.parent_span_id, span.name, span.kind, span.status, span.service) == (
        "eee19b7ec3c1b174", "eee19b7ec3c1b173", "I'm a server span", "server", "unset", "my.service")
    assert span.attributes == {"my.span.attr": "some value"} and span.duration_ns == 1_000_000_000


def test_auto_falls_back_to_v1_on_an_older_tempo(server):
    server.route("GET", f"/api/traces/{EXAMPLE_TRACE}", Reply(body=doc("trace_v1_otlp_example.json")))
    store = TempoTraceStore(server.url)  # v2 is not routed: the fake answers "404 page not found"
    assert store.get_trace(EXAMPLE_TRACE) is not None
    assert store.api == "v1"
    assert [r.path for r in server.requests] == [
        f"/api/v2/traces/{EXAMPLE_TRACE}", f"/api/traces/{EXAMPLE_TRACE}"]
    store.get_trace(EXAMPLE_TRACE)
    assert server.requests[-1].path == f"/api/traces/{EXAMPLE_TRACE}"


def test_v2_missing_trace_is_200_with_an_empty_trace(server):
    """Tempo 2.10.8 answers a trace it does not have with 200 {"trace":{},"metrics":{}}."""
    body = (FIX / "trace_v2_not_found.json").read_text()
    assert json.loads(body) == {"trace": {}, "metrics": {}}
    json_type = {"Content-Type": "application/json"}
    server.route("GET", f"/api/v2/traces/{LAB_TRACE}", Reply(body=body, headers=json_type))
    store = TempoTraceStore(server.url)
    assert store.get_trace(LAB_TRACE) is None
    assert store.api == "auto" and len(server.requests) == 1  # no fallback to v1


def test_v1_missing_trace_is_a_bodiless_404(server):
    server.route("GET", f"/api/traces/{LAB_TRACE}", Reply(404, b""))
    store = TempoTraceStore(server.url, api="v1")
    assert store.get_trace(LAB_TRACE) is None
    assert store.api == "v1" and len(server.requests) == 1


def test_captured_complete_trace_has_metrics_and_no_status(server):
    body = doc("trace_v2_captured_create_task.json")
    assert "status" not in body and set(body["metrics"]) == {"inspectedBytes"}
    server.route("GET", f"/api/v2/traces/{CAPTURED_CREATE}", Reply(body=body))
    trace = TempoTraceStore(server.url).get_trace(CAPTURED_CREATE)
    by_name = {s.name: s for s in trace.spans}
    server_span, create = by_name["POST /api/tasks"], by_name["create_task"]
    assert (server_span.kind, server_span.parent_span_id) == ("server", "b7ad6b7169203331")  # the caller's
    assert create.parent_span_id == server_span.span_id and create.kind == "internal"
    assert {s.kind for s in trace.descendants_of(create)} == {"client"}
    assert {s.service for s in trace.spans} == {"flask-backend"}
    assert server_span.attributes["http.status_code"] == 201
    assert all(s.status == "unset" for s in trace.spans)


def test_captured_error_trace_with_leading_zero_bytes(server):
    server.route("GET", f"/api/v2/traces/{CAPTURED_ERROR}", Reply(body=doc("trace_v2_captured_error.json")))
    trace = TempoTraceStore(server.url).get_trace(CAPTURED_ERROR)
    assert {s.trace_id for s in trace.spans} == {CAPTURED_ERROR}  # base64 "AAAAAAAAAAAA6TKdZ7YUag=="
    assert [(s.name, s.kind, s.status) for s in trace.spans] == [
        ("GET /api/simulate-error", "server", "error"), ("simulate_error", "internal", "error")]


def test_server_error_raises(server):
    server.route("GET", f"/api/v2/traces/{LAB_TRACE}",
                 Reply(500, "error finding trace by id: context canceled"))
    with pytest.raises(SignalError, match=r"HTTP 500.*context canceled"):
        TempoTraceStore(server.url).get_trace(LAB_TRACE)


def test_search_uses_traceql_and_window_and_pads_hex_ids(server):
    server.route("GET", "/api/search", Reply(body=doc("search_tags.json")))
    ids = TempoTraceStore(server.url).search("flask-backend", limit=5, lookback_s=300)
    # Tempo drops leading zeros; the newest trace comes first
    assert ids == ["0000000000000000d6e9329d67b6146a", "00000000000000001b1ba462b409200d"]
    sent = server.last("/api/search")
    assert sent.param("q") == '{resource.service.name="flask-backend"}'
    assert sent.param("limit") == "5"
    start, end = int(sent.param("start")), int(sent.param("end"))
    assert end - start == 300 and abs(end - time.time()) < 5  # seconds


def test_captured_search_drops_leading_zeros_and_sends_start_as_a_string(server):
    body = doc("search_captured.json")
    assert all(isinstance(t["startTimeUnixNano"], str) for t in body["traces"])
    assert "e9329d67b6146a" in {t["traceID"] for t in body["traces"]}  # 000000000000000000e9329d67b6146a
    server.route("GET", "/api/search", Reply(body=body))
    assert TempoTraceStore(server.url).search("flask-backend") == [
        "4bf92f3577b34da6a3ce929d0e0e4736", CAPTURED_ERROR, CAPTURED_CREATE,
        "114f2b5e67944ef2bfc6532d00b888fc"]


def test_search_traceql_answer(server):
    server.route("GET", "/api/search", Reply(body=doc("search_traceql.json")))
    assert TempoTraceStore(server.url).search("shop-backend") == ["2f3e0cee77ae5dc9c17ade3689eb2e54"]


def test_ready(server):
    server.route("GET", "/ready", Reply(body="ready"))
    assert TempoTraceStore(server.url).ready() is True
    server.route("GET", "/ready", Reply(503, "Ingester not ready: waiting for 15s after being ready"))
    assert TempoTraceStore(server.url).ready() is False


def test_timeout_is_honoured(server, monkeypatch):
    monkeypatch.delenv("LAB_TIMEOUT_SCALE", raising=False)
    server.route("GET", "/api/search", Reply(body=doc("search_tags.json"), delay=2))
    with pytest.raises(requests.Timeout):
        TempoTraceStore(server.url, timeout=0.3).search("x")
