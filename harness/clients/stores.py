"""Which trace store and log store serve the lab: chosen once from ``endpoints.stores`` so steps
ask "the trace store" and "the log store" and never name Jaeger, Tempo, VictoriaLogs or Loki."""

from __future__ import annotations

from typing import Protocol

from harness.base.errors import ConfigError
from harness.base.http import DEFAULT_TIMEOUT
from harness.clients.jaeger import JaegerTraceStore
from harness.clients.loki import LokiLogStore
from harness.clients.model import LogStore, TraceStore
from harness.clients.tempo import TempoTraceStore
from harness.clients.victorialogs import VictoriaLogsStore


class HasStores(Protocol):  # harness.lab.targets.base.Endpoints satisfies this
    stores: str
    traces: str
    logs: str


def trace_store_for(endpoints: HasStores, *, timeout: float = DEFAULT_TIMEOUT) -> TraceStore:
    """Jaeger for ``jaeger-victorialogs``, Tempo for ``tempo-loki``, at ``endpoints.traces``."""
    if endpoints.stores == "jaeger-victorialogs":
        return JaegerTraceStore(endpoints.traces, timeout=timeout)
    if endpoints.stores == "tempo-loki":
        return TempoTraceStore(endpoints.traces, timeout=timeout)
    raise ConfigError(f"store set {endpoints.stores!r} has no trace store; "
                      "use jaeger-victorialogs or tempo-loki")


def log_store_for(endpoints: HasStores, *, timeout: float = DEFAULT_TIMEOUT) -> LogStore:
    """VictoriaLogs for ``jaeger-victorialogs``, Loki for ``tempo-loki``, at ``endpoints.logs``."""
    if endpoints.stores == "jaeger-victorialogs":
        return VictoriaLogsStore(endpoints.logs, timeout=timeout)
    if endpoints.stores == "tempo-loki":
        return LokiLogStore(endpoints.logs, timeout=timeout)
    raise ConfigError(f"store set {endpoints.stores!r} has no log store; "
                      "use jaeger-victorialogs or tempo-loki")
