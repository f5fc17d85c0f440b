"""The HTTP API. View function names are the Flask endpoint names, i.e. the `endpoint` metric label,
and match the manual span names of ADR 0001 where there is one."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, Response, jsonify, url_for
from sqlalchemy import delete, func, insert, select, text, update

from taskapp.errors import SimulatedError
from taskapp.logs import log_safely
from taskapp.models import INT_MAX, Task, db, utcnow
from taskapp.openapi import build_spec
from taskapp.state import current_state
from taskapp.validation import (
    ApiError,
    choice_arg,
    float_arg,
    int_arg,
    parse_task,
    read_json_object,
    task_id_from,
)

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_DELAY_S = 10.0
MAX_SMOKE_OPS = 5000
SMOKE_TYPES = ("read", "write", "rw")


def _tracer() -> Any:
    return current_state().telemetry.tracer


def _load_task(task_id: int) -> Task:
    task = db.session.get(Task, task_id)
    if task is None:
        raise ApiError(404, f"task {task_id} not found")
    return task


# -- probes and metrics -------------------------------------------------------------------------
def index() -> Response:
    """A map of the API for people who open the backend in a browser."""
    return jsonify(
        service=current_state().settings.service_name,
        version=current_state().settings.service_version,
        endpoints=[
            "GET /health", "GET /ready", "GET /metrics", "GET /openapi.json",
            "GET|POST /api/tasks", "GET|PUT|DELETE /api/tasks/<id>",
            "GET /api/simulate-slow?delay=S", "GET /api/simulate-error",
            "POST /api/smoke/db?ops=N&type=read|write|rw",
        ],
    )  # fmt: skip


def health() -> Response:
    """Liveness: the process answers HTTP. Deliberately does not touch the database."""
    return jsonify(status="ok")


def ready() -> tuple[Response, int]:
    """Readiness: the database answers a query."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:
        db.session.rollback()
        log_safely(current_state().logger, 30, "Readiness check failed", {"error.type": type(exc).__name__})
        return jsonify(status="unavailable", error="database unavailable"), 503
    return jsonify(status="ready", database="ok"), 200


def openapi() -> Response:
    """The API contract (OpenAPI 3.1), for clients and for schemathesis."""
    return jsonify(build_spec(current_state().settings.service_version))


def metrics() -> Response:
    """Prometheus exposition (OpenMetrics with exemplars when the scraper asks for it)."""
    return current_state().metrics.exposition()


