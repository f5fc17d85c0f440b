"""The waits the fault scenarios added: failing waits say what each hop counted, traces of
requests without trace context are found by their tasks, the SLI window is waited empty and "no
data" is risen from, Prometheus' history is checked at a moment, and the front must hold steady."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from harness.base.waiting import WaitTimeout
from harness.checks import expectation, metrics, slis, traces
from harness.clients import hops
from harness.clients.model import Span, Trace, TraceStore
from harness.drive import traffic
from tests.harness.fake_http import FakeServer, Reply
from tests.harness.test_checks_vocabulary import lab_with, vector


@pytest.fixture
def prom(server: FakeServer) -> FakeServer:
    return server


class Traces(TraceStore):
    name = "memory"

    def __init__(self, traces: dict[str, Trace]):
        self.traces = traces

    def get_trace(self, trace_id: str) -> Trace | None:
        return self.traces.get(trace_id)

    def search(self, service: str, *, limit: int = 20, lookback_s: int = 900) -> list[str]:
        return list(self.traces)[:limit]

    def ready(self) -> bool:
        return True


def task_trace(trace_id: str, title: str) -> Trace:
    attributes = {"task.title": title}
    span = Span(trace_id, "a" * 16, None, "create_task", "flask-backend", "internal", "unset", attributes)
    return Trace(trace_id, (span,))


def test_a_wait_that_times_out_says_what_each_hop_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = []
    monkeypatch.setattr(hops, "explain", lambda lab, signal, since=None: asked.append(signal) or
                        "the collector accepted 3 spans, sent 0 to jaeger")
    with pytest.raises(WaitTimeout) as caught:
        traces.trace_arrives(lab_with(traces=Traces({})), "f" * 32, timeout=1.2)
    text = str(caught.value)
    assert text.startswith("timed out after") and f"memory has no trace {'f' * 32}" in text
    assert text.endswith("; traces by hop: the collector accepted 3 spans, sent 0 to jaeger")
    assert asked == ["traces"]
    assert expectation.expect_within(lab_with(), "logs", lambda: 7, what="seven", timeout=1) == 7
    assert asked == ["traces"], "no counters are read when the wait succeeds"


def test_explain_never_breaks_a_failure_message() -> None:
    line = hops.explain(lab_with(), "traces")  # a lab whose hops cannot be read at all
    assert isinstance(line, str) and "\n" not in line


def test_traces_of_tasks_sent_without_trace_context_are_found_by_title() -> None:
    store = Traces({"1" * 32: task_trace("1" * 32, "t1"), "2" * 32: task_trace("2" * 32, "other"),
                    "3" * 32: task_trace("3" * 32, "t2")})
    assert traces.traces_of_tasks(lab_with(traces=store), ["t1", "t2"], timeout=3) == {
        "t1": "1" * 32, "t2": "3" * 32}
    with pytest.raises(WaitTimeout, match=r"traces of 1 of the 2 tasks, none of \['t3'\]"):
        traces.traces_of_tasks(lab_with(traces=store), ["t1", "t3"], timeout=1.2)


def test_sli_rises_from_no_data_and_the_window_is_waited_empty(prom: FakeServer) -> None:
    # the request rate reads 0 before the p95 has caught up: quiet only once every SLI has no data
    answers = {"sum(sli:requests:rate1m)": iter(["0.3", "0", "0"]),
               "max(sli:latency_p95:seconds_rate1m)": iter(["2.4", "2.4", "NaN"])}
    prom.route("GET", "/api/v1/query", lambda r: Reply(body=vector(
        ({}, next(answers[r.param("query")])) if r.param("query") in answers else ({}, "NaN"))))
    slis.sli_window_quiet(lab_with(prom), timeout=8)
    asked = [r.param("query") for r in prom.requests]
    assert asked.count("sum(sli:requests:rate1m)") == 3 and set(asked) == {
        "sum(sli:requests:rate1m)", *slis.SLI_QUERIES.values()}
    prom.route("GET", "/api/v1/query", lambda r: Reply(body=vector(
        ({}, "0") if "requests" in r.param("query") else ({}, "1.9"))))
    with pytest.raises(WaitTimeout, match=r"last seen: requests 0, error-rate 1\.9, p95 latency 1\.9"):
        slis.sli_window_quiet(lab_with(prom), timeout=1.2)
    prom.route("GET", "/api/v1/query", Reply(body=vector(({}, "0.77"))))
    noted = {"error-rate": math.nan, "p95 latency": math.nan, "availability": math.nan}
    assert slis.sli_rises(lab_with(prom), "error-rate", noted, timeout=3) == 0.77
    prom.route("GET", "/api/v1/query", Reply(body=vector(({}, "NaN"))))
    with pytest.raises(WaitTimeout, match="to rise above 0 \\(it had no data\\)"):
        slis.sli_rises(lab_with(prom), "p95 latency", noted, timeout=1.2)


def test_a_sample_is_checked_at_its_own_moment(prom: FakeServer) -> None:
    prom.route("GET", "/api/v1/query", Reply(body=vector(({}, "4"))))
    started = time.monotonic()
    sample = metrics.prometheus_sample(lab_with(prom), "sum(x)", timeout=3, settle=0.3)
    assert time.monotonic() - started >= 0.3, "the value is read once the moment has settled"
    assert sample.at == 1700000000.0, "the moment is Prometheus' own now (the answer's timestamp)"
    assert sample.value == 4 and float(prom.last("/api/v1/query").param("time")) == pytest.approx(sample.at)
    metrics.sample_still_there(lab_with(prom), sample, timeout=3)
    assert float(prom.last().param("time")) == pytest.approx(sample.at)
    prom.route("GET", "/api/v1/query", Reply(body=vector()))
    with pytest.raises(WaitTimeout, match="no sample of sum\\(x\\)"):
        metrics.sample_still_there(lab_with(prom), sample, timeout=1.2)
    prom.route("GET", "/api/v1/query", Reply(body=vector(({}, "1"))))
    with pytest.raises(AssertionError, match="with 1, not 4"):
        metrics.sample_still_there(lab_with(prom), sample, timeout=3)


def test_the_front_must_answer_n_in_a_row() -> None:
    statuses = iter([200, 502, 200, 200, 200, 200])

    class Front:
        def list_tasks(self) -> tuple[int, Any]:
            return next(statuses, 200), {}

    assert traffic.front_steady(Front(), 3, timeout=5) == [200, 200, 200]

    class Broken:
        def list_tasks(self) -> tuple[int, Any]:
            return 502, {}

    with pytest.raises(WaitTimeout, match=r"3 of 3 requests through the front did not answer 200"):
        traffic.front_steady(Broken(), 3, timeout=1.2)


def test_metrics_must_stay_fresh_while_watched(prom: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hops, "explain", lambda lab, signal, since=None: "the app counted 3 requests")
    prom.route("GET", "/api/v1/query", Reply(body=vector(({}, "1.5"))))
    assert metrics.metrics_fresh(lab_with(prom), "flask-backend", max_age=15, watch=1.5) == 1.5
    assert prom.last().param("query") == 'time() - max(timestamp(up{job="flask-backend"}))'
    ages = iter(["2", "47"])
    prom.route("GET", "/api/v1/query", lambda r: Reply(body=vector(({}, next(ages)))))
    with pytest.raises(AssertionError, match=r"is 47 s old, more than 15 s .*the app counted 3"):
        metrics.metrics_fresh(lab_with(prom), "flask-backend", max_age=15, watch=20)
    prom.route("GET", "/api/v1/query", Reply(body=vector()))
    with pytest.raises(WaitTimeout, match="no sample of job flask-backend yet"):
        metrics.metrics_fresh(lab_with(prom), "flask-backend", max_age=1.2, watch=20)


def test_a_counter_from_before_the_app_restarted_is_not_settled(prom: FakeServer) -> None:
    """Prometheus still holds 13 from the old process; the new one has counted 5 (a recreate)."""
    answers = iter(["13", "13", "5"])
    prom.route("GET", "/api/v1/query", lambda r: Reply(body=vector(({}, next(answers, "5")))))
    text = 'http_requests_total{endpoint="create_task"} 5.0\n'
    backend = type("App", (), {"metrics_text": lambda self: text})()
    lab = lab_with(prom, backend=backend)
    assert metrics.settled_counter(lab, "http_requests_total", {"endpoint": "create_task"}, timeout=10) == 5
