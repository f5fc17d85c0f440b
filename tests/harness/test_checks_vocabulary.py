"""The check vocabulary (harness/checks/<subject>.py) against a real HTTP server answering in
Prometheus' documented shapes, and against in-memory trace/log stores (the interfaces, not a
stand-in for a runnable service)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.base.waiting import GiveUp, WaitTimeout
from harness.checks import dashboards, histograms, logs, metrics, services, slis, traces
from harness.clients.app import AppClient
from harness.clients.model import LogRecord, LogStore, Span, Trace, TraceStore
from harness.clients.prometheus import PrometheusClient
from harness.drive import traffic
from harness.lab.engine import ServiceState
from tests.harness.fake_http import FakeServer, Recorded, Reply, fake_server

TID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def prom(server: FakeServer) -> FakeServer:
    """Prometheus, as a real HTTP server answering recorded replies (tests/harness/conftest.py)."""
    return server


@contextmanager
def app_metrics(text: str) -> Iterator[AppClient]:
    """The backend's /metrics answering ``text``, through the real app client."""
    with fake_server() as app:
        app.route("GET", "/metrics", Reply(body=text))
        yield AppClient(app.url)


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
    assert metrics.counter_grew_by(lab_with(prom), "sum(x)", 10, 5, timeout=5) == 15
    assert prom.last("/api/v1/query").param("query") == "sum(x)"


def test_counter_that_overshoots_fails_at_once(prom: FakeServer) -> None:
    prom.route("GET", "/api/v1/query", Reply(body=vector(({}, "17"))))
    with pytest.raises(GiveUp, match="grew from 10 to 17, more than 5"):
        metrics.counter_grew_by(lab_with(prom), "sum(x)", 10, 5, timeout=30)
    assert len(prom.requests) == 1  # no pointless waiting


def test_a_counter_that_never_moves_times_out_with_what_it_saw(prom: FakeServer) -> None:
    prom.route("GET", "/api/v1/query", Reply(body=vector(({}, "10"))))
    with pytest.raises(WaitTimeout, match=r"last seen: sum\(x\) = 10.0"):
        metrics.counter_grew_by(lab_with(prom), "sum(x)", 10, 5, timeout=1.5)


def test_missing_series_count_as_zero(prom: FakeServer) -> None:
    prom.route("GET", "/api/v1/query", Reply(body=vector()))
    assert metrics.prom_value(lab_with(prom), "sum(nothing)") == 0.0


