"""Real OTLP/HTTP export: the app's own exporters send protobuf to a receiver on loopback, which
decodes it with opentelemetry-proto (what a Collector would see)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from app_support import LiveServer, OtlpReceiver
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from taskapp import create_app, shutdown

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    server = OtlpReceiver()
    yield server
    server.stop()


def attrs(key_values) -> dict:
    out = {}
    for kv in key_values:
        value = kv.value
        out[kv.key] = getattr(value, value.WhichOneof("value")) if value.WhichOneof("value") else None
    return out


def test_spans_and_logs_arrive_as_otlp_protobuf(receiver: OtlpReceiver, tmp_path: Path) -> None:
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path}/otlp.db",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "APP_VERSION": "3.1.4",
            "LOG_STREAM": io.StringIO(),
            "PROCESS_METRICS": False,
        }
    )
    live = LiveServer(app)
    try:
        traceparent = f"00-{TRACE_ID}-b7ad6b7169203331-01"
        assert live("POST", "/api/tasks", json={"title": "ship it"}, headers={"traceparent": traceparent}).ok
        assert live("GET", "/api/simulate-error").status_code == 500
    finally:
        live.stop()
        shutdown(app, timeout_s=10)  # flushes both batch processors

    methods = {(path, headers.get("content-type")) for path, headers, _ in receiver.requests}
    assert methods == {("/v1/traces", "application/x-protobuf"), ("/v1/logs", "application/x-protobuf")}

    spans = []
    for body in receiver.bodies("/v1/traces"):
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            resource = attrs(resource_spans.resource.attributes)
            assert resource["service.name"] == "flask-backend"
            assert resource["service.version"] == "3.1.4"
            assert resource["deployment.environment"] == "lab"
            for scope_spans in resource_spans.scope_spans:
                spans.extend((scope_spans.scope.name, span) for span in scope_spans.spans)
    by_name = {span.name: (scope, span) for scope, span in spans}
    assert {"POST /api/tasks", "create_task", "GET /api/simulate-error", "simulate_error"} <= by_name.keys()
    scope, create = by_name["create_task"]
    assert scope == "taskapp"
    assert create.trace_id.hex() == TRACE_ID
    assert attrs(create.attributes)["task.title"] == "ship it"
    sql = [span for scope, span in spans if scope == "opentelemetry.instrumentation.sqlalchemy"]
    assert any(span.trace_id.hex() == TRACE_ID and span.parent_span_id == create.span_id for span in sql)
    assert by_name["simulate_error"][1].status.code == 2  # STATUS_CODE_ERROR

    records = []
    for body in receiver.bodies("/v1/logs"):
        request = ExportLogsServiceRequest.FromString(body)
        for resource_logs in request.resource_logs:
            assert attrs(resource_logs.resource.attributes)["service.name"] == "flask-backend"
            for scope_logs in resource_logs.scope_logs:
                records.extend(scope_logs.log_records)
    incoming = [r for r in records if r.body.string_value == "Incoming request"]
    completed = [r for r in records if r.body.string_value == "Request completed"]
    assert len(incoming) == len(completed) == 2
    first = completed[0]
    assert first.trace_id.hex() == TRACE_ID and len(first.span_id) == 8
    fields = attrs(first.attributes)
    assert fields["method"] == "POST" and fields["path"] == "/api/tasks" and fields["status"] == 201
    assert fields["trace_id"] == TRACE_ID and fields["span_id"] == first.span_id.hex()
    assert fields["duration_ms"] > 0
    assert first.severity_text == "INFO"
    assert any(r.body.string_value == "Simulated error" and r.severity_text == "ERROR" for r in records)
