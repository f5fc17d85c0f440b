"""harness.checks.grafana_links against the lab's own provisioned data sources, served by a real
local HTTP server that answers /api/ds/query the way Grafana's Tempo and Loki backends do
(fixtures/signals/grafana; the Grafana sources each rule follows are named in
harness/checks/grafana_links.py).
"""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from harness.base.waiting import WaitTimeout
from harness.checks.grafana_links import (
    FrameSpan,
    formatted_tags,
    interpolate,
    interval_ms,
    logs_time_range,
    logs_to_trace,
    provisioned,
    root_span,
    trace_frame_spans,
    trace_id_query,
    trace_to_logs,
    trace_to_logs_query,
)
from harness.clients.grafana import GrafanaClient
from tests.harness.fake_http import Recorded, Reply, signal_doc

ROOT = Path(__file__).resolve().parents[2]
DATASOURCES = ROOT / "stack" / "grafana" / "provisioning" / "datasources" / "datasources.yaml"
FIX = Path(__file__).parent / "fixtures" / "signals" / "grafana"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
# What Loki 3.7.6 answers for a selector that still holds an unexpanded template variable (captured).
LOKI_PARSE_ERROR = "parse error at line 1, col 3: syntax error: unexpected {, expecting = or =~ or !~ or !="


def doc(name: str) -> Any:
    return signal_doc("grafana", name)


def provisioned_sources() -> dict[str, dict[str, Any]]:
    """The lab's datasources.yaml as Grafana stores it after provisioning (no env variables set)."""
    raw = yaml.safe_load(DATASOURCES.read_text(encoding="utf-8"))["datasources"]
    return {d["uid"]: provisioned(d, env={}) for d in raw}


def lab_root_span() -> FrameSpan:
    return root_span(trace_frame_spans(doc("ds_query_trace.json")))


# == provisioning and interpolation rules ==========================================================

def test_provisioning_turns_double_dollar_into_a_literal_dollar_and_expands_env() -> None:
    assert provisioned('{$${__tags}} | x="$${__trace.traceId}"', env={}) == (
        '{${__tags}} | x="${__trace.traceId}"')
    assert provisioned("a ${PW} $USER $$HOME", env={"PW": "s3", "USER": "u"}) == "a s3 u $HOME"
    # an unescaped reference to an unset variable is silently emptied, as Go's os.ExpandEnv does
    assert provisioned("{${__tags}}", env={}) == "{}"
    assert provisioned({"a": ["$$x", 1], "b": True}, env={}) == {"a": ["$x", 1], "b": True}


def test_the_provisioned_trace_to_logs_query_expands_tags_as_grafana_does() -> None:
    tempo = provisioned_sources()["tempo"]["jsonData"]
    assert tempo["tracesToLogsV2"]["query"] == '{${__tags}} | trace_id="${__trace.traceId}"'
    uid, query = trace_to_logs_query(tempo, TRACE, lab_root_span())
    assert (uid, query) == ("loki", f'{{service_name="flask-backend"}} | trace_id="{TRACE}"')
    assert "$" not in query


def test_tags_follow_the_configured_keys_in_span_order_with_loki_label_names() -> None:
    span = FrameSpan(trace_id=TRACE, span_id="1" * 16, parent_span_id="", name="GET", service="svc",
                     start_ms=0, duration_ms=1,
                     service_tags=[("service.name", "svc"), ("k8s.pod.name", "p-1")],
                     tags=[("http.route", "/x")])
    configured = [{"key": "k8s.pod.name"}, {"key": "service.name", "value": "service_name"},
                  {"key": "absent"}]
    assert formatted_tags(span, configured) == 'service_name="svc", k8s_pod_name="p-1"'
    link = {"tracesToLogsV2": {"datasourceUid": "loki", "tags": [{"key": "absent"}]}}
    with pytest.raises(AssertionError, match="offers no logs link: none of the configured tags"):
        trace_to_logs_query(link, TRACE, span)


