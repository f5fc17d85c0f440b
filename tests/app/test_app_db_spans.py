"""SQL spans belong to a traced request: a statement outside any trace (the readiness probe's
`SELECT 1` every few seconds, the migrations at start) makes no trace of its own, while every
statement of a traced request stays a child of its span (bench: 6 of the 20 newest traces in a
running lab were such one-span `SELECT` traces)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app_support import Otel
from flask import Flask
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from sqlalchemy import text
from taskapp.models import db
from taskapp.telemetry import ChildSpansOnly


def test_statements_outside_a_trace_make_no_spans(make_app: Callable[..., Flask], otel: Otel) -> None:
    app = make_app()  # create_app ran the schema and the migration check: no trace around them
    with app.app_context():
        db.session.execute(text("SELECT 1"))  # what /ready runs when probes are not traced (compose.yaml)
    assert [s.name for s in otel.finished()] == []
    assert app.test_client().get("/api/tasks").status_code == 200  # a traced request keeps its SQL spans
    assert {s.kind for s in otel.finished()} >= {SpanKind.SERVER, SpanKind.CLIENT}


def test_statements_of_a_traced_request_are_its_children(client: Any, otel: Otel) -> None:
    assert client.post("/api/tasks", json={"title": "traced"}).status_code == 201
    spans = otel.finished()
    (server,) = [s for s in spans if s.kind == SpanKind.SERVER]
    sql = [s for s in spans if s.kind == SpanKind.CLIENT]
    assert any("INSERT" in s.name for s in sql), [s.name for s in spans]
    ids = {s.context.span_id for s in spans}
    assert all(s.context.trace_id == server.context.trace_id and s.parent.span_id in ids for s in sql)


def test_the_tracer_starts_spans_only_under_a_valid_parent(otel: Otel) -> None:
    tracer = ChildSpansOnly(otel.tracer_provider.get_tracer("test"))
    assert tracer.start_span("orphan") is trace.INVALID_SPAN
    with tracer.start_as_current_span("orphan too") as span:
        assert span is trace.INVALID_SPAN
    with otel.tracer_provider.get_tracer("test").start_as_current_span("parent") as parent:
        child = tracer.start_span("child")
        child.end()
        with tracer.start_as_current_span("child 2") as child2:
            assert child2.get_span_context().trace_id == parent.get_span_context().trace_id
    names = [s.name for s in otel.finished()]
    assert sorted(names) == ["child", "child 2", "parent"]
