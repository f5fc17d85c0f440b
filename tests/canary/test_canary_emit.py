"""The canary's probe (app/canary/pipeline_canary/emit.py) through the real OpenTelemetry SDK into
in-memory exporters: each probe a root span of a trace of its own, a log record in that trace with
the sequence number, and the metrics target's counter at the sequence number with the trace id as
exemplar on /metrics (OpenMetrics, what Prometheus asks for)."""

from __future__ import annotations

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pipeline_canary import SERVICE_NAME
from pipeline_canary.emit import SEQ_ATTRIBUTE, SPAN_NAME, Emitter
from pipeline_canary.metrics import Metrics
from pipeline_canary.readback import METRICS_TARGET
from prometheus_client.openmetrics.exposition import generate_latest

from tests.canary.conftest import sample


def _emitter(metrics: Metrics) -> tuple[Emitter, InMemorySpanExporter, InMemoryLogRecordExporter]:
    resource = Resource.create({"service.name": SERVICE_NAME})
    spans, logs = InMemorySpanExporter(), InMemoryLogRecordExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    return Emitter(tracer_provider, logger_provider, metrics, METRICS_TARGET), spans, logs


def test_each_probe_is_a_root_span_and_a_log_record_of_one_fresh_trace(metrics: Metrics) -> None:
    emitter, spans, logs = _emitter(metrics)
    probes = [emitter.emit() for _ in range(3)]
    assert [p.seq for p in probes] == [1, 2, 3]
    assert len({p.trace_id for p in probes}) == 3
    finished = spans.get_finished_spans()
    assert [(s.name, s.parent, s.attributes[SEQ_ATTRIBUTE]) for s in finished] == [
        (SPAN_NAME, None, 1), (SPAN_NAME, None, 2), (SPAN_NAME, None, 3)]
    assert [format(s.context.trace_id, "032x") for s in finished] == [p.trace_id for p in probes]
    assert finished[0].resource.attributes["service.name"] == SERVICE_NAME
    records = [d.log_record for d in logs.get_finished_logs()]
    assert [(format(r.trace_id, "032x"), r.attributes[SEQ_ATTRIBUTE], r.body) for r in records] == [
        (p.trace_id, p.seq, f"canary probe {p.seq}") for p in probes]
    assert [r.span_id for r in records] == [s.context.span_id for s in finished]


def test_the_metrics_probe_is_the_counter_at_the_sequence_number_with_the_trace_id_as_exemplar(
        metrics: Metrics) -> None:
    emitter, _, _ = _emitter(metrics)
    emitter.emit()
    last = emitter.emit()
    assert sample(metrics, "pipeline_canary_probes_sent_total", *METRICS_TARGET.labels) == 2
    page = generate_latest(metrics.registry).decode()
    line = next(x for x in page.splitlines()
                if x.startswith('pipeline_canary_probes_sent_total{signal="metrics",store="prometheus"}'))
    assert line.split(" # ")[1].startswith(f'{{trace_id="{last.trace_id}"}} 1.0')
