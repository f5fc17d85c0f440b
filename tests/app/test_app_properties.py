"""Property-based bad-input tests: whatever a client sends to any endpoint, the answer is never a
5xx (except /api/simulate-error, which fails on purpose), and every error is JSON {"error": ...}."""

from __future__ import annotations

import json
import string
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import taskapp.api
from app_support import app_config, make_otel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from taskapp import create_app, shutdown
from taskapp.validation import BLANKS

SETTINGS = settings(
    max_examples=250,
    database=None,  # no .hypothesis/ directory in the work tree
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
ROUTES = [
    "/",
    "/health",
    "/ready",
    "/metrics",
    "/api/tasks",
    "/api/tasks/{id}",
    "/api/simulate-slow",
    "/api/simulate-error",
    "/api/smoke/db",
]
QUERY_KEYS = ["limit", "offset", "delay", "ops", "type", "x"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)
task_like = st.dictionaries(
    st.sampled_from(["title", "description", "completed", "id", "extra", ""]) | st.text(max_size=8),
    json_values | st.text(max_size=300),
    max_size=4,
)
bodies = st.one_of(
    st.none(),
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
    json_values.map(lambda v: json.dumps(v).encode()),
    task_like.map(lambda v: json.dumps(v).encode()),
    task_like.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")),
)
content_types = st.sampled_from(
    [None, "application/json", "application/json; charset=utf-8", "text/plain",
     "application/x-www-form-urlencoded", "application/merge-patch+json", "multipart/form-data; boundary=x"]
)  # fmt: skip
query_values = st.one_of(
    st.integers(-10, 30).map(str),
    st.sampled_from(["0", "1", "5000", "5001", "1e3", "nan", "inf", "-0", "0x10", "10.0", "\u0661", "1_0"]),
    st.sampled_from(["read", "write", "rw", "READ", ""]),
    st.text(alphabet=string.printable, max_size=12),
    st.text(max_size=6),
)
ids = st.one_of(
    st.integers(-5, 10**20).map(str),
    st.sampled_from(["1", "abc", "1.0", "%00", "%20", "\uff12", "0x1", "-0", ""]),
    st.text(alphabet=string.ascii_letters + string.digits + "-_.~%", min_size=1, max_size=12),
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One app for all examples (hypothesis reruns the body many times), with sleep disabled."""
    db_path: Path = tmp_path_factory.mktemp("props") / "tasks.db"
    app = create_app(app_config(db_path, make_otel()))
    original = taskapp.api.time
    taskapp.api.time = types.SimpleNamespace(sleep=lambda _s: None, perf_counter=original.perf_counter)
    try:
        with app.test_client() as test_client:
            assert test_client.post("/api/tasks", json={"title": "seed"}).status_code == 201
            yield test_client
    finally:
        taskapp.api.time = original
        shutdown(app)


def check(response: Any, method: str, path: str) -> None:
    if path == "/api/simulate-error" and method in ("GET", "HEAD"):
        assert response.status_code == 500
    else:
        assert response.status_code < 500, (method, path, response.status_code, response.get_data()[:300])
    if response.status_code >= 400 and method != "HEAD":
        assert response.is_json, response.get_data()[:200]
        body = response.get_json()
        assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]


@SETTINGS
@given(
    method=st.sampled_from(METHODS),
    route=st.sampled_from(ROUTES),
    task_id=ids,
    query=st.dictionaries(st.sampled_from(QUERY_KEYS), query_values, max_size=3),
    body=bodies,
    content_type=content_types,
)
def test_no_5xx_on_any_endpoint(
    client: Any,
    method: str,
    route: str,
    task_id: str,
    query: dict,
    body: bytes | None,
    content_type: str | None,
) -> None:
    path = route.replace("{id}", task_id)
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.open(path, method=method, query_string=query, data=body, headers=headers)
    check(response, method, path)


@SETTINGS
@given(payload=task_like)
def test_create_and_update_accept_exactly_the_valid_payloads(client: Any, payload: dict) -> None:
    response = client.post("/api/tasks", json=payload)
    check(response, "POST", "/api/tasks")
    valid = (
        set(payload) <= {"title", "description", "completed"}
        and isinstance(payload.get("title"), str)
        and 1 <= len(payload["title"].strip(BLANKS)) <= 200  # the README: 1-200 characters after trimming
        and "\x00" not in payload["title"]
        and (payload.get("description") is None or isinstance(payload.get("description"), str))
        and "\x00" not in (payload.get("description") or "")
        and isinstance(payload.get("completed", False), bool)
    )
    assert (response.status_code == 201) == valid, (payload, response.get_json())
    if valid:
        task = response.get_json()
        assert task["title"] == payload["title"].strip(BLANKS)
        assert task["description"] == (payload.get("description") or "")
        assert task["completed"] == payload.get("completed", False)
        fetched = client.get(f"/api/tasks/{task['id']}").get_json()
        assert fetched == task
        update = client.put(f"/api/tasks/{task['id']}", json=payload)
        assert update.status_code == 200
    else:
        assert response.status_code in (400, 415)


@SETTINGS
@given(raw=st.binary(max_size=200))
def test_raw_bytes_as_json_never_5xx(client: Any, raw: bytes) -> None:
    for method, path in (("POST", "/api/tasks"), ("PUT", "/api/tasks/1")):
        response = client.open(path, method=method, data=raw, headers={"Content-Type": "application/json"})
        check(response, method, path)
        assert response.status_code in (200, 201, 400)
