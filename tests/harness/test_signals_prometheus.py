"""PrometheusClient against a real local HTTP server answering the documented Prometheus API
samples (fixtures/signals/prometheus, sources in fixtures/signals/README.md)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests

from harness.base import evidence
from harness.clients.base import SignalError
from harness.clients.prometheus import PrometheusClient, PrometheusError, exemplar_trace_ids
from tests.harness.fake_http import Reply, signal_doc

FIX = Path(__file__).parent / "fixtures" / "signals" / "prometheus"


def doc(name: str) -> Any:
    return signal_doc("prometheus", name)



@pytest.fixture
def prom(server) -> PrometheusClient:
    return PrometheusClient(server.url + "/")  # a trailing slash must not double up


def test_query_parses_instant_vector_and_sends_promql(server, prom):
    server.route("GET", "/api/v1/query", Reply(body=doc("query_up.json")))
    result = prom.query('up{job=~"prom.*"}', at=1435781451.781)
    assert result == [
        {"metric": {"__name__": "up", "job": "prometheus", "instance": "localhost:9090"},
         "value": 1.0, "timestamp": 1435781451.781},
        {"metric": {"__name__": "up", "job": "node", "instance": "localhost:9100"},
         "value": 0.0, "timestamp": 1435781451.781},
    ]
    sent = server.last("/api/v1/query")
    assert sent.param("query") == 'up{job=~"prom.*"}'
    assert float(sent.param("time")) == 1435781451.781


def test_query_range_parses_matrix(server, prom):
    server.route("GET", "/api/v1/query_range", Reply(body=doc("query_range_up.json")))
    result = prom.query_range("up", start=1435781430.781, end=1435781460.781, step="15s")
    assert [r["metric"]["job"] for r in result] == ["prometheus", "node"]
    assert result[1]["values"] == [(1435781430.781, 0.0), (1435781445.781, 0.0), (1435781460.781, 1.0)]
    sent = server.last()
    assert (sent.param("query"), sent.param("step")) == ("up", "15s")
    assert float(sent.param("start")) == 1435781430.781 and float(sent.param("end")) == 1435781460.781


def test_value_is_the_single_sample_or_none(server, prom):
    body = {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {}, "value": [1700000000, "3"]}]}}
    server.route("GET", "/api/v1/query", Reply(body=body))
    assert prom.value("sum(http_requests_total)") == 3.0
    server.route("GET", "/api/v1/query", Reply(body={"status": "success",
                                                     "data": {"resultType": "vector", "result": []}}))
    assert prom.value("sum(http_requests_total)") is None


def test_value_refuses_several_series(server, prom):
    server.route("GET", "/api/v1/query", Reply(body=doc("query_up.json")))
    with pytest.raises(SignalError, match="returned 2 series"):
        prom.value("up")


def test_scalar_result(server, prom):
    scalar = {"status": "success", "data": {"resultType": "scalar", "result": [1.5, "NaN"]}}
    server.route("GET", "/api/v1/query", Reply(body=scalar))
    [item] = prom.query("scalar(vector(0)/0)")
    assert item["metric"] == {} and item["value"] != item["value"]  # NaN


def test_status_error_raises_with_prometheus_message(server, prom):
    server.route("GET", "/api/v1/query", Reply(400, doc("error_bad_data.json")))
    with pytest.raises(PrometheusError) as info:
        prom.query("sum(rate(x[5m])")
    assert info.value.error_type == "bad_data"
    assert "unclosed left parenthesis" in str(info.value)
    assert "sum(rate(x[5m])" in str(info.value)


def test_non_json_answer_is_a_clear_error(server, prom):
    server.route("GET", "/api/v1/query", Reply(502, "<html>Bad Gateway</html>"))
    with pytest.raises(SignalError, match="HTTP 502"):
        prom.query("up")


def test_exemplars(server, prom):
    server.route("GET", "/api/v1/query_exemplars", Reply(body=doc("query_exemplars.json")))
    result = prom.exemplars("test_exemplar_metric_total", start=1600096945, end=1600096966)
    assert result[0]["seriesLabels"]["service"] == "bar"
    assert result[0]["exemplars"] == [{"labels": {"trace_id": "EpTxMJ40fUus7aGY"}, "value": 6.0,
                                       "timestamp": 1600096945.479}]
    assert [e["value"] for e in result[1]["exemplars"]] == [19.0, 20.0]
    assert exemplar_trace_ids(result) == {"eptxmj40fuus7agy", "olp9xhlq763ccsfa", "hctjygkihwan9vs4"}
    sent = server.last()
    assert sent.param("query") == "test_exemplar_metric_total"
    assert (float(sent.param("start")), float(sent.param("end"))) == (1600096945.0, 1600096966.0)


def test_exemplars_default_window_is_last_15_minutes(server, prom):
    server.route("GET", "/api/v1/query_exemplars", Reply(body={"status": "success", "data": []}))
    assert prom.exemplars("x") == []
    sent = server.last()
    end = float(sent.param("end"))
    assert abs(end - time.time()) < 5 and end - float(sent.param("start")) == 900


def test_targets(server, prom):
    server.route("GET", "/api/v1/targets", Reply(body=doc("targets.json")))
    targets = prom.targets(state="any")
    assert server.last().param("state") == "any"
    active, dropped = targets
    assert active == {"job": "prometheus", "health": "up", "lastError": "",
                      "scrapeUrl": "http://127.0.0.1:9090/metrics", "scrapePool": "prometheus",
                      "labels": {"instance": "127.0.0.1:9090", "job": "prometheus"},
                      "lastScrape": "2017-01-17T15:07:44.723715405+01:00", "active": True}
    assert (dropped["job"], dropped["health"], dropped["active"]) == ("node", "dropped", False)


def test_rules(server, prom):
    server.route("GET", "/api/v1/rules", Reply(body=doc("rules.json")))
    [group] = prom.rules()
    assert group["name"] == "example" and group["file"] == "/rules.yaml"
    assert [(r["name"], r["type"], r["health"], r["lastError"]) for r in group["rules"]] == [
        ("HighRequestLatency", "alerting", "ok", ""),
        ("job:http_inprogress_requests:sum", "recording", "ok", ""),
    ]
    assert server.last().param("type") is None
    records = prom.rule_list(type="record")
    assert server.last().param("type") == "record"
    assert records[1]["group"] == "example"


def test_ready(server, prom):
    server.route("GET", "/-/ready", Reply(body="Prometheus Server is Ready.\n"))
    assert prom.ready() is True
    server.route("GET", "/-/ready", Reply(503, "Service Unavailable"))
    assert prom.ready() is False
    assert PrometheusClient("http://127.0.0.1:9").ready() is False  # nothing listens on port 9


def test_queries_leave_evidence(server, prom):
    server.route("GET", "/api/v1/query", Reply(body=doc("query_up.json")))
    with evidence.capture() as log:
        prom.query("up")
    kinds = [(e.kind, e.summary) for e in log.items]
    assert ("query", "PromQL: up") in kinds
    assert any(k == "http" and "/api/v1/query?query=up" in s for k, s in kinds)


def test_timeout_is_honoured(server):
    server.route("GET", "/api/v1/query", Reply(body=doc("query_up.json"), delay=2))
    prom = PrometheusClient(server.url, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        prom.query("up")
    assert time.monotonic() - started < 1.5


def test_timeout_scales_with_lab_timeout_scale(server):
    from harness.base import waiting

    waiting.configure(6)
    server.route("GET", "/api/v1/query", Reply(body=doc("query_up.json"), delay=0.5))
    assert len(PrometheusClient(server.url, timeout=0.2).query("up")) == 2  # 0.2 s x 6 > 0.5 s
