"""LokiLogStore against a real local HTTP server answering Loki query_range shapes
(fixtures/signals/loki: answers captured from Loki 3.7.6 and documentation examples; sources in
fixtures/signals/README.md)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests

from harness.clients.base import SignalError
from harness.clients.loki import LokiLogStore, build_logql, parse_streams
from tests.harness.fake_http import Reply, signal_doc

FIX = Path(__file__).parent / "fixtures" / "signals" / "loki"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
ERROR_TRACE = "0000000000000000d6e9329d67b6146a"  # captured: leading zero bytes kept by Loki
CREATE_TRACE = "5b8efff798038103d269b633813fc60c"


def doc(name: str) -> Any:
    return signal_doc("loki", name)



def test_categorized_answer_with_structured_metadata(server):
    server.route("GET", "/loki/api/v1/query_range", Reply(body=doc("query_range_categorized_captured.json")))
    records = LokiLogStore(server.url).query("flask-backend", trace_id=ERROR_TRACE, lookback_s=600, limit=30)
    sent = server.last("/loki/api/v1/query_range")
    assert sent.param("query") == f'{{service_name="flask-backend"}} | trace_id="{ERROR_TRACE}"'
    assert (sent.param("limit"), sent.param("direction")) == ("30", "backward")
    assert sent.headers["X-Loki-Response-Encoding-Flags"] == "categorize-labels"
    start, end = int(sent.param("start")), int(sent.param("end"))
    assert end - start == 601 * 10**9 and abs(end / 1e9 - time.time()) < 5  # nanoseconds
    assert [(r.severity, r.body, r.trace_id, r.span_id) for r in records] == [
        ("ERROR", "Request completed", ERROR_TRACE, "7bf9e06422ddc740"),
        ("ERROR", "Simulated error", ERROR_TRACE, "7bf9e06422ddc740"),
        ("INFO", "Incoming request", ERROR_TRACE, "7bf9e06422ddc740"),
    ]
    assert [r.timestamp_ns for r in records] == sorted((r.timestamp_ns for r in records), reverse=True)
    error = records[1]
    assert error.service == "flask-backend"
    assert error.attributes["exception_type"] == "SimulatedError"
    assert error.attributes["service_instance_id"] == "9f83239e-7c19-4ab9-8feb-8bd8bc5b95e3"
    assert error.attributes["deployment_environment"] == "lab"
    ids_and_severity = {"trace_id", "span_id", "severity_text", "severity_number", "detected_level"}
    assert not ids_and_severity & set(error.attributes)
    assert records[0].attributes["status"] == "500"


def test_captured_loki_shapes():
    """Loki 3.7: stream labels are the index labels only; detected_level, exception_type and
    service_instance_id are structured metadata; no "parsed" without a parser stage."""
    body = doc("query_range_categorized_captured.json")
    assert body["data"]["encodingFlags"] == ["categorize-labels"]
    [stream] = body["data"]["result"]
    assert stream["stream"] == {"service_name": "flask-backend", "deployment_environment": "lab",
                                "deployment_environment_name": "lab"}
    for _, _, extra in stream["values"]:
        assert set(extra) == {"structuredMetadata"}
        assert {"detected_level", "service_instance_id", "trace_id", "severity_text"} <= set(
            extra["structuredMetadata"])
    assert [v[2]["structuredMetadata"].get("exception_type") for v in stream["values"]] == [
        None, "SimulatedError", None]
    levels = [v[2]["structuredMetadata"]["detected_level"] for v in stream["values"]]
    assert levels == ["error", "error", "info"]


def test_folded_answer_without_the_flag(server):
    body = doc("query_range_folded_captured.json")
    # without the flag every distinct structured-metadata set is its own "stream"
    assert len(body["data"]["result"]) == 3 and "encodingFlags" not in body["data"]
    server.route("GET", "/loki/api/v1/query_range", Reply(body=body))
    records = LokiLogStore(server.url).query("flask-backend", text="request")
    assert server.last().param("query") == '{service_name="flask-backend"} |= "request"'
    assert [(r.body, r.severity, r.trace_id, r.attributes.get("status")) for r in records] == [
        ("Request completed", "INFO", CREATE_TRACE, "201"), ("Task created", "INFO", CREATE_TRACE, None),
        ("Incoming request", "INFO", CREATE_TRACE, None)]
    assert all(r.service == "flask-backend" and "detected_level" not in r.attributes for r in records)


def test_parsed_labels_from_a_parser_stage_are_read():
    result = [{"stream": {"service_name": "svc"},
               "values": [["1", "level=warn msg=x", {"structuredMetadata": {"trace_id": TRACE},
                                                       "parsed": {"level": "warn", "msg": "x"}}]]}]
    [record] = parse_streams(result)
    assert (record.severity, record.trace_id, record.attributes) == ("WARN", TRACE, {"msg": "x"})


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
    # what Loki 3.7.6 answers for the selector Grafana's trace-to-logs link had sent unexpanded
    message = "parse error at line 1, col 3: syntax error: unexpected {, expecting = or =~ or !~ or !="
    server.route("GET", "/loki/api/v1/query_range", Reply(400, message))
    with pytest.raises(SignalError, match=r"HTTP 400.*syntax error: unexpected \{"):
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
