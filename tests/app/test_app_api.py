"""The task API over real HTTP (waitress on a free port) with a real SQLite file."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from app_support import LiveServer

JSON = {"Content-Type": "application/json"}
TEXT = {"Content-Type": "text/plain"}


def create(live: LiveServer, **fields: object) -> dict:
    response = live("POST", "/api/tasks", json=fields)
    assert response.status_code == 201, response.text
    return response.json()


def test_probes(live: LiveServer) -> None:
    assert live("GET", "/health").json() == {"status": "ok"}
    ready = live("GET", "/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert "endpoints" in live("GET", "/").json()


def test_crud_round_trip(live: LiveServer, tmp_path: Path) -> None:
    response = live("POST", "/api/tasks", json={"title": "  Write tests  ", "description": "all of them"})
    assert response.status_code == 201
    task = response.json()
    assert task["title"] == "Write tests"  # surrounding blanks are trimmed
    assert task["description"] == "all of them"
    assert task["completed"] is False
    assert task["created_at"].endswith("Z") and task["updated_at"].endswith("Z")
    assert response.headers["Location"].endswith(f"/api/tasks/{task['id']}")

    assert live("GET", f"/api/tasks/{task['id']}").json() == task

    updated = live("PUT", f"/api/tasks/{task['id']}", json={"completed": True})
    assert updated.status_code == 200
    assert updated.json()["completed"] is True
    assert updated.json()["title"] == "Write tests"
    assert updated.json()["updated_at"] >= task["updated_at"]

    # the row is really in the SQLite file on disk
    with sqlite3.connect(tmp_path / "tasks-0.db") as conn:
        rows = conn.execute("SELECT id, title, completed FROM tasks").fetchall()
    assert rows == [(task["id"], "Write tests", 1)]

    deleted = live("DELETE", f"/api/tasks/{task['id']}")
    assert deleted.status_code == 200
    assert deleted.json() == {"deleted": True, "id": task["id"]}
    missing = live("GET", f"/api/tasks/{task['id']}")
    assert missing.status_code == 404
    assert missing.json() == {"error": f"task {task['id']} not found"}
    assert live("DELETE", f"/api/tasks/{task['id']}").status_code == 404
    assert live("PUT", f"/api/tasks/{task['id']}", json={"title": "x"}).status_code == 404


def test_list_is_newest_first_with_total_count_and_paging(live: LiveServer) -> None:
    ids = [create(live, title=f"task {i}")["id"] for i in range(5)]
    body = live("GET", "/api/tasks").json()
    assert body["count"] == 5
    assert [t["id"] for t in body["tasks"]] == ids[::-1]
    page = live("GET", "/api/tasks", params={"limit": 2, "offset": 1}).json()
    assert page["count"] == 5 and page["limit"] == 2 and page["offset"] == 1
    assert [t["id"] for t in page["tasks"]] == [ids[3], ids[2]]
    assert live("GET", "/api/tasks", params={"offset": 99}).json()["tasks"] == []


BAD_REQUESTS = [
    # (method, path, kwargs, status, substring of the error)
    ("POST", "/api/tasks", {"data": "{not json", "headers": JSON}, 400, "not valid JSON"),
    ("POST", "/api/tasks", {"data": "", "headers": JSON}, 400, "empty"),
    ("POST", "/api/tasks", {"data": "[1, 2]", "headers": JSON}, 400, "JSON object"),
    ("POST", "/api/tasks", {"data": "title=x", "headers": TEXT}, 415, "application/json"),
    ("POST", "/api/tasks", {"data": '{"title": "x"}'}, 415, "application/json"),
    ("POST", "/api/tasks", {"json": {}}, 400, "title is required"),
    ("POST", "/api/tasks", {"json": {"title": ""}}, 400, "title must not be empty"),
    ("POST", "/api/tasks", {"json": {"title": "   "}}, 400, "title must not be empty"),
    ("POST", "/api/tasks", {"json": {"title": "x" * 201}}, 400, "at most 200"),
    ("POST", "/api/tasks", {"json": {"title": 5}}, 400, "title must be a string"),
    ("POST", "/api/tasks", {"json": {"title": None}}, 400, "title must be a string"),
    ("POST", "/api/tasks", {"json": {"title": "a\u0000b"}}, 400, "NUL"),
    ("POST", "/api/tasks", {"data": '{"title": "\\ud800"}', "headers": JSON}, 400, "valid Unicode"),
    ("POST", "/api/tasks", {"data": b'{"title": "\xff"}', "headers": JSON}, 400, "not valid JSON"),
    ("POST", "/api/tasks", {"data": "[" * 100_000, "headers": JSON}, 413, "65536"),
    ("POST", "/api/tasks", {"data": "[" * 50_000, "headers": JSON}, 400, "not valid JSON"),
    ("POST", "/api/tasks", {"json": {"title": "x", "description": "d" * 10_001}}, 400, "at most 10000"),
    ("POST", "/api/tasks", {"json": {"title": "x", "completed": "yes"}}, 400, "true or false"),
    ("POST", "/api/tasks", {"json": {"title": "x", "completed": 1}}, 400, "true or false"),
    ("PUT", "/api/tasks/1", {"json": {}}, 400, "nothing to update"),
    ("GET", "/api/tasks/abc", {}, 400, "task id"),
    ("GET", "/api/tasks/-1", {}, 400, "task id"),
    ("GET", "/api/tasks/0", {}, 400, "task id"),
    ("GET", "/api/tasks/1.5", {}, 400, "task id"),
    ("GET", "/api/tasks/99999999999999999999999", {}, 400, "task id"),
    ("DELETE", "/api/tasks/%20", {}, 400, "task id"),
    ("GET", "/api/tasks/2147483647", {}, 404, "not found"),
    ("GET", "/api/tasks?limit=0", {}, 400, "limit"),
    ("GET", "/api/tasks?limit=1001", {}, 400, "limit"),
    ("GET", "/api/tasks?limit=ten", {}, 400, "limit"),
    ("GET", "/api/tasks?offset=-1", {}, 400, "offset"),
    ("GET", "/api/tasks?offset=1e3", {}, 400, "offset"),
    ("GET", "/api/simulate-slow?delay=-1", {}, 400, "delay"),
    ("GET", "/api/simulate-slow?delay=10.5", {}, 400, "delay"),
    ("GET", "/api/simulate-slow?delay=nan", {}, 400, "delay"),
    ("GET", "/api/simulate-slow?delay=inf", {}, 400, "delay"),
    ("GET", "/api/simulate-slow?delay=1e400", {}, 400, "delay"),
    ("POST", "/api/smoke/db?ops=0", {}, 400, "ops"),
    ("POST", "/api/smoke/db?ops=5001", {}, 400, "ops"),
    ("POST", "/api/smoke/db?ops=x", {}, 400, "ops"),
    ("POST", "/api/smoke/db?type=delete", {}, 400, "type"),
    ("GET", "/api/smoke/db", {}, 405, "method not allowed"),
    ("PATCH", "/api/tasks", {}, 405, "method not allowed"),
    ("GET", "/api/nothing-here", {}, 404, "not found"),
    ("GET", "/api/tasks/1/extra", {}, 404, "not found"),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "message"), BAD_REQUESTS)
def test_bad_input_is_a_json_4xx(
    live: LiveServer, method: str, path: str, kwargs: dict, status: int, message: str
) -> None:
    create(live, title="existing")  # id 1 exists, so PUT /api/tasks/1 reaches validation
    response = live(method, path, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert message in response.json()["error"]


def test_title_length_counts_after_trimming(live: LiveServer) -> None:
    title = "t" * 200
    assert create(live, title=" " + title)["title"] == title
    assert create(live, title=f"\t{title}\n  ")["title"] == title
    response = live("POST", "/api/tasks", json={"title": " " + "t" * 201})
    assert response.status_code == 400 and "at most 200" in response.json()["error"]
    task = create(live, title="short")
    assert live("PUT", f"/api/tasks/{task['id']}", json={"title": "  " + title}).json()["title"] == title


def test_unknown_fields_are_rejected_and_named(live: LiveServer) -> None:
    response = live("POST", "/api/tasks", json={"title": "x", "priority": 1, "owner": "me"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert "'owner'" in error and "'priority'" in error
    task = create(live, title="y")
    response = live("PUT", f"/api/tasks/{task['id']}", json={"done": True})
    assert response.status_code == 400
    assert "'done'" in response.json()["error"]
    assert live("GET", "/api/tasks").json()["count"] == 1


def test_body_over_64_kib_is_413_also_when_chunked(live: LiveServer) -> None:
    body = b'{"title": "x", "description": "' + b"d" * 70_000 + b'"}'
    response = live("POST", "/api/tasks", data=body, headers=JSON)
    assert response.status_code == 413
    assert "65536" in response.json()["error"]

    def chunks():  # no Content-Length: the limit must hold while streaming too
        yield body[:40_000]
        yield body[40_000:]

    response = live("POST", "/api/tasks", data=chunks(), headers=JSON)
    assert response.status_code == 413
    # exactly at the limit is fine as far as size goes
    at_limit = b'{"title": "x", "description": "' + b"d" * (65_536 - 33) + b'"}'
    assert len(at_limit) == 65_536
    assert live("POST", "/api/tasks", data=at_limit, headers=JSON).status_code == 400  # > 10 000 chars


def test_simulate_slow_sleeps(live: LiveServer) -> None:
    started = time.perf_counter()
    response = live("GET", "/api/simulate-slow", params={"delay": "0.3"})
    assert response.status_code == 200
    assert response.json() == {"delayed_seconds": 0.3}
    assert time.perf_counter() - started >= 0.3


def test_simulate_error_is_a_json_500(live: LiveServer) -> None:
    response = live("GET", "/api/simulate-error")
    assert response.status_code == 500
    assert response.json() == {"error": "simulated error"}


@pytest.mark.parametrize("kind", ["read", "write", "rw"])
def test_db_smoke_rolls_back_writes(live: LiveServer, kind: str) -> None:
    create(live, title="keep me")
    response = live("POST", "/api/smoke/db", params={"ops": 50, "type": kind})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ops"] == 50 and body["type"] == kind and body["rolled_back"] is True
    assert body["reads"] + body["writes"] == 50
    assert body["writes"] == {"read": 0, "write": 50, "rw": 25}[kind]
    assert live("GET", "/api/tasks").json()["count"] == 1


def test_db_smoke_writes_exercise_insert_update_and_delete(live: LiveServer) -> None:
    live("POST", "/api/smoke/db", params={"ops": 6, "type": "write"})
    text = live("GET", "/metrics").text
    for op in ("INSERT", "UPDATE", "DELETE"):
        assert f'db_query_duration_seconds_count{{operation="{op}"}}' in text, f"no {op} observed"


def test_request_id_and_trace_id_headers(live: LiveServer) -> None:
    response = live("GET", "/health", headers={"X-Request-ID": "req-123"})
    assert response.headers["X-Request-ID"] == "req-123"
    assert len(response.headers["X-Trace-Id"]) == 32
    # a hostile request id is neither echoed nor logged
    response = live("GET", "/health", headers={"X-Request-ID": "a b\tc" + "x" * 200})
    assert "X-Request-ID" not in response.headers


def test_head_and_options_work(live: LiveServer) -> None:
    assert live("HEAD", "/api/tasks").status_code == 200
    options = live("OPTIONS", "/api/tasks")
    assert options.status_code == 200
    assert {"GET", "POST"} <= {m.strip() for m in options.headers["Allow"].split(",")}
