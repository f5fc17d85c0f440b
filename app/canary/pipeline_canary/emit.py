"""One probe: a root span (a fresh trace id), a log record in its context carrying the sequence number,
and the metrics target's counter increment with the trace id as exemplar. Traces and logs leave by
OTLP/HTTP through the SDK's batch processors, as the app's do (OTEL_BSP_* / OTEL_BLRP_* apply)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.context import Context
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from pipeline_canary import SERVICE_NAME
from pipeline_canary.metrics import Metrics
from pipeline_canary.tracker import Probe, Target

SPAN_NAME = "canary probe"
SEQ_ATTRIBUTE = "canary.seq"


def build_providers(otlp_endpoint: str) -> tuple[TracerProvider, LoggerProvider]:
    """Tracer and logger providers exporting to ``otlp_endpoint`` (``/v1/traces``, ``/v1/logs``)."""
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": SERVICE_NAME})  # + OTEL_RESOURCE_ATTRIBUTES
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=f"{otlp_endpoint}/v1/traces", timeout=10)))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(
        OTLPLogExporter(endpoint=f"{otlp_endpoint}/v1/logs", timeout=10)))
    return tracer_provider, logger_provider


@dataclass
class Emitter:
    tracer_provider: TracerProvider
    logger_provider: LoggerProvider
    metrics: Metrics
    metrics_target: Target | None  # the counter Prometheus scrapes (None: no metrics target)
    seq: int = field(default=0)

    def __post_init__(self) -> None:
        self._tracer = self.tracer_provider.get_tracer(SERVICE_NAME)
        self._logger = self.logger_provider.get_logger(SERVICE_NAME)

    def emit(self) -> Probe:
        self.seq += 1
        seq = self.seq
        # An empty parent context: every probe is the root of a trace of its own.
        with self._tracer.start_as_current_span(SPAN_NAME, context=Context(), kind=trace.SpanKind.INTERNAL,
                                                attributes={SEQ_ATTRIBUTE: seq}) as span:
            trace_id = format(span.get_span_context().trace_id, "032x")
            self._logger.emit(
                timestamp=time.time_ns(),
                observed_timestamp=time.time_ns(),
                context=trace.set_span_in_context(span),
                severity_number=SeverityNumber.INFO,
                severity_text="INFO",
                body=f"canary probe {seq}",
                attributes={SEQ_ATTRIBUTE: seq},
            )
        if self.metrics_target is not None:
            # After this increment the series is at ``seq``: Prometheus holding a value >= seq has it.
            self.metrics.sent.labels(*self.metrics_target.labels).inc(1, exemplar={"trace_id": trace_id})
        return Probe(seq=seq, trace_id=trace_id, emitted=time.time())