def test_default_query_without_custom_query_is_grafanas_legacy_loki_query() -> None:
    link = {"tracesToLogsV2": {"datasourceUid": "loki", "filterByTraceID": True}}
    _, query = trace_to_logs_query(link, TRACE, lab_root_span())
    assert query == (
        '{service_name="flask-backend"} | label_format log_line_contains_trace_id=`{{ contains "'
        f'{TRACE}" __line__  }}}}` | log_line_contains_trace_id="true" or trace_id="{TRACE}"')
    _, plain = trace_to_logs_query({"tracesToLogsV2": {"datasourceUid": "loki"}}, TRACE, lab_root_span())
    assert plain == '{service_name="flask-backend"}'


def test_span_variables_and_undefined_variables() -> None:
    span = lab_root_span()
    scoped = {"__span": {"tags": {"service.name": "flask-backend"}, "spanId": span.span_id},
              "__tags": 'a="b"'}
    template = '{s="${__span.tags["service.name"]}"} $__tags [[__tags]] ${__span.spanId}'
    assert interpolate(template, scoped) == (
        f'{{s="flask-backend"}} a="b" a="b" {span.span_id}', [])
    text, missing = interpolate("${__span.tags.nope} ${__value.raw}", scoped)
    assert missing == ["${__span.tags.nope}", "${__value.raw}"]
    assert text == "${__span.tags.nope} ${__value.raw}"  # left as written, like Grafana
    link = {"tracesToLogsV2": {"datasourceUid": "loki", "customQuery": True,
                               "query": '{x="${__span.tags.nope}"}'}}
    with pytest.raises(AssertionError, match="offers no logs link"):
        trace_to_logs_query(link, TRACE, span)


def test_intervals_and_time_ranges() -> None:
    assert [interval_ms(v) for v in ("-5m", "5m", "30s", "1h", "250ms", "5", "")] == [
        -300_000, 300_000, 30_000, 3_600_000, 250, 5_000, 0]
    tempo = provisioned_sources()["tempo"]["jsonData"]
    span = lab_root_span()
    # span start 1796142405707.695 ms, duration 4.33538 ms, the link's -5m / 5m shifts
    assert logs_time_range(tempo, span) == (1796142405707 - 300_000, 1796142405712 + 300_000)
    now = 1_700_000_000_000
    query, start, end = trace_id_query(tempo, TRACE, now_ms=now)
    assert query == {"refId": "A", "queryType": "traceId", "query": TRACE}
    # the provisioned traceQuery shifts widen the picker's 15 minutes on both sides
    assert (int(start), int(end)) == (now - 15 * 60_000 - 300_000, now + 300_000)
    assert trace_id_query({}, TRACE)[1:] == ("0", "0")


def test_root_span_is_the_span_whose_parent_is_outside_the_trace() -> None:
    spans = trace_frame_spans(doc("ds_query_trace.json"))
    assert [s.name for s in spans] == [
        "INSERT /app/data/tasks.db", "SELECT /app/data/tasks.db", "create_task", "POST /api/tasks"]
    root = root_span(spans)  # its parent is the caller's span (the traceparent), not in the trace
    assert (root.name, root.span_id, root.parent_span_id, root.service, root.start_ms) == (
        "POST /api/tasks", "6143f8e726b20c32", "00f067aa0ba902b7", "flask-backend", 1796142405707.695)
    assert ("service.name", "flask-backend") in root.service_tags
    assert ("http.route", "/api/tasks") in root.tags


# == the two links through a Grafana that answers like the real one =================================

