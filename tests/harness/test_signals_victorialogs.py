"""VictoriaLogsStore against a real local HTTP server answering LogsQL JSON lines
(fixtures/signals/victorialogs, sources in fixtures/signals/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from harness.base import evidence
from harness.clients.base import SignalError
from harness.clients.model import LogRecord
from harness.clients.victorialogs import VictoriaLogsStore, build_logsql, parse_entry
from tests.harness.fake_http import Reply

FIX = Path(__file__).parent / "fixtures" / "signals" / "victorialogs"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
COMMON = {"deployment.environment": "lab", "scope.name": "taskapp", "scope.version": "unknown"}


def lines(name: str) -> str:
    return (FIX / name).read_text()



def test_query_by_trace_id_parses_otlp_fields_and_sends_logsql(server):
    server.route("GET", "/select/logsql/query", Reply(body=lines("query_otlp_lab.jsonl")))
    store = VictoriaLogsStore(server.url)
    records = store.query("flask-backend", trace_id=TRACE.upper(), lookback_s=600, limit=50)
    sent = server.last("/select/logsql/query")
    assert sent.param("query") == f'_time:600s "service.name":="flask-backend" "trace_id":="{TRACE}"'
    assert sent.param("limit") == "50"
    assert records == [  # newest first
        LogRecord(timestamp_ns=1700000000011000000, body="Request completed", severity="INFO",
                  service="flask-backend", trace_id=TRACE, span_id="b7ad6b7169203331",
                  attributes={**COMMON, "duration_ms": "11.2", "method": "POST", "path": "/api/tasks",
                              "status": "201"}),
        LogRecord(timestamp_ns=1700000000005000001, body="Unhandled error in simulate_error",
                  severity="ERROR", service="flask-backend", trace_id=TRACE, span_id="5fb397be34d26b51",
                  attributes=COMMON),
        LogRecord(timestamp_ns=1700000000000500000, body="Incoming request", severity="INFO",
                  service="flask-backend", trace_id=TRACE, span_id="b7ad6b7169203331",
                  attributes={**COMMON, "method": "POST", "path": "/api/tasks"}),
    ]


def test_query_by_text_is_a_phrase_filter(server):
    server.route("GET", "/select/logsql/query", Reply(body=""))
    assert VictoriaLogsStore(server.url).query("flask-backend", text='Incoming "quoted" request') == []
    assert server.last().param("query") == (
        '_time:900s "service.name":="flask-backend" "Incoming \\"quoted\\" request"')


def test_documented_example_lines(server):
    server.route("GET", "/select/logsql/query", Reply(body=lines("query_doc.jsonl")))
    store = VictoriaLogsStore(server.url)
    entries = store.logsql("error", limit=10)
    assert [e["_msg"] for e in entries] == [
        "some other error", "error: disconnect from 19.54.37.22: Auth fail [preauth]"]
    record = parse_entry(entries[0])
    assert (record.timestamp_ns, record.body, record.service, record.trace_id, record.severity) == (
        1672579935000000000, "some other error", "", None, "")


def test_prefixed_fields_and_older_severity_field():
    prefixed, older = (parse_entry(json.loads(line))
                       for line in lines("query_otlp_variants.jsonl").splitlines())
    assert (prefixed.service, prefixed.severity, prefixed.attributes) == (
        "flask-backend", "WARN", {"method": "GET", "path": "/api/tasks"})
    assert (older.service, older.severity, older.timestamp_ns, older.trace_id) == (
        "flask-backend", "INFO", 1699996400000000000, TRACE)


def test_service_field_can_be_the_prefixed_one(server):
    server.route("GET", "/select/logsql/query", Reply(body=""))
    VictoriaLogsStore(server.url, service_field="resource.service.name").query("svc")
    assert server.last().param("query") == '_time:900s "resource.service.name":="svc"'


def test_build_logsql_combines_filters():
    assert build_logsql("a", text="x y", trace_id=TRACE, lookback_s=60) == (
        f'_time:60s "service.name":="a" "trace_id":="{TRACE}" "x y"')


def test_error_answer_raises_with_message(server):
    server.route("GET", "/select/logsql/query",
                 Reply(400, 'cannot parse query [_time:900s "service.name":=]: missing value'))
    with pytest.raises(SignalError, match=r"HTTP 400.*missing value"):
        VictoriaLogsStore(server.url).query("flask-backend")


def test_garbled_line_raises(server):
    body = '{"_msg":"ok","_time":"2023-01-01T00:00:00Z"}\nnot json\n'
    server.route("GET", "/select/logsql/query", Reply(body=body))
    with pytest.raises(SignalError, match="line 2 is not JSON"):
        VictoriaLogsStore(server.url).logsql("*")


def test_query_leaves_evidence(server):
    server.route("GET", "/select/logsql/query", Reply(body=lines("query_otlp_lab.jsonl")))
    with evidence.capture() as log:
        VictoriaLogsStore(server.url).query("flask-backend", text="Incoming request")
    [item] = [e for e in log.items if e.kind == "log"]
    assert item.summary == 'LogsQL: _time:900s "service.name":="flask-backend" "Incoming request"'
    assert item.detail["count"] == 3


def test_ready(server):
    server.route("GET", "/health", Reply(body="OK"))
    assert VictoriaLogsStore(server.url).ready() is True
    assert VictoriaLogsStore("http://127.0.0.1:9").ready() is False


def test_timeout_is_honoured(server, monkeypatch):
    monkeypatch.delenv("LAB_TIMEOUT_SCALE", raising=False)
    server.route("GET", "/select/logsql/query", Reply(body="", delay=2))
    with pytest.raises(requests.Timeout):
        VictoriaLogsStore(server.url, timeout=0.3).query("flask-backend")
