"""The vacuity guard over the check vocabulary (issue 22), as goss warns of an empty matcher list:

- an identity with no field fails where it is defined; every identity of harness/checks/ refuses a
  selection that leaves a field out, and, field by field, does not pick a near miss that differs
  only in that field (a table of examples, which must cover every identity and every field);
- every check a step calls fails when the lab answers with zero items (a table, which must cover
  every check the steps call, or say why a function is no check on items).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import pkgutil
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import harness.checks
from harness.base.waiting import NotYet
from harness.checks import (
    browser_trace,
    dashboards,
    grafana,
    grafana_links,
    histograms,
    logs,
    metrics,
    posture,
    services,
    slis,
    traces,
)
from harness.checks.selection import Identity, VacuousCheck
from harness.clients.model import LogRecord, Span, Trace
from tests.harness.fake_http import FakeServer, Reply
from tests.harness.test_checks_vocabulary import MemoryLogs, MemoryTraces, lab_with, vector

TID = "4bf92f3577b34da6a3ce929d0e0e4736"
OTHER = "0af7651916cd43dd8448eb211c80319c"
REPO = Path(__file__).resolve().parents[2]


def vocabulary_identities() -> dict[str, Identity[Any]]:
    """Every Identity a module of harness/checks/ defines, as ``module.NAME``."""
    found = {}
    for info in pkgutil.iter_modules(harness.checks.__path__):
        module = importlib.import_module(f"harness.checks.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, Identity) and getattr(value, "noun", None):
                found.setdefault(f"{info.name}.{name}", value)
    return found


# ------------------------------------------------------------------------------------ identities

def span(name: str = "POST /api/tasks", kind: str = "server", service: str = "flask-backend",
         **attrs: Any) -> Span:
    return Span(TID, "a" * 16, None, name, service, kind, "unset", attrs)


SERVER = span(**{"http.request.method": "POST", "http.route": "/api/tasks"})
LOG = LogRecord(1, "Simulated error", "ERROR", "flask-backend", TID, "a" * 16)
EXEMPLAR = {"series": {"__name__": "http_request_duration_seconds_bucket", "endpoint": "create_task"},
            "labels": {"trace_id": TID}, "value": 0.02}

# identity -> (an item it picks, the wanted values, {field: a near miss differing only there})
EXAMPLES: dict[str, tuple[Any, dict[str, Any], dict[str, Any]]] = {
    "traces.SERVER_SPAN": (SERVER, {"service": "flask-backend", "kind": "server", "method": "POST",
                                    "route": "/api/tasks"}, {
        "service": dataclasses.replace(SERVER, service="frontend-browser"),
        "kind": dataclasses.replace(SERVER, kind="internal"),
        "method": span(**{"http.request.method": "GET", "http.route": "/api/tasks"}),
        # the name still says POST /api/tasks: a name alone does not pick the operation
        "route": span(**{"http.request.method": "POST", "http.route": "/api/tasks/<int:task_id>"}),
    }),
    "traces.NAMED_SPAN": (span("create_task", "internal"), {"service": "flask-backend",
                                                            "name": "create_task"}, {
        "service": span("create_task", "internal", service="frontend-browser"),
        "name": span("create_task_v2", "internal"),
    }),
    "traces.SQL_SPAN": (span("INSERT tasks.db", "client", **{"db.system": "sqlite"}),
                        {"kind": "client", "database": True}, {
        "kind": span("INSERT tasks.db", "internal", **{"db.system": "sqlite"}),
        "database": span("POST", "client", **{"http.request.method": "POST"}),
    }),
    "traces.TASK_SPAN": (span("create_task", "internal", **{"task.title": "t1"}),
                         {"name": "create_task", "title": "t1"}, {
        "name": span("update_task", "internal", **{"task.title": "t1"}),
        "title": span("create_task", "internal", **{"task.title": "t1 (copy)"}),
    }),
    "logs.LOG_RECORD": (LOG, {"service": "flask-backend", "trace_id": TID, "body": "Simulated error"}, {
        "service": dataclasses.replace(LOG, service="flask_backend"),
        "trace_id": dataclasses.replace(LOG, trace_id=OTHER),
        # the request's own record of the 500, at ERROR too: not the error's record (issue 22)
        "body": dataclasses.replace(LOG, body="Request completed"),
    }),
    "metrics.SERIES": ({"__name__": "http_requests_total", "endpoint": "create_task"},
                       {"metric": "http_requests_total", "endpoint": "create_task"}, {
        "metric": {"__name__": "http_errors_total", "endpoint": "create_task"},
        "endpoint": {"__name__": "http_requests_total", "endpoint": "get_all_tasks"},
    }),
    "histograms.EXEMPLAR": (EXEMPLAR, {"series": "http_request_duration_seconds_bucket",
                                       "endpoint": "create_task", "trace_id": TID}, {
        "series": {**EXEMPLAR, "series": {**EXEMPLAR["series"],
                                          "__name__": "db_query_duration_seconds_bucket"}},
        "endpoint": {**EXEMPLAR, "series": {**EXEMPLAR["series"], "endpoint": "get_all_tasks"}},
        "trace_id": {**EXEMPLAR, "labels": {"trace_id": OTHER}},
    }),
    "histograms.DB_OPERATION": ({"operation": "INSERT"}, {"operation": "INSERT"}, {
        "operation": {"operation": "SELECT"},
    }),
}


def test_an_identity_with_no_field_fails_where_it_is_defined() -> None:
    with pytest.raises(VacuousCheck, match="has no field: it would pick any log record"):
        Identity("log record", {})
    with pytest.raises(VacuousCheck, match="needs a noun"):
        Identity("", {"body": lambda r: r})


def test_the_examples_cover_every_identity_and_every_field() -> None:
    identities = vocabulary_identities()
    assert len(identities) >= 8, f"the vocabulary's identities: {sorted(identities)}"
    assert set(EXAMPLES) == set(identities), "an identity without near misses, or an example of none"
    for key, identity in identities.items():
        _, wanted, misses = EXAMPLES[key]
        assert set(wanted) == set(identity.fields) == set(misses), f"{key}: every field needs a near miss"


@pytest.mark.parametrize("key", sorted(EXAMPLES))
def test_a_near_miss_in_any_one_field_is_not_picked(key: str) -> None:
    identity = vocabulary_identities()[key]
    item, wanted, misses = EXAMPLES[key]
    assert identity.pick([item], **wanted) == [item]
    for field, miss in misses.items():
        differs = {f for f in identity.fields if identity.of(miss)[f] != identity.of(item)[f]}
        assert differs == {field}, f"{key}: the near miss for {field} differs in {differs}"
        assert identity.pick([miss], **wanted) == [], f"{key} picked a near miss in {field}"
        with pytest.raises(NotYet, match=f"no {identity.noun} with .* among 1"):
            identity.one([miss], **wanted)


@pytest.mark.parametrize("key", sorted(EXAMPLES))
def test_a_selection_that_leaves_a_field_out_is_refused(key: str) -> None:
    identity = vocabulary_identities()[key]
    item, wanted, _ = EXAMPLES[key]
    for field in identity.fields:
        partial = {k: v for k, v in wanted.items() if k != field}
        with pytest.raises(VacuousCheck, match=f"leaves out {field}"):
            identity.pick([item], **partial)
        with pytest.raises(VacuousCheck, match=f"leaves out {field}"):
            identity.pick([item], **{**partial, field: ""})
    with pytest.raises(VacuousCheck, match="unknown fields \\['colour'\\]"):
        identity.pick([item], **wanted, colour="red")
    with pytest.raises(NotYet, match=f"no {identity.noun} with .* among 0: \\[\\]"):
        identity.one([], **wanted)


# ------------------------------------------------------------------------ checks on zero items

class NoGrafana:
    """A Grafana with no data source: every query answers with nothing."""

    def datasource(self, uid: str) -> None:
        return None

    def ds_query(self, queries: list[Any], **kw: Any) -> dict[str, Any]:
        return {"results": {}}


EMPTY_TRACE = Trace(TID, ())
ROUTE = ("POST", "/api/tasks")


def nothing(prom: FakeServer) -> Any:
    """A lab whose every store and engine answers with zero items."""
    for path in ("/api/v1/query", "/api/v1/query_exemplars"):
        prom.route("GET", path, Reply(body=vector() if path.endswith("query") else {"status": "success",
                                                                                    "data": []}))
    prom.route("POST", "/api/v1/query_exemplars", Reply(body={"status": "success", "data": []}))
    prom.route("GET", "/api/v1/targets", Reply(body={"status": "success", "data": {"activeTargets": []}}))
    prom.route("GET", "/api/v1/rules", Reply(body={"status": "success", "data": {"groups": []}}))
    target = SimpleNamespace(status=lambda: {}, published_ports=lambda: {})
    return lab_with(prom, traces=MemoryTraces([None]), logs=MemoryLogs([]), target=target,
                    config=SimpleNamespace(stores="jaeger-victorialogs"), grafana=NoGrafana(),
                    backend=SimpleNamespace(metrics_text=lambda: ""))


def required(problem: str | None) -> None:
    """A ``require`` of trace_arrives names what is missing; None would let the wait pass."""
    assert problem is None, problem


T = 0.3  # seconds: one look, then the verdict
ZERO: dict[str, Callable[[Any], object]] = {
    "traces.trace_arrives": lambda lab: traces.trace_arrives(lab, TID, timeout=T),
    "traces.trace_satisfies": lambda lab: traces.trace_satisfies(lab, TID, lambda t: t, timeout=T),
    "traces.traces_of_tasks": lambda lab: traces.traces_of_tasks(lab, [], timeout=T),
    "traces.server_span": lambda lab: traces.server_span(EMPTY_TRACE, *ROUTE),
    "traces.manual_span": lambda lab: traces.manual_span(EMPTY_TRACE, ROUTE, "create_task"),
    "traces.sql_descendant": lambda lab: traces.sql_descendant(EMPTY_TRACE, SERVER),
    "traces.in_error": lambda lab: traces.in_error(EMPTY_TRACE, ROUTE, ["simulate_error"]),
    "logs.log_records_saying": lambda lab: logs.log_records_saying(lab, TID, ["Incoming request"], timeout=T),
    "logs.records_name_service": lambda lab: logs.records_name_service([], "flask-backend"),
    "logs.error_record": lambda lab: logs.error_record(lab, TID, text="Simulated error", severity="ERROR",
                                                       error_type="SimulatedError", timeout=T),
    "metrics.noted_requests": lambda lab: metrics.noted_requests(lab, "create_task", timeout=T),
    "metrics.requests_grew_by": lambda lab: metrics.requests_grew_by(lab, "create_task", {}, 5, timeout=T),
    "metrics.metrics_fresh": lambda lab: metrics.metrics_fresh(lab, "flask-backend", max_age=T, watch=T),
    "metrics.scrape_targets_up": lambda lab: metrics.scrape_targets_up(lab, timeout=T),
    "metrics.prometheus_sample": lambda lab: metrics.prometheus_sample(lab, "sum(x)", timeout=T, settle=0),
    "metrics.sample_still_there": lambda lab: metrics.sample_still_there(
        lab, metrics.PromqlSample("sum(x)", 1700000000.0, 4.0), timeout=T),
    "histograms.request_in_bucket": lambda lab: histograms.request_in_bucket(
        lab, "simulate_slow", 1.0, 2.5, {}, timeout=T),
    "histograms.bounds_include": lambda lab: histograms.bounds_include(
        lab, histograms.LATENCY, {"TaskManagerLatencySLOBreached": 0.5}, timeout=T),
    "histograms.db_operations_grew": lambda lab: histograms.db_operations_grew(
        lab, ["SELECT"], {}, timeout=T),
    "histograms.exemplar_for_trace": lambda lab: histograms.exemplar_for_trace(
        lab, histograms.LATENCY, "create_task", TID, timeout=T),
    "slis.sli_rises": lambda lab: slis.sli_rises(lab, "error-rate", {"error-rate": float("nan")}, timeout=T),
    "slis.latency_slo_thresholds": lambda lab: slis.latency_slo_thresholds(
        lab, histograms.LATENCY, timeout=T),
    "slis.recording_rules_have_values": lambda lab: slis.recording_rules_have_values(lab, timeout=T),
    "services.services_healthy": lambda lab: services.services_healthy(lab, timeout=T),
    "services.none_recreated": lambda lab: services.none_recreated({}, {}),
    "dashboards.queries_return_data": lambda lab: dashboards.queries_return_data(lab, [], timeout=T),
    "grafana.grafana_datasources_healthy": lambda lab: grafana.grafana_datasources_healthy(lab, []),
    "grafana.grafana_dashboards_exist": lambda lab: grafana.grafana_dashboards_exist(lab, []),
    "grafana_links.trace_to_logs": lambda lab: grafana_links.trace_to_logs(lab, TID, timeout=T),
    "grafana_links.logs_to_trace": lambda lab: grafana_links.logs_to_trace(lab, TID, timeout=T),
    "browser_trace.server_below_fetch": lambda lab: browser_trace.server_below_fetch(EMPTY_TRACE, *ROUTE),
    "browser_trace.browser_rooted": lambda lab: required(browser_trace.browser_rooted(EMPTY_TRACE)),
    "posture.only_documented_ports": lambda lab: posture.only_documented_ports(lab),
}
# Functions the steps call that judge no set of items, and why.
NOT_ON_ITEMS = {
    "slis.sli_values": "reads every SLI for a later step; no verdict",
    "slis.sli_window_quiet": "waits for the SLI window to hold zero requests: zero is what it asks for",
    "histograms.latency_snapshot": "reads the whole histogram for a later step; no verdict",
    "histograms.db_snapshot": "reads the database histogram for a later step; no verdict",
    "histograms.LATENCY": "a name",
    "dashboards.dashboard_queries": "reads the dashboards; queries_return_data refuses none",
    "metrics.requests_to": "writes a PromQL expression",
    "metrics.PromqlSample": "a type",
    "services.service_healthy_again": "waits for the one service its sentence names, through the target",
    "services.task_list": "an empty task list is a valid answer (a fresh lab has no task)",
    "frontpage.open_page": "fetches the page; assert_offline_task_manager judges it",
    "frontpage.assert_offline_task_manager": "judges one page; one naming no asset fails (the test below)",
    "browser_trace.span_tree": "renders a trace for evidence",
    "browser_trace.describe": "renders a span for evidence",
    "posture.services_of": "lists the lab's services for a skip",
    "posture.grafana_anonymous_not_admin": "judges Grafana's one anonymous role",
    "posture.main_process_not_root": "judges the one container its sentence names",
    "posture.sshd_hardened": "judges the VM's sshd settings",
    "posture.docker_running": "judges the VM's docker service",
    "posture.only_documented_ports_listen": "judges the VM's listeners (SSH at least is always there)",
    "posture.deploy_user_in_docker_group": "judges the one user its sentence names",
    "posture.no_docker_tcp_socket": "judges the VM's docker daemon settings",
    "topology.split_services_run": "judges the catalogue's fixed list of the split topology's services: "
                                   "a lab with none fails it (tests/harness/test_topology_split.py)",
    "topology.app_host_reaches_only_the_link": "judges a fixed list of seven probes from the app host",
    "topology.agent_has_memory_limiter": "judges each collected signal by name: zero items fails it",
}


def step_calls() -> set[str]:
    """``module.function`` for every harness.checks function steps/*.py refers to."""
    found = set()
    for path in sorted((REPO / "steps").glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        # the accounting's own checks are tested in tests/harness/test_load_accounting.py
        checks = {a.asname or a.name: a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                  and node.module == "harness.checks" for a in node.names if a.name != "accounting"}
        attributes = [n for n in ast.walk(tree)
                      if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)]
        found |= {f"{checks[n.value.id]}.{n.attr}" for n in attributes if n.value.id in checks}  # type: ignore
    return found


def test_the_zero_items_table_covers_every_check_the_steps_call() -> None:
    called = step_calls()
    assert len(called) >= 30, sorted(called)
    uncovered = sorted(called - set(ZERO) - set(NOT_ON_ITEMS))
    assert not uncovered, f"checks the steps call with no zero-items case here: {uncovered}"
    stale = sorted((set(ZERO) | set(NOT_ON_ITEMS)) - called)
    assert not stale, f"entries for functions no step calls: {stale}"


@pytest.mark.parametrize("check", sorted(ZERO))
def test_a_check_is_not_satisfied_by_zero_items(check: str, server: FakeServer) -> None:
    lab = nothing(server)
    with pytest.raises((AssertionError, VacuousCheck)):
        ZERO[check](lab)


def test_the_page_check_refuses_a_page_with_no_asset() -> None:
    page = SimpleNamespace(status_code=200, text="<html><title>Task manager</title><body></body></html>")
    lab = SimpleNamespace(endpoints=SimpleNamespace(frontend="http://front"))
    from harness.checks import frontpage

    with pytest.raises(AssertionError, match="names no script"):
        frontpage.assert_offline_task_manager(lab, page)
