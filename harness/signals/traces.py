"""The trace-store interface and its implementations in one import (ADR 0001 names
``harness.signals.traces.TraceStore``); the definitions live in :mod:`harness.signals.model`."""

from harness.signals.jaeger import JaegerTraceStore
from harness.signals.model import Span, Trace, TraceStore
from harness.signals.stores import trace_store_for
from harness.signals.tempo import TempoTraceStore

__all__ = ["JaegerTraceStore", "Span", "TempoTraceStore", "Trace", "TraceStore", "trace_store_for"]
