"""Traces and logs, asserted exactly with the real OTel SDK and in-memory exporters."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from app_support import LiveServer, Otel
from flask import Flask
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from taskapp.settings import Settings
from taskapp.telemetry import build_resource

HEX32 = re.compile(r"[0-9a-f]{32}")
HEX16 = re.compile(r"[0-9a-f]{16}")
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


def one(spans: list, name: str):
    matches = [s for s in spans if s.name == name]
    assert len(matches) == 1, [s.name for s in spans]
    return matches[0]


def server_span(otel: Otel, route: str):
    """The last server span named like "GET /api/tasks" (Flask names them method + rule)."""
    spans = [s for s in otel.finished() if s.kind == SpanKind.SERVER and s.name == route]
    assert spans, [s.name for s in otel.finished()]
    return spans[-1]


def test_manual_spans_and_attributes(live: LiveServer, otel: Otel) -> None:
    task = live("POST", "/api/tasks", json={"title": "Span me"}).json()
    tid = task["id"]
    live("GET", "/api/tasks")
    live("GET", f"/api/tasks/{tid}")
    live("PUT", f"/api/tasks/{tid}", json={"completed": True})
    live("DELETE", f"/api/tasks/{tid}")
    live("GET", "/api/simulate-slow", params={"delay": "0.05"})
    live("GET", "/api/simulate-error")
    live("POST", "/api/smoke/db", params={"ops": 3, "type": "rw"})
    spans = otel.finished()

    create = one(spans, "create_task")
    assert create.attributes["task.title"] == "Span me"
    assert create.attributes["task.id"] == tid
    assert create.attributes["task.completed"] is False
    assert one(spans, "get_all_tasks").attributes["task.count"] == 1
    assert one(spans, "get_task").attributes["task.id"] == tid
    update = one(spans, "update_task")
    assert update.attributes["task.id"] == tid and update.attributes["task.completed"] is True
    assert one(spans, "delete_task").attributes["task.id"] == tid
    assert one(spans, "simulate_slow").attributes["slow.delay_seconds"] == 0.05
    smoke = one(spans, "db_smoke")
    assert smoke.attributes["db.smoke.ops"] == 3 and smoke.attributes["db.smoke.type"] == "rw"

    error = one(spans, "simulate_error")
    assert error.status.status_code == StatusCode.ERROR
    assert any(e.name == "exception" for e in error.events)
    error_server = server_span(otel, "GET /api/simulate-error")
    assert error_server.status.status_code == StatusCode.ERROR
    status_attr = error_server.attributes.get("http.response.status_code")
    assert (status_attr or error_server.attributes.get("http.status_code")) == 500

    # nesting: Flask server span -> manual span -> SQLAlchemy client span
    create_server = server_span(otel, "POST /api/tasks")
    assert create.parent.span_id == create_server.context.span_id
    sql_children = [s for s in spans if s.parent is not None and s.parent.span_id == create.context.span_id]
    assert any(s.kind == SpanKind.CLIENT and "INSERT" in s.name for s in sql_children), [
        s.name for s in sql_children
    ]
    smoke_sql = [s for s in spans if s.parent is not None and s.parent.span_id == smoke.context.span_id]
    assert len(smoke_sql) == 3


def test_traceparent_reaches_span_logs_and_exemplar(live: LiveServer, otel: Otel) -> None:
    response = live("GET", "/api/tasks", headers={"traceparent": TRACEPARENT, "X-Request-ID": "rid-1"})
    assert response.status_code == 200
    assert response.headers["X-Trace-Id"] == TRACE_ID

    span = server_span(otel, "GET /api/tasks")
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert format(span.parent.span_id, "016x") == PARENT_ID
    assert span.parent.is_remote
    assert format(one(otel.finished(), "get_all_tasks").context.trace_id, "032x") == TRACE_ID

    lines = [line for line in otel.json_lines() if line.get("path") == "/api/tasks"]
    assert [line["message"] for line in lines] == ["Incoming request", "Request completed"]
    for line in lines:
        assert line["trace_id"] == TRACE_ID
        assert line["span_id"] == format(span.context.span_id, "016x")
        assert line["request_id"] == "rid-1"

    records = [r for r in otel.log_records() if r.attributes.get("path") == "/api/tasks"]
    assert [r.body for r in records] == ["Incoming request", "Request completed"]
    for record in records:
        assert format(record.trace_id, "032x") == TRACE_ID
        assert record.span_id == span.context.span_id
        assert record.attributes["trace_id"] == TRACE_ID

    scrape = live("GET", "/metrics", headers={"Accept": "application/openmetrics-text"})
    exemplars = [
        sample.exemplar.labels["trace_id"]
        for family in text_string_to_metric_families(scrape.text)
        if family.name == "http_request_duration_seconds"
        for sample in family.samples
        if sample.labels.get("endpoint") == "get_all_tasks" and sample.exemplar
    ]
    assert exemplars == [TRACE_ID]


def test_unsampled_parent_is_honoured(live: LiveServer, otel: Otel) -> None:
    live("GET", "/health", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-00"})
    assert otel.finished() == []  # the caller said "not sampled"; the ids still reach the logs
    assert {line["trace_id"] for line in otel.json_lines()} == {TRACE_ID}


def test_request_log_lines(live: LiveServer, otel: Otel) -> None:
    live("POST", "/api/tasks", json={"title": "log me"})
    live("GET", "/api/nope")
    lines = otel.json_lines()
    incoming = [line for line in lines if line["message"] == "Incoming request"]
    completed = [line for line in lines if line["message"] == "Request completed"]
    assert len(incoming) == len(completed) == 2
    for line in incoming:
        assert {"method", "path", "trace_id", "span_id", "timestamp", "level"} <= line.keys()
        assert "status" not in line and "duration_ms" not in line
    assert [(c["method"], c["path"], c["status"]) for c in completed] == [
        ("POST", "/api/tasks", 201),
        ("GET", "/api/nope", 404),
    ]
    for line in lines:
        assert HEX32.fullmatch(line["trace_id"]) and HEX16.fullmatch(line["span_id"])
    for line in completed:
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0

    records = {r.body: r for r in otel.log_records()}
    done = records["Request completed"]
    assert done.attributes["status"] == 404 and done.attributes["method"] == "GET"
    assert done.attributes["path"] == "/api/nope" and done.attributes["duration_ms"] >= 0
    assert HEX32.fullmatch(done.attributes["trace_id"]) and HEX16.fullmatch(done.attributes["span_id"])
    assert done.severity_text == "INFO"


def test_simulated_error_is_logged_with_its_exception(live: LiveServer, otel: Otel) -> None:
    live("GET", "/api/simulate-error")
    error = next(r for r in otel.log_records() if r.body == "Simulated error")
    assert error.severity_text == "ERROR"
    # what an error search relies on: error.type (semantic conventions) and the exception itself
    assert error.attributes["error.type"] == error.attributes["exception.type"] == "SimulatedError"
    assert error.attributes["exception.message"] == "Simulated error for testing"
    assert "raise SimulatedError" in error.attributes["exception.stacktrace"]
    completed = next(r for r in otel.log_records() if r.body == "Request completed")
    assert completed.severity_text == "ERROR" and completed.attributes["status"] == 500
    line = next(line for line in otel.json_lines() if line["message"] == "Simulated error")
    assert "SimulatedError" in line["exception"]


def test_sdk_disabled_switches_otel_off_but_keeps_metrics(make_app: Callable[..., Flask], otel: Otel) -> None:
    app = make_app(TRACER_PROVIDER=None, LOGGER_PROVIDER=None, OTEL_SDK_DISABLED="true")
    client = app.test_client()
    assert client.post("/api/tasks", json={"title": "quiet"}).status_code == 201
    assert "X-Trace-Id" not in client.get("/api/tasks").headers
    state = app.extensions["taskapp"]
    assert state.telemetry.enabled is False and state.telemetry.owned == []
    assert otel.finished() == [] and otel.log_records() == []
    lines = otel.json_lines()
    assert lines and all("trace_id" not in line for line in lines)  # stdout logs stay
    metrics = client.get("/metrics").text
    assert 'http_requests_total{endpoint="create_task",method="POST",status_code="201"} 1.0' in metrics


def test_resource_defaults_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    attrs = build_resource(Settings.load({"DATABASE_URL": "sqlite://"}, environ={})).attributes
    assert attrs["service.name"] == "flask-backend"
    assert attrs["deployment.environment"] == "lab"
    assert attrs["service.version"]

    monkeypatch.setenv(
        "OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=staging,service.version=9.9,team=obs"
    )
    attrs = build_resource(
        Settings.load({"DATABASE_URL": "sqlite://", "APP_VERSION": "2.0"}, environ={})
    ).attributes
    assert attrs["deployment.environment"] == "staging" and attrs["service.version"] == "9.9"
    assert attrs["team"] == "obs" and attrs["service.name"] == "flask-backend"

    monkeypatch.setenv("OTEL_SERVICE_NAME", "tasks-api")
    settings = Settings.load({"DATABASE_URL": "sqlite://"})
    assert build_resource(settings).attributes["service.name"] == "tasks-api"


def test_settings_from_environment() -> None:
    env = {
        "DATABASE_URL": "postgresql://u:p@db:5432/tasks",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4318/",
        "OTEL_SDK_DISABLED": "TRUE",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "10000",
        "LOG_LEVEL": "debug",
    }
    settings = Settings.load(None, environ=env)
    assert settings.database_url == "postgresql+psycopg://u:p@db:5432/tasks"
    assert settings.traces_endpoint == "http://otel-collector:4318/v1/traces"
    assert settings.logs_endpoint == "http://otel-collector:4318/v1/logs"
    assert settings.sdk_disabled is True
    assert settings.export_timeout_s == 10.0  # spec milliseconds understood
    assert settings.log_level == "DEBUG"
    assert Settings.load({"DATABASE_URL": "postgres://x/y"}, environ={}).database_url.startswith(
        "postgresql+psycopg://"
    )
    with pytest.raises(ValueError, match="OTEL_EXPORTER_OTLP_TIMEOUT"):
        Settings.load(None, environ={"OTEL_EXPORTER_OTLP_TIMEOUT": "soon"})
