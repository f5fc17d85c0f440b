"""Prometheus metrics: the one source of metrics (OTel carries traces and logs only).

Each app owns its registry, so tests can build several apps in one process. Histograms carry the
current trace id as an exemplar; exemplars are only shown when the scraper asks for OpenMetrics.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Response, request
from opentelemetry import trace
from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import choose_encoder
from sqlalchemy import event
from sqlalchemy.engine import Engine

# A bound at every latency SLO threshold (0.5 s: stack/prometheus/rules/slo.alerts.yml), or
# histogram_quantile interpolates across the bucket around it and the alert fires by arithmetic;
# tests/app/test_app_metrics.py reads the alert rules and checks it.
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)
DB_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
DB_OPERATIONS = ("SELECT", "INSERT", "UPDATE", "DELETE")
# Methods outside this set are counted as OTHER: a client must not be able to mint label values.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNKNOWN_ENDPOINT = "unknown"
_START_KEY = "taskapp_query_start"


def current_exemplar() -> dict[str, str] | None:
    """{"trace_id": ...} of the active span, or None when there is no valid span context."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return {"trace_id": format(ctx.trace_id, "032x")}


class Metrics:
    """The metric families of one app and the hooks that feed them."""

    def __init__(self, registry: CollectorRegistry | None = None, *, process_metrics: bool = True) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        if process_metrics:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        labels = ("method", "endpoint", "status_code")
        self.requests = Counter(
            "http_requests_total", "HTTP requests served, by Flask endpoint.", labels, registry=self.registry
        )
        self.errors = Counter(
            "http_errors_total", "HTTP responses with status >= 400.", labels, registry=self.registry
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time from the first request hook to the response, in seconds.",
            labels,
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )
        self.db_duration = Histogram(
            "db_query_duration_seconds",
            "Time spent in one SQL statement (cursor execute), by operation.",
            ("operation",),
            buckets=DB_BUCKETS,
            registry=self.registry,
        )

    # -- HTTP ---------------------------------------------------------------------------------
    def declare(self, method: str, endpoint: str, success: int) -> None:
        """Create an endpoint's series at 0 before its first request.

        Prometheus' rate() cannot see a series' first value: a burst of errors on an endpoint that
        never failed before would otherwise leave the error-rate SLI unmoved (NaN in a quiet window),
        and a first slow request the latency SLI. So each API endpoint starts with its success status
        and 500 in the counters and its success status in the histogram (bounded: about 20 series).
        """
        for status in dict.fromkeys((success, 500)):
            labels = (method, endpoint, str(status))
            self.requests.labels(*labels)
            if status >= 400:
                self.errors.labels(*labels)
        self.duration.labels(method, endpoint, str(success))

    def observe_request(self, method: str, endpoint: str | None, status: int, seconds: float) -> None:
        """Count one finished request (and one error when status >= 400)."""
        labels = (
            method if method in KNOWN_METHODS else "OTHER",
            endpoint or UNKNOWN_ENDPOINT,
            str(status),
        )
        self.requests.labels(*labels).inc()
        if status >= 400:
            self.errors.labels(*labels).inc()
        self.duration.labels(*labels).observe(seconds, exemplar=current_exemplar())

    def exposition(self) -> Response:
        """The /metrics response, in the format the scraper's Accept header asks for."""
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return Response(encoder(self.registry), status=200, headers={"Content-Type": content_type})

    # -- database -----------------------------------------------------------------------------
    def instrument_engine(self, engine: Engine) -> None:
        """Time every statement on this engine; statements other than the four DML verbs are ignored."""
        event.listen(engine, "before_cursor_execute", self._before_cursor_execute)
        event.listen(engine, "after_cursor_execute", self._after_cursor_execute)
        event.listen(engine, "handle_error", self._on_error)

    @staticmethod
    def _before_cursor_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info.setdefault(_START_KEY, []).append(time.perf_counter())

    @staticmethod
    def _on_error(exception_context: Any) -> None:
        """A failed statement never reaches after_cursor_execute: drop its start time."""
        conn = exception_context.connection
        starts = conn.info.get(_START_KEY) if conn is not None else None
        if starts:
            starts.pop()

    def _after_cursor_execute(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        starts = conn.info.get(_START_KEY)
        if not starts:
            return
        elapsed = time.perf_counter() - starts.pop()
        operation = statement.lstrip(" \t\r\n(").split(None, 1)[0].upper() if statement.strip() else ""
        if operation in DB_OPERATIONS:
            self.db_duration.labels(operation).observe(elapsed, exemplar=current_exemplar())
