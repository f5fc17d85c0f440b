"""The assertion vocabulary against a real HTTP server answering in Prometheus' documented shapes,
and against in-memory trace/log stores (the interfaces, not a stand-in for a runnable service)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness import expect
from harness.signals.app import AppClient
from harness.signals.model import LogRecord, LogStore, Span, Trace, TraceStore
from harness.signals.prometheus import PrometheusClient
from harness.signals.testing import FakeServer, Recorded, Reply
from harness.waiting import GiveUp, WaitTimeout

TID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def prom() -> Any:
    server = FakeServer()
    server.start()
    yield server
    server.stop()


def vector(*samples: tuple[dict[str, str], str]) -> dict[str, Any]:
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": m, "value": [1700000000.0, v]} for m, v in samples],
        },
    }


def lab_with(prom_server: FakeServer | None = None, **kw: Any) -> Any:
    prometheus = PrometheusClient(prom_server.url) if prom_server else None
    return SimpleNamespace(prometheus=prometheus, **kw)


def test_counter_grew_by_waits_for_the_exact_value(prom: FakeServer) -> None:
    values = iter(["10", "12", "15"])
    prom.route("GET", "/api/v1/query", lambda r: Reply(body=vector(({}, next(values)))))
    assert expect.counter_grew_by(lab_with(prom), "sum(x)", 10, 5, timeout=5) == 15
    assert prom.last("/api/v1/query").param("query") == "sum(x)"


def test_counter_that_overshoots_fails_at_once(prom: FakeServer) -> None:
    prom.route("GET", "/api/v1/query", Reply(body=vector(({}, "17"))))
    with pytest.raises(GiveUp, match="grew from 10 to 17, more than 5"):
        expect.counter_grew_by(lab_with(prom), "sum(x)", 10, 5, timeout=30)
    assert len(prom.requests) == 1  # no pointless waiting


def test_a_counter_that_never_moves_times_out_with_what_it_saw(prom: FakeServer) -> None:
    prom.route("GET", "/api/v1/query", Reply(body=vector(({}, "10"))))
    with pytest.raises(WaitTimeout, match=r"last seen: sum\(x\) = 10.0"):
        expect.counter_grew_by(lab_with(prom), "sum(x)", 10, 5, timeout=1.5)


def test_missing_series_count_as_zero(prom: FakeServer) -> None:
    prom.route("GET", "/api/v1/query", Reply(body=vector()))
    assert expect.prom_value(lab_with(prom), "sum(nothing)") == 0.0


def test_count_slower_than_uses_the_first_bucket_at_or_above(prom: FakeServer) -> None:
    buckets = [({"le": "0.5"}, "3"), ({"le": "1.0"}, "4"), ({"le": "2.5"}, "6"), ({"le": "+Inf"}, "7")]
    prom.route("GET", "/api/v1/query", Reply(body=vector(*buckets)))
    assert expect.count_slower_than(lab_with(prom), "h", 'endpoint="x"', 1.0) == 3.0
    assert expect.count_slower_than(lab_with(prom), "h", 'endpoint="x"', 0.7) == 3.0
    assert expect.count_slower_than(lab_with(prom), "h", 'endpoint="x"', 0.1) == 4.0
    assert prom.last().param("query") == 'sum by (le) (h_bucket{endpoint="x"})'


def test_exemplar_for_trace_finds_the_trace_id(prom: FakeServer) -> None:
    body = {
        "status": "success",
        "data": [
            {
                "seriesLabels": {
                    "__name__": "http_request_duration_seconds_bucket",
                    "endpoint": "create_task",
                },
                "exemplars": [
                    {"labels": {"trace_id": "0" * 32}, "value": "0.01", "timestamp": 1700000000.1},
                    {"labels": {"trace_id": TID}, "value": "0.02", "timestamp": 1700000001.2},
                ],
            }
        ],
    }
    prom.route("GET", "/api/v1/query_exemplars", Reply(body=body))
    prom.route("POST", "/api/v1/query_exemplars", Reply(body=body))
    found = expect.exemplar_for_trace(lab_with(prom), "http_request_duration_seconds", TID, timeout=3)
    assert found["exemplar"]["labels"]["trace_id"] == TID
    assert found["series"]["endpoint"] == "create_task"


def test_scrape_targets_up_names_the_target_that_is_down(prom: FakeServer) -> None:
    body = {
        "status": "success",
        "data": {
            "activeTargets": [
                {
                    "labels": {"job": "flask-backend"},
                    "scrapePool": "flask-backend",
                    "scrapeUrl": "http://backend:5000/metrics",
                    "health": "up",
                    "lastError": "",
                },
                {
                    "labels": {"job": "otel-collector"},
                    "scrapePool": "otel-collector",
                    "scrapeUrl": "http://otel-collector:8888/metrics",
                    "health": "down",
                    "lastError": "connection refused",
                },
            ],
            "droppedTargets": [],
        },
    }
    prom.route("GET", "/api/v1/targets", Reply(body=body))
    with pytest.raises(WaitTimeout, match=r"otel-collector.*connection refused"):
        expect.scrape_targets_up(lab_with(prom), timeout=1.5)


def test_dashboard_queries_are_found_and_made_concrete(tmp_path: Path) -> None:
    board = {
        "uid": "b1",
        "templating": {"list": [{"name": "endpoint", "includeAll": True, "current": {"value": "$__all"}}]},
        "panels": [
            {
                "title": "Rate",
                "datasource": {"uid": "prometheus"},
                "targets": [{"expr": "sum(rate(x[$__rate_interval])) by (endpoint)"}],
            },
            {
                "title": "Row",
                "type": "row",
                "panels": [
                    {
                        "title": "Nested",
                        "targets": [
                            {"expr": 'x{endpoint=~"$endpoint"}', "datasource": {"uid": "prometheus"}}
                        ],
                    }
                ],
            },
            {"title": "Logs", "targets": [{"expr": '{service_name="a"}', "datasource": {"uid": "loki"}}]},
        ],
    }
    (tmp_path / "b1.json").write_text(json.dumps(board))
    assert expect.dashboard_queries(tmp_path) == [
        ("b1", "Rate", "sum(rate(x[1m])) by (endpoint)"),
        ("b1", "Nested", 'x{endpoint=~".*"}'),
    ]


class MemoryTraces(TraceStore):
    name = "memory"

    def __init__(self, answers: list[Trace | None]):
        self.answers = answers

    def get_trace(self, trace_id: str) -> Trace | None:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def search(self, service: str, *, limit: int = 20, lookback_s: int = 900) -> list[str]:
        return []

    def ready(self) -> bool:
        return True


def span(
    name: str, sid: str, parent: str | None, kind: str = "internal", status: str = "unset", **attrs: Any
) -> Span:
    return Span(TID, sid, parent, name, "flask-backend", kind, status, attrs)


TRACE = Trace(
    TID,
    (
        span(
            "POST /api/tasks",
            "a" * 16,
            None,
            "server",
            **{"http.request.method": "POST", "http.route": "/api/tasks"},
        ),
        span("create_task", "b" * 16, "a" * 16, **{"task.title": "t"}),
        span("INSERT tasks.db", "c" * 16, "b" * 16, "client", **{"db.system": "sqlite"}),
    ),
)


def test_trace_arrives_waits_until_the_requirement_holds() -> None:
    partial = Trace(TID, TRACE.spans[:1])
    store = MemoryTraces([None, partial, TRACE])
    trace = expect.trace_arrives(
        lab_with(traces=store),
        TID,
        timeout=10,
        require=lambda t: None if len(t.spans) == 3 else "spans missing",
    )
    server = expect.server_span(trace, "POST", "/api/tasks")
    manual = expect.descendant_named(trace, server, "create_task")
    assert expect.sql_descendant(trace, manual).name == "INSERT tasks.db"
    with pytest.raises(AssertionError, match="no span with error status"):
        expect.error_span(trace)


def test_a_trace_that_never_arrives_says_which_store_and_id() -> None:
    with pytest.raises(WaitTimeout, match=f"memory has no trace {TID}"):
        expect.trace_arrives(lab_with(traces=MemoryTraces([None])), TID, timeout=1.2)


class MemoryLogs(LogStore):
    name = "memory"

    def __init__(self, records: list[LogRecord]):
        self.records = records
        self.asked: list[dict[str, Any]] = []

    def query(
        self,
        service: str,
        *,
        text: str | None = None,
        trace_id: str | None = None,
        lookback_s: int = 900,
        limit: int = 200,
    ) -> list[LogRecord]:
        self.asked.append({"service": service, "text": text, "trace_id": trace_id})
        return [r for r in self.records if r.service == service]

    def ready(self) -> bool:
        return True


def test_log_records_filter_on_trace_text_and_severity() -> None:
    records = [
        LogRecord(1, "Incoming request", "INFO", "flask-backend", TID, "a" * 16),
        LogRecord(2, "Simulated error", "ERROR", "flask-backend", TID, "a" * 16),
        LogRecord(3, "Incoming request", "INFO", "flask-backend", "f" * 32, "a" * 16),
    ]
    store = MemoryLogs(records)
    lab = lab_with(logs=store)
    assert [r.timestamp_ns for r in expect.log_records(lab, TID, text="Incoming request", timeout=2)] == [1]
    assert [r.timestamp_ns for r in expect.log_records(lab, TID, severity="error", timeout=2)] == [2]
    assert store.asked[0] == {"service": "flask-backend", "text": "Incoming request", "trace_id": TID}
    with pytest.raises(WaitTimeout, match="none matching"):
        expect.log_records(lab, TID, text="Request completed", timeout=1.2)


def test_prometheus_error_is_not_mistaken_for_no_data(prom: FakeServer) -> None:
    def bad(r: Recorded) -> Reply:
        return Reply(400, {"status": "error", "errorType": "bad_data", "error": "parse error at char 5"})

    prom.route("GET", "/api/v1/query", bad)
    with pytest.raises(Exception, match="parse error at char 5"):
        expect.prom_value(lab_with(prom), "sum(")


def test_settled_counter_waits_until_prometheus_has_what_the_app_counted(prom: FakeServer) -> None:
    app = FakeServer()
    app.route(
        "GET",
        "/metrics",
        Reply(
            body=(
                "# TYPE http_requests_total counter\n"
                'http_requests_total{method="POST",endpoint="create_task",status_code="201"} 6.0\n'
                'http_requests_total{method="POST",endpoint="create_task",status_code="400"} 1.0\n'
                'http_requests_total{method="GET",endpoint="get_all_tasks",status_code="200"} 9.0\n'
            )
        ),
    )
    app.start()
    try:
        scrapes = iter(["5", "5", "7"])  # Prometheus lags a scrape behind the app
        prom.route("GET", "/api/v1/query", lambda r: Reply(body=vector(({}, next(scrapes)))))
        lab = lab_with(prom, backend=AppClient(app.url))
        assert expect.app_counter(lab, "http_requests_total", {"endpoint": "create_task"}) == 7.0
        assert (
            expect.settled_counter(lab, "http_requests_total", {"endpoint": "create_task"}, timeout=10) == 7.0
        )
        assert prom.last("/api/v1/query").param("query") == 'sum(http_requests_total{endpoint="create_task"})'
    finally:
        app.stop()


def test_a_trace_is_complete_only_when_its_spans_hang_from_the_server_span() -> None:
    sql_only = Trace(TID, TRACE.spans[2:])
    assert "roots: ['INSERT tasks.db']" in (expect.rooted_at_a_server_span(sql_only) or "")
    assert expect.rooted_at_a_server_span(TRACE) is None
    store = MemoryTraces([sql_only, TRACE])
    assert expect.trace_arrives(lab_with(traces=store), TID, timeout=10) is TRACE