class FakeGrafana:
    """/api/datasources/uid/* from the provisioned file; /api/ds/query dispatched like Grafana's
    backends: Tempo by queryType (plugin pkg/tempo/tempo.go), Loki refusing unexpanded variables."""

    def __init__(self, server: Any, *, trace_after: int = 0):
        self.sources = provisioned_sources()
        self.trace_after = trace_after  # not-found answers before the trace is there
        self.tempo_calls = 0
        for uid, source in self.sources.items():
            server.route("GET", f"/api/datasources/uid/{uid}", Reply(body=source))
        server.route("POST", "/api/ds/query", self.ds_query)

    def ds_query(self, request: Recorded) -> Reply:
        [query] = request.json()["queries"]
        uid = query["datasource"]["uid"]
        if uid == "tempo":
            return self.tempo(query)
        if uid == "loki":
            if "$" in query["expr"] or "{}" in query["expr"]:
                return Reply(400, {"results": {"A": {"error": LOKI_PARSE_ERROR, "status": 400}}})
            return Reply(body=doc("ds_query_loki_logs.json"))
        return Reply(400, {"message": f"unknown data source {uid}"})

    def tempo(self, query: dict[str, Any]) -> Reply:
        if query.get("queryType") != "traceId":
            # Grafana 12's backend; 13.x runs the hex id as a TraceQL search, which Tempo rejects
            error = "backend TraceQL search queries are not supported"
            return Reply(400, {"results": {"A": {"error": error}}})
        self.tempo_calls += 1
        if self.tempo_calls <= self.trace_after:
            error = f"failed to get trace with id: {query['query']} Status: Not Found"
            result = {"error": error, "errorSource": "downstream", "status": 404}
            return Reply(400, {"results": {"A": result}})
        return Reply(body=doc("ds_query_trace.json"))



def lab_for(server: Any) -> Any:
    return SimpleNamespace(grafana=GrafanaClient(server.url, "admin", "pw"))


def test_trace_to_logs_through_grafana(server) -> None:
    FakeGrafana(server)
    assert trace_to_logs(lab_for(server), TRACE, timeout=5) == 2
    tempo_q, loki_q = [r.json() for r in server.requests if r.path == "/api/ds/query"]
    assert tempo_q["queries"][0]["queryType"] == "traceId"
    [query] = loki_q["queries"]
    assert query["datasource"] == {"uid": "loki"}
    assert query["expr"] == f'{{service_name="flask-backend"}} | trace_id="{TRACE}"'
    assert (loki_q["from"], loki_q["to"]) == (str(1796142405707 - 300_000), str(1796142405712 + 300_000))


def test_trace_to_logs_stops_at_once_when_loki_refuses_the_query(server) -> None:
    fake = FakeGrafana(server)

    def loki_refuses(request: Recorded) -> Reply:
        if request.json()["queries"][0]["datasource"]["uid"] == "loki":
            return Reply(400, {"results": {"A": {"error": LOKI_PARSE_ERROR, "status": 400}}})
        return fake.ds_query(request)

    server.route("POST", "/api/ds/query", loki_refuses)
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"Loki refused.*unexpected"):
        trace_to_logs(lab_for(server), TRACE, timeout=20)
    assert time.monotonic() - started < 10  # GiveUp, not a 20 s wait


def test_logs_to_trace_asks_tempo_for_a_trace_id_and_waits_while_not_found(server, monkeypatch) -> None:
    monkeypatch.delenv("LAB_TIMEOUT_SCALE", raising=False)
    FakeGrafana(server, trace_after=1)
    assert logs_to_trace(lab_for(server), TRACE, timeout=10) == 4
    bodies = [r.json() for r in server.requests if r.path == "/api/ds/query"]
    assert len(bodies) == 2
    for body in bodies:
        [query] = body["queries"]
        assert query == {"refId": "A", "queryType": "traceId", "query": TRACE, "datasource": {"uid": "tempo"}}
        start, end = int(body["from"]), int(body["to"])
        assert end - start == 25 * 60_000 and abs(end - 300_000 - time.time() * 1000) < 60_000


def test_logs_to_trace_gives_up_on_a_trace_that_never_arrives(server, monkeypatch) -> None:
    monkeypatch.delenv("LAB_TIMEOUT_SCALE", raising=False)
    FakeGrafana(server, trace_after=10**6)
    with pytest.raises(WaitTimeout, match="failed to get trace with id"):
        logs_to_trace(lab_for(server), TRACE, timeout=2)


def test_logs_to_trace_refuses_a_derived_field_that_is_not_a_trace_id(server) -> None:
    fake = FakeGrafana(server)
    fake.sources["loki"]["jsonData"]["derivedFields"][0]["url"] = '{ trace:id = "${__value.raw}" }'
    server.route("GET", "/api/datasources/uid/loki", Reply(body=fake.sources["loki"]))
    with pytest.raises(AssertionError, match="TraceQL search, not as a trace id"):
        logs_to_trace(lab_for(server), TRACE, timeout=5)