def test_exemplar_for_trace_finds_the_trace_id(prom: FakeServer) -> None:
    body = {
        "status": "success",
        "data": [
            {
                "seriesLabels": {
                    "__name__": "http_request_duration_seconds_bucket",
                    "endpoint": "create_task",
                    "le": "0.025",
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
    found = histograms.exemplar_for_trace(lab_with(prom), "http_request_duration_seconds", "create_task", TID,
                                          timeout=3)
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
        metrics.scrape_targets_up(lab_with(prom), timeout=1.5)


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
    assert dashboards.dashboard_queries(tmp_path) == [
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
    trace = traces.trace_arrives(
        lab_with(traces=store),
        TID,
        timeout=10,
        require=lambda t: None if len(t.spans) == 3 else "spans missing",
    )
    server = traces.server_span(trace, "POST", "/api/tasks")
    manual = traces.descendant_named(trace, server, "create_task")
    assert traces.sql_descendant(trace, manual).name == "INSERT tasks.db"
    with pytest.raises(GiveUp, match=r"not in error status: POST /api/tasks \[server\] is unset"):
        traces.in_error(trace, ("POST", "/api/tasks"), ["create_task"])


def test_a_trace_that_never_arrives_says_which_store_and_id() -> None:
    with pytest.raises(WaitTimeout, match=f"memory has no trace {TID}"):
        traces.trace_arrives(lab_with(traces=MemoryTraces([None])), TID, timeout=1.2)


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


def test_log_records_are_picked_by_trace_and_message() -> None:
    records = [
        LogRecord(1, "Incoming request", "INFO", "flask-backend", TID, "a" * 16),
        LogRecord(2, "Simulated error", "ERROR", "flask-backend", TID, "a" * 16),
        LogRecord(3, "Incoming request", "INFO", "flask-backend", "f" * 32, "a" * 16),
    ]
    store = MemoryLogs(records)
    lab = lab_with(logs=store)
    assert [r.timestamp_ns for r in logs.log_records(lab, TID, text="Incoming request", timeout=2)] == [1]
    assert [r.timestamp_ns for r in logs.log_records(lab, TID, text="Simulated error", timeout=2)] == [2]
    assert store.asked[0] == {"service": "flask-backend", "text": "Incoming request", "trace_id": TID}
    with pytest.raises(WaitTimeout, match=r"no log record with .*body='Request completed' among 3"):
        logs.log_records(lab, TID, text="Request completed", timeout=1.2)


def test_prometheus_error_is_not_mistaken_for_no_data(prom: FakeServer) -> None:
    def bad(r: Recorded) -> Reply:
        return Reply(400, {"status": "error", "errorType": "bad_data", "error": "parse error at char 5"})

    prom.route("GET", "/api/v1/query", bad)
    with pytest.raises(Exception, match="parse error at char 5"):
        metrics.prom_value(lab_with(prom), "sum(")


def test_settled_counter_waits_until_prometheus_has_what_the_app_counted(prom: FakeServer) -> None:
    text = ("# TYPE http_requests_total counter\n"
            'http_requests_total{method="POST",endpoint="create_task",status_code="201"} 6.0\n'
            'http_requests_total{method="POST",endpoint="create_task",status_code="400"} 1.0\n'
            'http_requests_total{method="GET",endpoint="get_all_tasks",status_code="200"} 9.0\n')
    with app_metrics(text) as backend:
        scrapes = iter(["5", "5", "7"])  # Prometheus lags a scrape behind the app
        prom.route("GET", "/api/v1/query", lambda r: Reply(body=vector(({}, next(scrapes)))))
        lab = lab_with(prom, backend=backend)
        assert metrics.app_counter(lab, "http_requests_total", {"endpoint": "create_task"}) == 7.0
        settled = metrics.settled_counter(lab, "http_requests_total", {"endpoint": "create_task"}, timeout=10)
        assert settled == 7.0
        assert prom.last("/api/v1/query").param("query") == 'sum(http_requests_total{endpoint="create_task"})'


def test_a_trace_is_complete_only_when_its_spans_hang_from_the_server_span() -> None:
    sql_only = Trace(TID, TRACE.spans[2:])
    assert "roots: ['INSERT tasks.db']" in (traces.rooted_at_a_server_span(sql_only) or "")
    assert traces.rooted_at_a_server_span(TRACE) is None
    store = MemoryTraces([sql_only, TRACE])
    assert traces.trace_arrives(lab_with(traces=store), TID, timeout=10) is TRACE


# ------------------------------------------------------------- baselines that cannot go stale


def latency_buckets(endpoint: str, counts: dict[str, str]) -> list[tuple[dict[str, str], str]]:
    return [({"endpoint": endpoint, "le": le}, n) for le, n in counts.items()]


SLOW_BEFORE = {"1.0": "4", "2.5": "6", "5.0": "7", "+Inf": "7"}  # 1 request above 2.5 s, 3 above 1 s


def test_observations_between_two_bounds_of_the_histogram() -> None:
    buckets = {1.0: 4.0, 2.5: 6.0, 5.0: 7.0, float("inf"): 7.0}
    assert histograms.observations_between(buckets, 1.0, 2.5) == 2.0
    assert histograms.observations_between(buckets, 2.5, float("inf")) == 1.0
    with pytest.raises(GiveUp, match=r"no bucket bound at 2 s \(its bounds: 1, 2.5, 5, inf\): it cannot tell "
                                     r"whether a request took more than 2 s"):
        histograms.observations_between(buckets, 2.0, 5.0)
    with pytest.raises(GiveUp, match=r"no bucket bound at 6 s .* whether a request took at most 6 s"):
        histograms.observations_between(buckets, 1.0, 6.0)


def test_a_slow_request_is_counted_in_the_bucket_of_the_then_sentence(prom: FakeServer) -> None:
    """The snapshot holds whole buckets, so "in the bucket from 2.5 to 5 seconds" compares that
    bucket's counts before and after — not a bucket some earlier step chose."""
    snapshot = {"simulate_slow": {float(le): float(n) for le, n in SLOW_BEFORE.items()}}
    after = {"1.0": "4", "2.5": "6", "5.0": "8", "+Inf": "8"}  # one more request of 2.6 s
    prom.route("GET", "/api/v1/query", Reply(body=vector(*latency_buckets("simulate_slow", after))))
    assert histograms.request_in_bucket(lab_with(prom), "simulate_slow", 2.5, 5.0, snapshot, timeout=5) == 2.0
    assert prom.last().param("query") == "sum by (endpoint, le) (http_request_duration_seconds_bucket)"
    prom.route("GET", "/api/v1/query", Reply(body=vector(*latency_buckets("simulate_slow", SLOW_BEFORE))))
    with pytest.raises(WaitTimeout, match=r"1 simulate_slow requests in \(2.5 s, 5 s\] \(before: 1\)"):
        histograms.request_in_bucket(lab_with(prom), "simulate_slow", 2.5, 5.0, snapshot, timeout=1.2)


def test_the_first_slow_request_of_an_endpoint_counts_from_zero(prom: FakeServer) -> None:
    """An endpoint with no request yet is absent from the snapshot: its count before is 0."""
    after = {"1.0": "0", "2.5": "0", "5.0": "1", "+Inf": "1"}
    prom.route("GET", "/api/v1/query", Reply(body=vector(*latency_buckets("simulate_slow", after))))
    before = {"create_task": {1.0: 3.0, float("inf"): 3.0}}
    assert histograms.request_in_bucket(lab_with(prom), "simulate_slow", 2.5, 5.0, before, timeout=5) == 1.0


def test_a_bucket_the_histogram_does_not_have_fails_at_once(prom: FakeServer) -> None:
    buckets = {"1.0": "1", "15.0": "2", "+Inf": "3"}
    prom.route("GET", "/api/v1/query", Reply(body=vector(*latency_buckets("simulate_slow", buckets))))
    snapshot = {"simulate_slow": {1.0: 1.0, 15.0: 2.0, float("inf"): 2.0}}
    with pytest.raises(GiveUp, match="no bucket bound at 20 s"):
        histograms.request_in_bucket(lab_with(prom), "simulate_slow", 15.0, 20.0, snapshot, timeout=30)
    assert len(prom.requests) <= 1  # no pointless waiting


def test_the_latency_snapshot_waits_for_prometheus_to_hold_what_the_app_counted(prom: FakeServer) -> None:
    text = ('http_request_duration_seconds_count{method="GET",endpoint="simulate_slow"} 7.0\n'
            'http_request_duration_seconds_count{method="GET",endpoint="get_all_tasks"} 3.0\n')
    counts = iter(["9", "10"])  # the last scrape is still to come

    def answer(r: Recorded) -> Reply:
        if r.param("query") == "sum(http_request_duration_seconds_count{})":
            return Reply(body=vector(({}, next(counts))))
        other = ({"endpoint": "get_all_tasks", "le": "+Inf"}, "3")
        return Reply(body=vector(*latency_buckets("simulate_slow", SLOW_BEFORE), other))

    prom.route("GET", "/api/v1/query", answer)
    with app_metrics(text) as backend:
        snapshot = histograms.latency_snapshot(lab_with(prom, backend=backend))
    assert snapshot == {
        "simulate_slow": {1.0: 4.0, 2.5: 6.0, 5.0: 7.0, float("inf"): 7.0},
        "get_all_tasks": {float("inf"): 3.0},
    }
    queries = [r.param("query") for r in prom.requests if r.path == "/api/v1/query"]  # not the chart's range
    assert queries.count("sum(http_request_duration_seconds_count{})") == 2
    assert queries[-1] == "sum by (endpoint, le) (http_request_duration_seconds_bucket)"


REQUEST_SERIES = [({"__name__": "http_requests_total", "endpoint": e, "status_code": "200"}, "3")
                  for e in ("create_task", "get_all_tasks")]


def requests_answer(total: str) -> Any:
    """Prometheus answering the raw series of http_requests_total, and ``total`` for a sum."""
    return lambda r: Reply(body=vector(*REQUEST_SERIES) if r.param("query") == "http_requests_total"
                           else vector(({}, total)))


def test_a_counter_is_compared_only_with_the_value_noted_for_its_endpoint(prom: FakeServer) -> None:
    prom.route("GET", "/api/v1/query", requests_answer("15"))
    assert metrics.requests_grew_by(lab_with(prom), "create_task", {"create_task": 10.0}, 5, timeout=5) == 15
    assert prom.last().param("query") == 'sum(http_requests_total{endpoint="create_task"})'
    with pytest.raises(AssertionError, match=r"no request count of 'delete_task' was noted \(noted: \['cr"):
        metrics.requests_grew_by(lab_with(prom), "delete_task", {"create_task": 10.0}, 5)


def test_an_sli_is_named_as_the_sentence_names_it(prom: FakeServer) -> None:
    prom.route("GET", "/api/v1/query", Reply(body=vector(({}, "0.2"))))
    noted = {"error-rate": 0.0, "p95 latency": 0.5, "availability": 1.0}
    assert slis.sli_rises(lab_with(prom), "error-rate", noted, timeout=5) == 0.2
    assert prom.last().param("query") == "max(sli:error_rate:ratio_rate1m)"
    with pytest.raises(AssertionError, match="no SLI called 'latency'; the SLIs are error-rate, p95 latency"):
        slis.sli_rises(lab_with(prom), "latency", noted)
    assert set(slis.sli_values(lab_with(prom))) == set(noted)


# ------------------------------------------------------------------------- answers and changes


def test_containers_recreated_names_each_changed_service() -> None:
    before = {"backend": "a1", "frontend": "b1", "jaeger": "c1"}
    assert services.containers_recreated(before, dict(before)) == {}
    after = {"backend": "a2", "frontend": "b1", "prometheus": "d1"}
    assert services.containers_recreated(before, after) == {
        "backend": ("a1", "a2"),
        "jaeger": ("c1", None),
        "prometheus": (None, "d1"),
    }


def test_task_list_shape() -> None:
    services.task_list({"tasks": [{"id": 1}], "count": 3})
    with pytest.raises(AssertionError, match="no 'tasks' list"):
        services.task_list({"items": []})
    with pytest.raises(AssertionError, match="bad count"):
        services.task_list({"tasks": [{"id": 1}, {"id": 2}], "count": 1})
    with pytest.raises(AssertionError, match="no 'tasks' list"):
        services.task_list(None)


def test_records_of_several_texts_and_their_service() -> None:
    records = [
        LogRecord(1, "Incoming request", "INFO", "flask-backend", TID, "a" * 16),
        LogRecord(2, "Request completed", "INFO", "flask-backend", TID, "a" * 16),
    ]
    found = logs.log_records_saying(
        lab_with(logs=MemoryLogs(records)), TID, ["Incoming request", "Request completed"], timeout=2
    )
    assert [r.timestamp_ns for r in found] == [1, 2]
    logs.records_name_service(found, "flask-backend")
    with pytest.raises(AssertionError, match=r"\('Incoming request', 'flask-backend'\)"):
        logs.records_name_service(found[:1], "frontend-browser")
    with pytest.raises(AssertionError, match="no log records"):
        logs.records_name_service([], "flask-backend")


def test_manual_span_is_found_below_the_server_span_of_the_route() -> None:
    assert traces.manual_span(TRACE, ("POST", "/api/tasks"), "create_task").span_id == "b" * 16
    with pytest.raises(AssertionError, match=r"no server span with .*method='GET', route='/api/tasks'"):
        traces.manual_span(TRACE, ("GET", "/api/tasks"), "create_task")


def test_the_vocabulary_does_not_import_the_lab_lifecycle() -> None:
    """The checks are a vocabulary over a Lab: importing them must not import harness.lab.lifecycle
    (nor targets)."""
    code = ("import sys, harness.checks.traces, harness.checks.logs, harness.checks.metrics, "
            "harness.checks.histograms, harness.checks.slis, harness.checks.services, "
            "harness.checks.dashboards, harness.checks.grafana; "
            "print(sorted(m for m in sys.modules if m.startswith('harness.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert "'harness.lab.lifecycle'" not in out.stdout and "harness.lab.targets" not in out.stdout, out.stdout


# ------------------------------------------------------------------------- service states


class StatesTarget:
    """The Target calls these helpers make, answering with the engine's typed states."""

    def __init__(self, *answers: dict[str, ServiceState]) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    def status(self) -> dict[str, ServiceState]:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def start(self, service: str) -> None:
        self.calls.append(f"start {service}")

    def wait_healthy(self, service: str, timeout: float = 60.0) -> None:
        self.calls.append(f"wait {service} {timeout:g}")


STORE_SET = SimpleNamespace(stores="jaeger-victorialogs")
RUNNING = {name: ServiceState("running") for name in
           ("frontend", "otel-collector", "prometheus", "jaeger", "victorialogs")}


def test_services_healthy_waits_for_every_healthcheck() -> None:
    starting = {**RUNNING, "backend": ServiceState("running", "starting")}
    healthy = {**RUNNING, "backend": ServiceState("running", "healthy")}
    states = services.services_healthy(lab_with(target=StatesTarget(starting, healthy), config=STORE_SET),
                                       timeout=5)
    assert states["backend"] == "running (healthy)" and states["jaeger"] == "running"
    exited = {**RUNNING, "backend": ServiceState("exited", exit_code=3)}
    with pytest.raises(WaitTimeout, match=r"backend': 'exited \(exit 3\).*services as the engine sees them"):
        services.services_healthy(lab_with(target=StatesTarget(exited), config=STORE_SET), timeout=1.2)


def test_ensure_started_starts_only_what_is_not_running_and_waits_for_health() -> None:
    stopped = StatesTarget({"otel-collector": ServiceState("exited")})
    traffic.ensure_started(lab_with(target=stopped), "otel-collector", timeout=9)
    assert stopped.calls == ["start otel-collector", "wait otel-collector 9"]
    running = StatesTarget({"otel-collector": ServiceState("running", "starting")})
    traffic.ensure_started(lab_with(target=running), "otel-collector")
    assert running.calls == ["wait otel-collector 90"]
