"""Checks on traces: a trace arrives by its id, and the spans a sentence names are in it.

A sentence names an operation ("the HTTP server span for POST /api/tasks", "the manual span
create_task"), so each check picks that span by identity (:mod:`harness.checks.selection`): the
server span by service, kind, method and route (``http.route``, the operation — not the concrete
URL, and not the span's name alone), a manual span by name below it, the SQL span as a client span
carrying a database system below that. "The trace has a span with error status" was satisfied by any
span of the trace; an error now belongs to the server span of the operation named.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from harness.base.waiting import GiveUp, NotYet
from harness.checks.expectation import expect_within
from harness.checks.selection import Identity
from harness.clients import links
from harness.clients.model import Span, Trace

if TYPE_CHECKING:  # a vocabulary over a Lab, not a user of the lab's lifecycle
    from harness.lab.lifecycle import Lab

SERVICE = "flask-backend"
T = TypeVar("T")
TASK = "create_task"  # the manual span that carries a created task's title
DB_KEYS = frozenset({"db.system", "db.system.name"})  # old and new semantic conventions


def method_of(span: Span) -> object:
    return span.attributes.get("http.request.method") or span.attributes.get("http.method")


SERVER_SPAN: Identity[Span] = Identity("server span", {
    "service": lambda s: s.service,
    "kind": lambda s: s.kind,
    "method": method_of,
    "route": lambda s: s.attributes.get("http.route"),
})
NAMED_SPAN: Identity[Span] = Identity("span", {"service": lambda s: s.service, "name": lambda s: s.name})
SQL_SPAN: Identity[Span] = Identity("SQL span", {
    "kind": lambda s: s.kind,
    "database": lambda s: bool(DB_KEYS & set(s.attributes)),
})
TASK_SPAN: Identity[Span] = Identity("create_task span", {
    "name": lambda s: s.name,
    "title": lambda s: s.attributes.get("task.title"),
})


def _asserted(identity: Identity[Span], spans: list[Span], trace: Trace, **wanted: object) -> Span:
    """The picked span; AssertionError naming what the trace holds when there is none (a wait on
    the trace retries it: late spans arrive in later batches)."""
    picked = identity.pick(spans, **wanted)
    if not picked:
        raise AssertionError(f"{identity.none_among(spans, wanted)}; spans: {trace.summary()}")
    return picked[0]


def server_span(trace: Trace, method: str, route: str) -> Span:
    """The service's HTTP server span of ``METHOD route`` (``route`` as in ``http.route``)."""
    return _asserted(SERVER_SPAN, trace.server_spans(), trace, service=SERVICE, kind="server",
                     method=method, route=route)


def descendant_named(trace: Trace, parent: Span, name: str) -> Span:
    """The service's span ``name`` below ``parent``."""
    return _asserted(NAMED_SPAN, trace.descendants_of(parent), trace, service=SERVICE, name=name)


def manual_span(trace: Trace, route: tuple[str, str], name: str) -> Span:
    """The span ``name`` below the server span of ``(method, route)``."""
    return descendant_named(trace, server_span(trace, *route), name)


def sql_descendant(trace: Trace, parent: Span) -> Span:
    """A SQL client span (one that names its database system) below ``parent``."""
    return _asserted(SQL_SPAN, trace.descendants_of(parent), trace, kind="client", database=True)


def in_error(trace: Trace, route: tuple[str, str], names: list[str]) -> list[Span]:
    """The server span of ``(method, route)`` and its spans ``names`` below it, each with error
    status (a store has the status from the first batch it gets: no late batch changes it)."""
    server = server_span(trace, *route)
    spans = [server, *(descendant_named(trace, server, name) for name in names)]
    wrong = [f"{s.name} [{s.kind}] is {s.status}" for s in spans if s.status != "error"]
    if wrong:
        raise GiveUp(f"not in error status: {', '.join(wrong)}; spans: {trace.summary()}")
    return spans


def rooted_at_a_server_span(trace: Trace) -> str | None:
    """None when the spans form one tree whose root is the request's server span; else what is
    missing. Stores receive a request's spans in several batches: the SQL span may come first."""
    ids = {s.span_id for s in trace.spans}
    roots = [s for s in trace.spans if s.parent_span_id not in ids]
    if len(roots) != 1 or roots[0].kind != "server":
        return f"its spans do not yet hang from one server span (roots: {[r.name for r in roots]})"
    return None


