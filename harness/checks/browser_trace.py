"""Traces that start in the browser: the page's own span (frontend-browser) at the root, its fetch
span the parent of the Flask server span, and the backend's spans below, down to SQL.

:func:`browser_rooted` is a ``require`` for :func:`harness.checks.traces.trace_arrives` (None when the
trace is complete, else what is still missing: the browser's spans arrive in their own batches,
a second or so after the backend's). :func:`span_tree` is how reports print such a trace.
"""

from __future__ import annotations

from harness.checks.traces import server_span
from harness.clients.model import Span, Trace

BROWSER_SERVICE = "frontend-browser"
BACKEND_SERVICE = "flask-backend"
# the instrumentations' spans at a root: a user interaction (internal) or a fetch (client)
ROOT_KINDS = ("internal", "client")


def roots(trace: Trace) -> list[Span]:
    ids = {s.span_id for s in trace.spans}
    return [s for s in trace.spans if s.parent_span_id not in ids]


def browser_rooted(trace: Trace) -> str | None:
    """None when the spans form one tree whose root is the browser's (a user-interaction or fetch
    span of frontend-browser) and a browser fetch span is the parent of a server span."""
    top = roots(trace)
    if len(top) != 1:
        return f"its spans do not yet hang from one root (roots: {[describe(r) for r in top]})"
    root = top[0]
    if root.service != BROWSER_SERVICE or root.kind not in ROOT_KINDS:
        return f"its root is {describe(root)}, not a span of {BROWSER_SERVICE}"
    if not any(fetch_parent(trace, s) for s in trace.server_spans()):
        return f"no server span has a {BROWSER_SERVICE} fetch span as its parent"
    return None


def fetch_parent(trace: Trace, server: Span) -> Span | None:
    """The browser's fetch span that is ``server``'s parent, if it is one."""
    for span in trace.spans:
        if span.span_id == server.parent_span_id:
            return span if span.service == BROWSER_SERVICE and span.kind == "client" else None
    return None


def server_below_fetch(trace: Trace, method: str, route: str) -> tuple[Span, Span]:
    """(fetch span, server span) for ``METHOD route`` (the backend's server span of that operation,
    :func:`harness.checks.traces.server_span`); AssertionError saying what the parent is."""
    try:
        server = server_span(trace, method, route)
    except AssertionError as exc:
        raise AssertionError(f"{str(exc).split('; spans:')[0]};\n{span_tree(trace)}") from None
    fetch = fetch_parent(trace, server)
    if fetch is None:
        parent = next((s for s in trace.spans if s.span_id == server.parent_span_id), None)
        raise AssertionError(f"the parent of {describe(server)} is "
                             f"{describe(parent) if parent else 'not in the trace'}, not the "
                             f"browser's fetch span;\n{span_tree(trace)}")
    fetch_method = fetch.attributes.get("http.request.method") or fetch.attributes.get("http.method")
    assert fetch_method in (None, method), f"{describe(fetch)} is a {fetch_method}, not {method}"
    return fetch, server


def describe(span: Span) -> str:
    return f"{span.name} [{span.service}, {span.kind}{', error' if span.status == 'error' else ''}]"


def span_tree(trace: Trace) -> str:
    """The trace as an indented tree, children in start order; one line per span:
    ``name [service, kind(, error)] 12.3 ms``."""
    children: dict[str | None, list[Span]] = {}
    ids = {s.span_id for s in trace.spans}
    for span in sorted(trace.spans, key=lambda s: (s.start_ns, s.name)):
        parent = span.parent_span_id if span.parent_span_id in ids else None
        children.setdefault(parent, []).append(span)
    lines: list[str] = []

    def walk(span: Span, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└─ " if last else "├─ ")
        lines.append(f"{prefix}{branch}{describe(span)} {span.duration_ns / 1e6:.1f} ms")
        below = children.get(span.span_id, [])
        extend = "" if top else ("   " if last else "│  ")
        for i, child in enumerate(below):
            walk(child, prefix + extend, i == len(below) - 1, False)

    for root in children.get(None, []):
        walk(root, "", True, True)
    return "\n".join(lines)
