"""Telemetry is best effort: no OTEL_* value, no failing exporter and no failing log handler may
fail a user's request or turn an error body into HTML.

OTEL_* variables are read when the OpenTelemetry packages are imported or their providers are
built, so the settings run through the image's gunicorn; the failing exporters and handlers are
injected in-process.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
import requests
from app_support import app_config
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from servers import ImageBackend
from taskapp import create_app, shutdown

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

SETTINGS_GROUPS = {
    "propagators-none": {"OTEL_PROPAGATORS": "none"},
    "propagators-unknown": {"OTEL_PROPAGATORS": "b3multi,no-such-propagator"},
    "propagators-blank-items": {"OTEL_PROPAGATORS": " , ,tracecontext,"},
    "sdk-values-garbage": {
        "OTEL_TRACES_SAMPLER": "no-such-sampler",
        "OTEL_TRACES_SAMPLER_ARG": "half",
        "OTEL_BSP_MAX_QUEUE_SIZE": "lots",
        "OTEL_BSP_SCHEDULE_DELAY": "-5",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "0",
        "OTEL_BLRP_MAX_QUEUE_SIZE": "-1",
        "OTEL_BLRP_EXPORT_TIMEOUT": "soon",
        "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "short",
        "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "-3",
        "OTEL_LOG_LEVEL": "LOUD",
    },
    "exporter-values-garbage": {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "not a url at all",
        "OTEL_EXPORTER_OTLP_HEADERS": "=,=x,,novalue",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "brotli-please",
        "OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent/ca.pem",
        "OTEL_RESOURCE_ATTRIBUTES": "=,,broken,%zz=1,service.name",
    },
    "instrumentation-values-garbage": {
        "OTEL_PYTHON_FLASK_EXCLUDED_URLS": "[(,health",
        "OTEL_SEMCONV_STABILITY_OPT_IN": "nonsense,http/dup,everything",
        "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST": "[(",
        "OTEL_PYTHON_EXCLUDED_URLS": "(((",
        "OTEL_SERVICE_NAME": "",
    },
}


def assert_json(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("application/json"), response.text[:300]
    return response.json()


def exercise(url: str) -> None:
    """A little of everything, each answer checked: success, client errors, the deliberate 500."""
    assert assert_json(requests.get(url + "/health", headers={"traceparent": TRACEPARENT}, timeout=10), 200)
    created = assert_json(requests.post(url + "/api/tasks", json={"title": "t"}, timeout=10), 201)
    assert assert_json(requests.get(f"{url}/api/tasks/{created['id']}", timeout=10), 200)["title"] == "t"
    assert "error" in assert_json(requests.get(url + "/api/nope", timeout=10), 404)
    assert "error" in assert_json(requests.post(url + "/api/tasks", data="{", timeout=10,
                                                headers={"Content-Type": "application/json"}), 400)
    error = assert_json(requests.get(url + "/api/simulate-error", timeout=10), 500)
    assert error == {"error": "simulated error"}
    assert requests.get(url + "/metrics", timeout=10).status_code == 200


@pytest.mark.slow
@pytest.mark.timeout(90)
@pytest.mark.parametrize("group", list(SETTINGS_GROUPS))
def test_no_otel_setting_breaks_a_request(tmp_path: Path, group: str) -> None:
    backend = ImageBackend(tmp_path / group, env=SETTINGS_GROUPS[group])
    try:
        exercise(backend.url)
    finally:
        backend.stop()
    output = backend.output()
    assert "--- Logging error ---" not in output and "Unhandled exception" not in output, output[-3000:]
    if group == "propagators-unknown":
        warnings = [json.loads(line) for line in output.splitlines() if "Telemetry setting ignored" in line]
        assert warnings and "OTEL_PROPAGATORS" in warnings[0]["problem"], output[-2000:]


def test_propagators_none_still_answers_with_the_servers_own_trace(tmp_path: Path) -> None:
    """`none` is valid (no propagation): the caller's traceparent is ignored, the request traced."""
    backend = ImageBackend(tmp_path / "none", env={"OTEL_PROPAGATORS": "none"})
    try:
        response = requests.get(backend.url + "/api/tasks", headers={"traceparent": TRACEPARENT}, timeout=10)
    finally:
        backend.stop()
    assert response.status_code == 200
    assert response.headers.get("X-Trace-Id") not in (None, TRACEPARENT.split("-")[1])


class FailingSpanExporter(SpanExporter):
    def export(self, spans: Sequence) -> None:  # type: ignore[override]
        raise RuntimeError("span exporter down")

    def shutdown(self) -> None:
        pass


class FailingLogExporter(LogRecordExporter):
    def export(self, batch: Sequence) -> None:  # type: ignore[override]
        raise RuntimeError("log exporter down")

    def force_flush(self, timeout_millis: int = 1000) -> bool:
        return True

    def shutdown(self) -> None:
        pass


class BrokenStream(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError("stdout is gone")


@pytest.mark.parametrize("processor", ["batch", "simple"])
def test_failing_exporters_and_log_handlers_never_fail_a_request(tmp_path: Path, processor: str) -> None:
    from app_support import LiveServer

    tracer_provider = TracerProvider(shutdown_on_exit=False)
    span_processor = BatchSpanProcessor if processor == "batch" else SimpleSpanProcessor
    tracer_provider.add_span_processor(span_processor(FailingSpanExporter()))
    logger_provider = LoggerProvider(shutdown_on_exit=False)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(FailingLogExporter()))
    config = app_config(tmp_path / "tasks.db", None)
    config.update(TRACER_PROVIDER=tracer_provider, LOGGER_PROVIDER=logger_provider, LOG_STREAM=BrokenStream())
    app = create_app(config)
    live = LiveServer(app)
    try:
        exercise(live.url)
    finally:
        live.stop()
        shutdown(app, timeout_s=2)
        tracer_provider.shutdown()
        logger_provider.shutdown()


def test_a_log_pipeline_that_raises_keeps_error_bodies_json(tmp_path: Path) -> None:
    """Even a logger whose filter raises (so `logging` itself raises into the caller)."""
    app = create_app(app_config(tmp_path / "tasks.db", None, OTEL_SDK_DISABLED="true"))

    class Exploding:
        def filter(self, record: object) -> bool:
            raise RuntimeError("log filter broke")

    app.extensions["taskapp"].logger.addFilter(Exploding())
    client = app.test_client()
    try:
        assert client.post("/api/tasks", json={"title": "x"}).status_code == 201
        for path, status in (("/api/simulate-error", 500), ("/api/nope", 404), ("/api/tasks/abc", 400)):
            response = client.get(path)
            assert response.status_code == status and response.is_json, response.data[:200]
    finally:
        shutdown(app)
