"""LokiLogStore against a real local HTTP server answering Loki query_range shapes
(fixtures/signals/loki, sources in fixtures/signals/README.md)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests

from harness.signals.base import SignalError
from harness.signals.loki import LokiLogStore, build_logql
from harness.signals.model import LogRecord
from harness.signals.testing import Reply, fake_server

FIX = Path(__file__).parent / "fixtures" / "signals" / "loki"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def doc(name: str) -> object:
    return json.loads((FIX / name).read_text())


@pytest.fixture
def server():
    with fake_server() as s:
        yield s


def test_categorized_answer_with_structured_metadata(server):
    server.route("GET", "/loki/api/v1/query_range", Reply(body=doc("query_range_categorized_lab.json")))
    records = LokiLogStore(server.url).query("flask-backend", trace_id=TRACE, lookback_s=600, limit=30)
    sent = server.last("/loki/api/v1/query_range")
    assert sent.param("query") == f'{{service_name="flask-backend"}} | trace_id="{TRACE}"'
    assert (sent.param("limit"), sent.param("direction")) == ("30", "backward")
    assert sent.headers["X-Loki-Response-Encoding-Flags"] == "categorize-labels"
    start, end = int(sent.param("start")), int(sent.param("end"))
    assert end - start == 601 * 10**9 and abs(end / 1e9 - time.time()) < 5  # nanoseconds
    assert records == [
        LogRecord(timestamp_ns=1700000000011000000, body="Request completed", severity="INFO",
                  service="flask-backend", trace_id=TRACE, span_id="b7ad6b7169203331",
                  attributes={"deployment_environment": "lab", "scope_name": "taskapp", "method": "POST",
                              "path": "/api/tasks", "status": "201", "duration_ms": "11.2"}),
        LogRecord(timestamp_ns=1700000000005000000, body="Unhandled error in simulate_error",
                  severity="ERROR", service="flask-backend", trace_id=TRACE, span_id="5fb397be34d26b51",
                  attributes={"deployment_environment": "lab", "exception_type": "RuntimeError"}),
        LogRecord(timestamp_ns=1700000000000500000, body="Incoming request", severity="INFO",
                  service="flask-backend", trace_id=TRACE, span_id="b7ad6b7169203331",
                  attributes={"deployment_environment": "lab", "scope_name": "taskapp", "method": "POST",
                              "path": "/api/tasks"}),
    ]


def test_folded_answer_without_the_flag(server):
    server.route("GET", "/loki/api/v1/query_range", Reply(body=doc("query_range_folded_lab.json")))
    records = LokiLogStore(server.url).query("flask-backend", text="request")
    assert server.last().param("query") == '{service_name="flask-backend"} |= "request"'
    assert [(r.body, r.severity, r.trace_id, r.attributes.get("status")) for r in records] == [
        ("Request completed", "INFO", TRACE, "201"), ("Incoming request", "INFO", TRACE, None)]


def test_documented_streams_example(server):
    server.route("GET", "/loki/api/v1/query_range", Reply(body=doc("query_range_streams.json")))
    store = LokiLogStore(server.url, service_label="job")
    records = store.query("varlogs")
    assert server.last().param("query") == '{job="varlogs"}'
    assert [(r.timestamp_ns, r.body, r.service, r.severity, r.trace_id) for r in records] == [
        (1569266497240578000, "foo", "varlogs", "INFO", None),
        (1569266492548155000, "bar", "varlogs", "INFO", None),
    ]
    assert records[0].attributes == {"filename": "/var/log/myproject.log"}


def test_text_and_trace_id_are_escaped_and_ordered():
    assert build_logql("svc", text='say "hi"', trace_id=TRACE) == (
        f'{{service_name="svc"}} |= "say \\"hi\\"" | trace_id="{TRACE}"')


def test_metric_answer_is_refused(server):
    server.route("GET", "/loki/api/v1/query_range", Reply(body=doc("query_range_matrix.json")))
    with pytest.raises(SignalError, match="not a log query"):
        LokiLogStore(server.url).query("x")


def test_query_error_raises_with_lokis_message(server):
    server.route("GET", "/loki/api/v1/query_range",
                 Reply(400, "parse error at line 1, col 16: syntax error: unexpected IDENTIFIER"))
    with pytest.raises(SignalError, match=r"HTTP 400.*syntax error"):
        LokiLogStore(server.url).query("flask-backend")


def test_tenant_header(server):
    server.route("GET", "/loki/api/v1/query_range", Reply(body=doc("query_range_streams.json")))
    LokiLogStore(server.url, tenant="lab").query("x")
    assert server.last().headers["X-Scope-OrgID"] == "lab"


def test_ready(server):
    server.route("GET", "/ready", Reply(body="ready\n"))
    assert LokiLogStore(server.url).ready() is True
    server.route("GET", "/ready", Reply(503, "Ingester not ready"))
    assert LokiLogStore(server.url).ready() is False


def test_timeout_is_honoured(server, monkeypatch):
    monkeypatch.delenv("LAB_TIMEOUT_SCALE", raising=False)
    server.route("GET", "/loki/api/v1/query_range", Reply(body=doc("query_range_streams.json"), delay=2))
    with pytest.raises(requests.Timeout):
        LokiLogStore(server.url, timeout=0.3).query("x")
