"""OpenTelemetry traces and logs for one app.

Providers are built per app and never installed as the process-wide globals (those can be set
only once per process): tests inject their own providers with in-memory exporters, the server
gets OTLP/HTTP exporters behind batch processors. A slow or dead collector only ever costs the
processors' background threads: queues are bounded, exports time out quickly, shutdown is bounded.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from flask import Flask
from opentelemetry import trace
from opentelemetry._logs import LoggerProvider as ApiLoggerProvider
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.instrumentation.sqlalchemy.version import __version__ as sqlalchemy_instr_version
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from sqlalchemy.engine import Engine

from taskapp.otel_env import install_safe_propagator
from taskapp.settings import DEFAULT_SERVICE_NAME, Settings
from taskapp.version import __version__

log = logging.getLogger(__name__)


def build_resource(settings: Settings) -> Resource:
    """service.name/version and deployment.environment; OTEL_RESOURCE_ATTRIBUTES overrides the
    defaults and OTEL_SERVICE_NAME overrides everything, as the OTel spec says."""
    attributes: dict[str, Any] = {
        "service.name": DEFAULT_SERVICE_NAME,
        "service.version": settings.service_version,
        "deployment.environment": settings.environment,
        "deployment.environment.name": settings.environment,
    }
    attributes.update(OTELResourceDetector().detect().attributes)
    if settings.service_name != DEFAULT_SERVICE_NAME or "service.name" not in attributes:
        attributes["service.name"] = settings.service_name
    return Resource.create(attributes)


@dataclass
class Telemetry:
    """The providers an app uses, and whether it owns (and so must shut down) them."""

    tracer_provider: trace.TracerProvider
    logger_provider: ApiLoggerProvider | None
    enabled: bool
    owned: list[Any] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what was switched off, and why (logged once)

    @cached_property
    def tracer(self) -> trace.Tracer:
        """The tracer of the manual spans (create_task, …); made once, it is used on every request."""
        return self.tracer_provider.get_tracer("taskapp", __version__)

    def instrument_flask(self, app: Flask) -> None:
        """Server spans for every request; honours an incoming W3C traceparent."""
        if not self.enabled:
            return
        install_safe_propagator()
        before = {key: list(hooks) for key, hooks in app.before_request_funcs.items()}
        teardown = {key: list(hooks) for key, hooks in app.teardown_request_funcs.items()}
        try:
            FlaskInstrumentor.instrument_app(
                app,
                tracer_provider=self.tracer_provider,
                meter_provider=NoOpMeterProvider(),  # metrics come from prometheus_client only
                enable_commenter=False,
            )
        except Exception as exc:
            self.problems.append(f"Flask instrumentation failed ({type(exc).__name__}: {exc}): no spans")
            return
        # The instrumentation's own request hooks may fail (a propagator, an OTEL_* value): the
        # request goes on without its span rather than failing.
        for hooks, known in ((app.before_request_funcs, before), (app.teardown_request_funcs, teardown)):
            for key, funcs in hooks.items():
                funcs[:] = [f if f in known.get(key, []) else _best_effort(f) for f in funcs]

    def instrument_engine(self, engine: Engine) -> None:
        """Client spans for the SQL statements of a traced request on this engine (and only this
        engine: no global patching). Statements outside any trace — the readiness probe's `SELECT 1`
        every few seconds, the migrations at start — would each be a trace of one span of their own."""
        if not self.enabled:
            return
        name = "opentelemetry.instrumentation.sqlalchemy"
        tracer = ChildSpansOnly(self.tracer_provider.get_tracer(name, sqlalchemy_instr_version))
        usage = NoOpMeterProvider().get_meter("taskapp").create_up_down_counter("db.client.connections.usage")
        EngineTracer(tracer, engine, usage)

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Flush and stop the pipelines we built, waiting at most `timeout_s` (a hung collector
        must not hold up a container stop)."""
        owned, self.owned = self.owned, []
        if not owned:
            return

        def stop() -> None:
            for provider in owned:
                try:
                    provider.shutdown()
                except Exception:  # shutting down must not raise into the server
                    log.exception("telemetry shutdown failed")

        worker = threading.Thread(target=stop, name="taskapp-otel-shutdown", daemon=True)
        worker.start()
        worker.join(timeout_s)


class ChildSpansOnly(trace.Tracer):
    """A tracer that starts spans only inside a trace: with no valid parent it hands back the
    non-recording invalid span (nothing recorded, nothing exported)."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    def start_span(self, name: str, context: Any = None, *args: Any, **kwargs: Any) -> trace.Span:
        if not trace.get_current_span(context).get_span_context().is_valid:
            return trace.INVALID_SPAN
        return self._tracer.start_span(name, context, *args, **kwargs)

    @contextlib.contextmanager
    def start_as_current_span(self, name: str, context: Any = None, *args: Any,
                              **kwargs: Any) -> Iterator[trace.Span]:
        if not trace.get_current_span(context).get_span_context().is_valid:
            yield trace.INVALID_SPAN
            return
        with self._tracer.start_as_current_span(name, context, *args, **kwargs) as span:
            yield span


def _best_effort(hook: Callable[..., Any]) -> Callable[..., Any]:
    """A request hook whose failure is swallowed (telemetry is best effort)."""

    @functools.wraps(hook)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return hook(*args, **kwargs)
        except Exception:
            return None

    return run


def build_telemetry(settings: Settings) -> Telemetry:
    """Injected providers win; else OTEL_SDK_DISABLED gives no-ops; else OTLP/HTTP pipelines.
    A pipeline that cannot be built from the OTEL_* settings leaves the app without traces and
    OTel logs (said once in the log), never without service."""
    try:
        return _build_telemetry(settings)
    except Exception as exc:
        problem = f"OTel pipelines not built ({type(exc).__name__}: {exc}): no traces, no OTLP logs"
        no_op = trace.NoOpTracerProvider()
        return Telemetry(tracer_provider=no_op, logger_provider=None, enabled=False, problems=[problem])


def _build_telemetry(settings: Settings) -> Telemetry:
    if settings.tracer_provider is not None or settings.logger_provider is not None:
        return Telemetry(
            tracer_provider=settings.tracer_provider or trace.NoOpTracerProvider(),
            logger_provider=settings.logger_provider,
            enabled=settings.tracer_provider is not None,
        )
    if settings.sdk_disabled:
        return Telemetry(tracer_provider=trace.NoOpTracerProvider(), logger_provider=None, enabled=False)

    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = build_resource(settings)
    # Queue sizes, batch sizes and delays follow OTEL_BSP_* / OTEL_BLRP_* (SDK defaults: queue 2048).
    tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    tracer_provider.add_span_processor(
        BatchSpanProcessor(
            OTLPSpanExporter(endpoint=settings.traces_endpoint, timeout=settings.export_timeout_s)
        )
    )
    logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(
            OTLPLogExporter(endpoint=settings.logs_endpoint, timeout=settings.export_timeout_s)
        )
    )
    return Telemetry(
        tracer_provider=tracer_provider,
        logger_provider=logger_provider,
        enabled=True,
        owned=[tracer_provider, logger_provider],
    )