def trace_arrives(
    lab: Lab,
    trace_id: str,
    *,
    timeout: float = 30,
    require: Callable[[Trace], str | None] | None = rooted_at_a_server_span,
) -> Trace:
    """Wait until the trace store returns the trace — its own spans, none of another trace — and
    ``require`` finds nothing missing."""

    def look() -> Trace:
        trace = lab.traces.get_trace(trace_id)
        if trace is None or not trace.spans:
            raise NotYet(f"{lab.traces.name} has no trace {trace_id} yet")
        foreign = sorted({s.trace_id for s in trace.spans} - {trace_id})
        if foreign:
            raise GiveUp(f"{lab.traces.name} answered trace {trace_id} with spans of {foreign}")
        missing = require(trace) if require else None
        if missing:
            raise NotYet(f"trace {trace_id} has {len(trace.spans)} spans ({trace.summary()}) but {missing}")
        return trace

    return expect_within(lab, "traces", look, what=f"trace {trace_id} in {lab.traces.name}", timeout=timeout,
                         shown=lambda t: {"spans": t.summary(), "trace_id": trace_id,
                                          "waterfall": waterfall(t), "links": links_of(lab, trace_id, t)},
                         kind="trace")


def waterfall(trace: Trace) -> list[dict[str, object]]:
    """Evidence only: the spans as the report draws them (a bar each, under its parent)."""
    return [{"span_id": s.span_id, "parent": s.parent_span_id, "service": s.service, "name": s.name,
             "kind": s.kind, "status": s.status, "start_ns": s.start_ns, "duration_ns": s.duration_ns}
            for s in sorted(trace.spans, key=lambda s: (s.start_ns, s.name))]


def links_of(lab: Lab, trace_id: str, trace: Trace) -> list[dict[str, object]]:
    """Evidence only: the links of :func:`harness.clients.links.trace_links` for this lab, around
    the trace's first span."""
    first = min((s.start_ns for s in trace.spans if s.start_ns), default=0)
    try:
        endpoints = lab.endpoints.to_dict()
        return [link.to_dict() for link in links.trace_links(
            endpoints, trace_id, first / 1e9 if first else None,
            jaeger_ui=links.jaeger_ui_available(endpoints),
            prometheus_ui=links.prometheus_ui_available(endpoints))]
    except Exception:
        return []


def trace_satisfies(lab: Lab, trace_id: str, check: Callable[[Trace], T], *, timeout: float = 15,
                    what: str = "to match") -> T:
    """Poll the trace until ``check`` returns (late spans arrive in later batches); its last
    AssertionError is the failure's last observation, ``GiveUp`` ends the wait at once."""

    def look() -> T:
        trace = lab.traces.get_trace(trace_id)
        if trace is None:
            raise NotYet(f"{lab.traces.name} has no trace {trace_id}")
        return check(trace)

    return expect_within(lab, "traces", look, what=f"trace {trace_id} {what}", timeout=timeout, kind="trace")


def traces_of_tasks(lab: Lab, titles: list[str], *, timeout: float = 30) -> dict[str, str]:
    """Wait until the trace store has, among the service's recent traces, one whose ``create_task``
    span carries each title (requests sent without a traceparent: the trace ids are the app's)."""
    if not titles:
        raise AssertionError("no task titles to look for: every trace of none is found")
    found: dict[str, str] = {}  # title -> trace id

    def look() -> dict[str, str]:
        ids = lab.traces.search(SERVICE, limit=50, lookback_s=600)
        for trace_id in ids:
            if trace_id in found.values():
                continue
            trace = lab.traces.get_trace(trace_id)
            for title in titles:
                if trace and title not in found and TASK_SPAN.pick(trace.spans, name=TASK, title=title):
                    found[title] = trace_id
        missing = [t for t in titles if t not in found]
        if missing:
            raise NotYet(f"{lab.traces.name} has traces of {len(found)} of the {len(titles)} tasks, none of "
                         f"{missing} ({len(ids)} recent traces of {SERVICE} searched)")
        return dict(found)

    return expect_within(lab, "traces", look, timeout=timeout, kind="trace",
                         what=f"a trace of each of {len(titles)} untraced tasks in {lab.traces.name}",
                         shown=lambda traces: {"traces": traces})