# -- tasks ---------------------------------------------------------------------------------------
def get_all_tasks() -> Response:
    """A page of tasks, newest first; `count` is the total number of tasks."""
    limit = int_arg("limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
    offset = int_arg("offset", 0, minimum=0, maximum=INT_MAX)
    with _tracer().start_as_current_span("get_all_tasks") as span:
        total = db.session.scalar(select(func.count()).select_from(Task)) or 0
        tasks = db.session.scalars(select(Task).order_by(Task.id.desc()).limit(limit).offset(offset)).all()
        span.set_attribute("task.count", len(tasks))
    return jsonify(count=total, limit=limit, offset=offset, tasks=[t.to_dict() for t in tasks])


def create_task() -> tuple[Response, int, dict[str, str]]:
    """Create a task from {"title", "description"?, "completed"?}."""
    fields = parse_task(read_json_object(), partial=False)
    with _tracer().start_as_current_span("create_task") as span:
        span.set_attribute("task.title", fields["title"])
        task = Task(**fields)
        db.session.add(task)
        db.session.commit()
        span.set_attribute("task.id", task.id)
        span.set_attribute("task.completed", task.completed)
        body = task.to_dict()
    log_safely(current_state().logger, 20, "Task created", {"task.id": task.id})
    return jsonify(body), 201, {"Location": url_for("get_task", task_id=task.id)}


def get_task(task_id: str) -> Response:
    """One task by id."""
    tid = task_id_from(task_id)
    with _tracer().start_as_current_span("get_task") as span:
        span.set_attribute("task.id", tid)
        task = _load_task(tid)
        return jsonify(task.to_dict())


def update_task(task_id: str) -> Response:
    """Change any of title, description, completed."""
    tid = task_id_from(task_id)
    fields = parse_task(read_json_object(), partial=True)
    with _tracer().start_as_current_span("update_task") as span:
        span.set_attribute("task.id", tid)
        task = _load_task(tid)
        for name, value in fields.items():
            setattr(task, name, value)
        task.updated_at = utcnow()
        db.session.commit()
        span.set_attribute("task.title", task.title)
        span.set_attribute("task.completed", task.completed)
        body = task.to_dict()
    log_safely(current_state().logger, 20, "Task updated", {"task.id": tid})
    return jsonify(body)


def delete_task(task_id: str) -> Response:
    """Delete a task; answers with its id."""
    tid = task_id_from(task_id)
    with _tracer().start_as_current_span("delete_task") as span:
        span.set_attribute("task.id", tid)
        task = _load_task(tid)
        db.session.delete(task)
        db.session.commit()
    log_safely(current_state().logger, 20, "Task deleted", {"task.id": tid})
    return jsonify(deleted=True, id=tid)


# -- failure and load simulation -------------------------------------------------------------------
def simulate_slow() -> Response:
    """Sleep `delay` seconds (0..10) so latency shows in metrics, traces and logs; a JSON 503 at
    once when TASKAPP_MAX_SLOW of them already run (admission control, ADR 0007)."""
    delay = float_arg("delay", 1.0, minimum=0.0, maximum=MAX_DELAY_S)
    with current_state().slow_slots.slot(), _tracer().start_as_current_span("simulate_slow") as span:
        span.set_attribute("slow.delay_seconds", delay)
        time.sleep(delay)
    return jsonify(delayed_seconds=delay)


def simulate_error() -> Response:
    """Always fails with a 500, recorded on the span (exception event, ERROR status) and in the logs."""
    with _tracer().start_as_current_span("simulate_error"):
        raise SimulatedError("Simulated error for testing")


def db_smoke() -> Response:
    """Run `ops` reads and/or writes (1..5000) in one transaction that is always rolled back; a
    JSON 503 at once when TASKAPP_MAX_SMOKE of them already run."""
    ops = int_arg("ops", 100, minimum=1, maximum=MAX_SMOKE_OPS)
    kind = choice_arg("type", "read", SMOKE_TYPES)
    reads = writes = 0
    last_id: int | None = None
    started = time.perf_counter()
    with current_state().smoke_slots.slot(), _tracer().start_as_current_span("db_smoke") as span:
        span.set_attribute("db.smoke.ops", ops)
        span.set_attribute("db.smoke.type", kind)
        try:
            for i in range(ops):
                if kind == "read" or (kind == "rw" and i % 2 == 0):
                    db.session.execute(select(Task.id).order_by(Task.id.desc()).limit(1)).first()
                    reads += 1
                else:
                    # Writes cycle INSERT -> UPDATE -> DELETE of the same row, so a smoke run
                    # exercises (and the histogram shows) every write operation.
                    now = utcnow()
                    step = writes % 3
                    if step == 0 or last_id is None:
                        result = db.session.execute(
                            insert(Task).values(
                                title=f"smoke {i}",
                                description="",
                                completed=False,
                                created_at=now,
                                updated_at=now,
                            )
                        )
                        last_id = result.inserted_primary_key[0]
                    elif step == 1:
                        db.session.execute(
                            update(Task).where(Task.id == last_id).values(completed=True, updated_at=now)
                        )
                    else:
                        db.session.execute(delete(Task).where(Task.id == last_id))
                        last_id = None
                    writes += 1
        finally:
            db.session.rollback()
    return jsonify(
        ops=ops,
        type=kind,
        reads=reads,
        writes=writes,
        rolled_back=True,
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
    )


# What each API endpoint answers when it works (200 unless listed): the series its metrics start with.
SUCCESS_STATUS = {"create_task": 201, "simulate_error": 500}


def api_endpoints(app: Flask) -> list[tuple[str, str, int]]:
    """(method, endpoint, success status) of every /api/ route: the traffic the SLIs are about."""
    return [
        (method, rule.endpoint, SUCCESS_STATUS.get(rule.endpoint, 200))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    ]


def register_routes(app: Flask) -> None:
    """Bind the views; the endpoint names are part of the metrics contract."""
    rules: list[tuple[str, Any, list[str]]] = [
        ("/", index, ["GET"]),
        ("/health", health, ["GET"]),
        ("/ready", ready, ["GET"]),
        ("/metrics", metrics, ["GET"]),
        ("/openapi.json", openapi, ["GET"]),
        ("/api/tasks", get_all_tasks, ["GET"]),
        ("/api/tasks", create_task, ["POST"]),
        ("/api/tasks/<task_id>", get_task, ["GET"]),
        ("/api/tasks/<task_id>", update_task, ["PUT"]),
        ("/api/tasks/<task_id>", delete_task, ["DELETE"]),
        ("/api/simulate-slow", simulate_slow, ["GET"]),
        ("/api/simulate-error", simulate_error, ["GET"]),
        ("/api/smoke/db", db_smoke, ["POST"]),
    ]
    for rule, view, methods in rules:
        app.add_url_rule(rule, endpoint=view.__name__, view_func=view, methods=methods)
