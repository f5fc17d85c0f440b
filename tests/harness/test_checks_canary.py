"""The canary steady-state check (harness/checks/canary.py, ADR 0020) against a real HTTP server
answering Prometheus' instant-query envelope: the PromQL it sends over the scenario's window, and the
verdicts — a healthy window passes; a loss, a signal never found, a slow p95, a probe waiting too
long and no canary at all each fail naming the signal, the store and the number."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from harness.checks import canary
from harness.clients.prometheus import PrometheusClient
from tests.harness.fake_http import FakeServer, Recorded, Reply

TARGETS = (("traces", "jaeger"), ("logs", "victorialogs"), ("metrics", "prometheus"))
HEALTHY = {"sent": 60.0, "found": 60.0, "lost": 0.0, "late": 0.0, "p95": 1.9, "waiting": 1.0}


def vector(values: dict[tuple[str, str], float]) -> dict:
    result = [{"metric": {"signal": s, "store": st}, "value": [time.time(), str(v)]}
              for (s, st), v in values.items()]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def answering(numbers: Callable[[str, str, str], float | None]) -> Callable[[Recorded], Reply]:
    """A Prometheus whose answer to each of :func:`canary.queries` is ``numbers(name, signal, store)``
    (None: no series of that target)."""
    def reply(request: Recorded) -> Reply:
        promql = request.param("query") or ""
        name = next(n for n, q in canary.queries(0).items() if q.split("[")[0] == promql.split("[")[0])
        values = {t: numbers(name, *t) for t in TARGETS}
        return Reply(body=vector({t: v for t, v in values.items() if v is not None}))
    return reply


def check(server: FakeServer, numbers: Callable[[str, str, str], float | None], max_p95: float = 5.0,
          began_ago: float = 42.0) -> canary.CanaryWindow:
    server.route("GET", "/api/v1/query", answering(numbers))
    return canary.steady_state(PrometheusClient(server.url), time.time() - began_ago, max_p95_s=max_p95)


def test_a_healthy_window_passes_and_asks_over_the_scenario_s_window(server: FakeServer) -> None:
    window = check(server, lambda name, signal, store: HEALTHY[name])
    assert [(r.signal, r.store, r.sent, r.lost, r.p95_s) for r in window.rows] == [
        ("logs", "victorialogs", 60, 0, 1.9), ("metrics", "prometheus", 60, 0, 1.9),
        ("traces", "jaeger", 60, 0, 1.9)]
    asked = {r.param("query") for r in server.requests}
    assert "sum by (signal, store) (increase(pipeline_canary_probes_lost_total[43s]))" in asked
    assert ("histogram_quantile(0.95, sum by (signal, store, le) "
            "(increase(pipeline_canary_delivery_seconds_bucket[43s])))") in asked
    assert window.table()[0] == {"signal": "logs", "store": "victorialogs", "sent": 60, "found": 60,
                                 "lost": 0, "late": 0, "p95_s": 1.9, "waiting_s": 1.0}


def test_a_short_window_is_widened_to_a_few_scrapes(server: FakeServer) -> None:
    check(server, lambda name, signal, store: HEALTHY[name], began_ago=2)
    assert "sum by (signal, store) (increase(pipeline_canary_probes_sent_total[10s]))" in {
        r.param("query") for r in server.requests}


@pytest.mark.parametrize(("broken", "message"), [
    ({"lost": 3.0}, "logs in victorialogs: the canary lost 3 of 60 probes"),
    ({"found": 0.0, "p95": float("nan")}, "logs in victorialogs: none of the canary's 60 probes was found"),
    ({"p95": 7.5}, "logs in victorialogs: p95 delay 7.50 s is above 5 s"),
    ({"waiting": 21.0}, "logs in victorialogs: a probe has waited 21 s (above 5 s) and is not found yet"),
    ({"sent": 0.0, "found": 0.0}, "logs in victorialogs: the canary sent no probe"),
])
def test_each_way_of_failing_names_the_signal_the_store_and_the_number(
        server: FakeServer, broken: dict[str, float], message: str) -> None:
    def numbers(name: str, signal: str, store: str) -> float:
        return broken.get(name, HEALTHY[name]) if signal == "logs" else HEALTHY[name]

    with pytest.raises(AssertionError) as failed:
        check(server, numbers)
    assert message in str(failed.value)
    assert "traces in jaeger" not in str(failed.value)


def test_no_canary_at_all_fails_saying_so(server: FakeServer) -> None:
    with pytest.raises(AssertionError, match="Prometheus has no pipeline_canary_probes_sent_total over the "
                                             "scenario's 42 s: is the pipeline-canary service running"):
        check(server, lambda name, signal, store: None, began_ago=41.5)


def test_nothing_found_yet_has_no_p95_and_is_not_a_slow_one() -> None:
    tempo = {"signal": "traces", "store": "tempo"}
    [row] = canary.rows_of({"sent": [{"metric": tempo, "value": 5.0}],
                            "p95": [{"metric": tempo, "value": float("nan")}]})
    assert (row.found, row.p95_s, row.waiting_s) == (0.0, None, 0.0)
    assert row.problems(5.0) == ["traces in tempo: none of the canary's 5 probes was found"]
