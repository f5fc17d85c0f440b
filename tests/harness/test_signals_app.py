"""AppClient and trace-context helpers against a real local HTTP server playing the app's API
(routes and shapes of ADR 0001 / issue 4)."""

from __future__ import annotations

import time

import pytest
import requests

from harness.clients.app import AppClient
from harness.clients.base import SignalError
from harness.clients.tracecontext import new_span_id, new_trace_id, new_traceparent, parse_traceparent
from tests.harness.fake_http import Recorded, Reply

TASK = {"id": 7, "title": "buy milk", "description": "2 litres", "completed": False}



@pytest.fixture
def app(server) -> AppClient:
    return AppClient(server.url)


def test_new_traceparent_is_w3c_and_random():
    header, trace_id, span_id = new_traceparent()
    assert header == f"00-{trace_id}-{span_id}-01"
    assert parse_traceparent(header) == (trace_id, span_id, True)
    assert len(trace_id) == 32 and len(span_id) == 16 and trace_id == trace_id.lower()
    assert new_traceparent(sampled=False)[0].endswith("-00")
    assert len({new_trace_id() for _ in range(50)}) == 50 and len({new_span_id() for _ in range(50)}) == 50


@pytest.mark.parametrize("bad", [
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # zero span id
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
])
def test_parse_traceparent_rejects_invalid(bad):
    with pytest.raises(ValueError):
        parse_traceparent(bad)


def test_create_task_posts_json_with_traceparent(server, app):
    server.route("POST", "/api/tasks", Reply(201, TASK))
    header, _, _ = new_traceparent()
    status, body = app.create_task("buy milk", "2 litres", traceparent=header)
    assert (status, body) == (201, TASK)
    sent = server.last("/api/tasks")
    assert sent.json() == {"title": "buy milk", "description": "2 litres"}
    assert sent.headers["traceparent"] == header
    assert sent.headers["Content-Type"] == "application/json"


def test_create_task_without_description_or_traceparent(server, app):
    server.route("POST", "/api/tasks", Reply(400, {"error": "title is required"}))
    assert app.create_task("") == (400, {"error": "title is required"})
    sent = server.last()
    assert sent.json() == {"title": ""} and "traceparent" not in sent.headers


def test_list_get_update_delete(server, app):
    server.route("GET", "/api/tasks", Reply(body={"count": 1, "tasks": [TASK]}))
    server.route("GET", "/api/tasks/7", Reply(body=TASK))
    server.route("PUT", "/api/tasks/7", Reply(body={**TASK, "completed": True}))
    server.route("DELETE", "/api/tasks/7", Reply(body={"message": "Task deleted"}))
    assert app.list_tasks(limit=5, offset=10) == (200, {"count": 1, "tasks": [TASK]})
    assert (server.last().param("limit"), server.last().param("offset")) == ("5", "10")
    assert app.list_tasks()[0] == 200 and server.last().query == {}
    assert app.get_task(7) == (200, TASK)
    assert app.update_task(7, completed=True) == (200, {**TASK, "completed": True})
    assert server.last().json() == {"completed": True}
    assert app.delete_task(7) == (200, {"message": "Task deleted"})
    assert app.get_task(99) == (404, None)  # a non-JSON body gives None
    assert app.last_response.text == "404 page not found"


def test_simulate_error_returns_500_not_an_exception(server, app):
    server.route("GET", "/api/simulate-error", Reply(500, {"error": "Simulated error"}))
    assert app.simulate_error() == (500, {"error": "Simulated error"})


def test_simulate_slow_stretches_the_timeout_by_the_delay(server, monkeypatch):
    monkeypatch.delenv("LAB_TIMEOUT_SCALE", raising=False)
    server.route("GET", "/api/simulate-slow", Reply(body={"delay": 0.6}, delay=0.6))
    app = AppClient(server.url, timeout=0.3)
    assert app.simulate_slow(0.6) == (200, {"delay": 0.6})
    assert server.last().param("delay") == "0.6"


def test_timeout_is_honoured(server, monkeypatch):
    monkeypatch.delenv("LAB_TIMEOUT_SCALE", raising=False)
    server.route("GET", "/api/tasks", Reply(body={"count": 0, "tasks": []}, delay=2))
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        AppClient(server.url, timeout=0.3).list_tasks()
    assert time.monotonic() - started < 1.5


def test_db_smoke(server, app):
    server.route("POST", "/api/smoke/db", Reply(body={"ops": 20, "type": "write"}))
    assert app.db_smoke(20, "write") == (200, {"ops": 20, "type": "write"})
    assert (server.last().param("ops"), server.last().param("type")) == ("20", "write")
    with pytest.raises(ValueError):
        app.db_smoke(1, "delete")


def test_probes_and_metrics(server, app):
    server.route("GET", "/health", Reply(body={"status": "healthy"}))
    server.route("GET", "/ready", Reply(503, {"status": "not ready", "database": "down"}))
    server.route("GET", "/metrics", Reply(body="# TYPE http_requests_total counter\nhttp_requests_total 3\n"))
    assert app.health() == (200, {"status": "healthy"})
    assert app.ready() == (503, {"status": "not ready", "database": "down"})
    assert "http_requests_total 3" in app.metrics_text()


def test_metrics_error_raises(server, app):
    with pytest.raises(SignalError, match="HTTP 404"):
        app.metrics_text()


def test_through_a_prefix_like_nginx(server):
    """The frontend URL proxies /api/: the client must keep the path it is given."""
    def echo(request: Recorded) -> Reply:
        return Reply(body={"count": 0, "tasks": [], "path": request.path})
    server.route("GET", "/api/tasks", echo)
    assert AppClient(server.url + "/").list_tasks()[1]["path"] == "/api/tasks"
