"""Hostile clients against the front: the frontend image's nginx config, rendered as its entrypoint
renders it, run with Debian's nginx in front of the backend as its image serves it (gunicorn).

nginx's own answers must be JSON, honest (504 is a timeout, 502 is a dead backend), sized like the
backend (64 KiB), and the front must stay available to other clients while one client misbehaves.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from app_support import HangingServer
from attacks import ATTACKER, assert_available, exchange, flood, idle_connections, measure, slow_headers
from servers import FRONTEND, NGINX, NGINX_MISSING, ImageBackend, NginxFront

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.skipif(NGINX is None, reason=NGINX_MISSING),
]
TRACE_ID = "5b8efff798038103d269b633813fc60c"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ImageBackend, NginxFront]]:
    root = tmp_path_factory.mktemp("front")
    backend = ImageBackend(root / "backend")
    front = NginxFront(root / "nginx", backend.port)
    yield backend, front
    front.stop()
    backend.stop()


@pytest.fixture
def fresh_stack(tmp_path: Path) -> Iterator[tuple[ImageBackend, NginxFront]]:
    backend = ImageBackend(tmp_path / "backend")
    front = NginxFront(tmp_path / "nginx", backend.port)
    yield backend, front
    front.stop()
    backend.stop()


def json_error(response: requests.Response | object, status: int) -> dict:
    """Assert a JSON {"error": ...} with `status`; works for requests and raw responses."""
    if isinstance(response, requests.Response):
        code, ctype, body = response.status_code, response.headers.get("Content-Type", ""), response.content
    else:
        code, ctype, body = response.status, response.headers.get("content-type", ""), response.body  # type: ignore[attr-defined]
    assert code == status, (code, body[:300])
    assert ctype.startswith("application/json"), (ctype, body[:300])
    parsed = json.loads(body)
    assert isinstance(parsed.get("error"), str) and parsed["error"], parsed
    return parsed


# -- nginx's own errors are JSON ------------------------------------------------------------------
def test_nginx_own_error_pages_are_json(stack: tuple[ImageBackend, NginxFront]) -> None:
    _backend, front = stack
    json_error(exchange(front.port, b"GARBAGE\r\n\r\n"), 400)
    json_error(exchange(front.port, b"GET / HTTP/1.1\r\n\r\n"), 400)  # HTTP/1.1 without Host
    json_error(requests.post(front.url + "/index.html", data=b"x", timeout=5), 405)
    json_error(requests.get(front.url + "/" + "a" * 9_000, timeout=5), 414)
    json_error(requests.get(front.url + "/no-such-file", timeout=5), 404)
    big = requests.post(
        front.url + "/api/tasks", data=b"x" * 70_000, headers={"Content-Type": "application/json"}, timeout=5
    )
    assert "65536" in json_error(big, 413)["error"] or "64" in json_error(big, 413)["error"]


def test_body_limit_matches_the_backend(stack: tuple[ImageBackend, NginxFront]) -> None:
    _backend, front = stack
    at_limit = b'{"title": "at the limit"}' + b" " * (65_536 - 25)
    assert len(at_limit) == 65_536
    created = requests.post(
        front.url + "/api/tasks", data=at_limit, headers={"Content-Type": "application/json"}, timeout=5
    )
    assert created.status_code == 201, created.text
    # chunked through the front: nginx counts the body too
    def chunks():
        yield at_limit
        yield b" "

    json_error(requests.post(front.url + "/api/tasks", data=chunks(),
                             headers={"Content-Type": "application/json"}, timeout=5), 413)


def test_a_timeout_is_a_504_and_is_not_retried(tmp_path: Path) -> None:
    """A backend that took the request and never answers: the front says 504 (the write may have
    happened), not 502 (nothing happened), and does not send the request a second time."""
    hanging = HangingServer()
    front = NginxFront(tmp_path / "nginx", int(hanging.url.rsplit(":", 1)[1]))
    try:
        started = time.monotonic()
        response = requests.post(front.url + "/api/tasks", json={"title": "maybe"}, timeout=40)
        elapsed = time.monotonic() - started
        body = json_error(response, 504)
        assert "timed out" in body["error"] and "retry" in body["error"]
        assert 14 <= elapsed < 30, elapsed  # proxy_read_timeout 15 s: above simulate-slow's 10 s
        assert hanging.accepted == 1  # no second attempt
    finally:
        front.stop()
        hanging.stop()


def test_a_dead_backend_is_a_502(tmp_path: Path) -> None:
    backend = ImageBackend(tmp_path / "backend")
    front = NginxFront(tmp_path / "nginx", backend.port)
    try:
        backend.stop()
        json_error(requests.get(front.url + "/api/tasks", timeout=10), 502)
        assert requests.get(front.url + "/healthz", timeout=5).status_code == 200
    finally:
        front.stop()


def test_foreign_host_is_not_reflected(stack: tuple[ImageBackend, NginxFront]) -> None:
    _backend, front = stack
    for path in ("/api//tasks", "/api/tasks/", "/api//tasks/1"):
        response = exchange(
            front.port, f"GET {path} HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n".encode()
        )
        assert not 300 <= response.status < 400, response.raw[:300]
        assert b"evil.example" not in response.raw
        json_error(response, 404)


# -- trace headers from clients -----------------------------------------------------------------------
def test_a_valid_traceparent_is_honoured(stack: tuple[ImageBackend, NginxFront]) -> None:
    _backend, front = stack
    response = requests.get(
        front.url + "/api/tasks", headers={"traceparent": f"00-{TRACE_ID}-eee19b7ec3c1b174-01"}, timeout=5
    )
    assert response.status_code == 200
    assert response.headers["X-Trace-Id"] == TRACE_ID  # the harness chooses trace ids this way


@pytest.mark.parametrize(
    "headers",
    [
        {"traceparent": "00-" + "0" * 32 + "-eee19b7ec3c1b174-01"},
        {"traceparent": f"00-{TRACE_ID.upper()}-eee19b7ec3c1b174-01"},
        {"traceparent": f"ff-{TRACE_ID}-eee19b7ec3c1b174-01"},
        {"traceparent": f"00-{TRACE_ID}-eee19b7ec3c1b174-01-" + "x" * 500},
        {"traceparent": f"00-{TRACE_ID}-eee19b7ec3c1b174-01", "tracestate": "a=" + "b" * 600},
        {"traceparent": f"00-{TRACE_ID}-eee19b7ec3c1b174-01", "baggage": "user=admin,role=root"},
    ],
)
def test_untrusted_trace_headers_are_cleaned(stack: tuple[ImageBackend, NginxFront], headers: dict) -> None:
    _backend, front = stack
    response = requests.get(front.url + "/api/tasks", headers=headers, timeout=5)
    assert response.status_code == 200
    trace_id = response.headers.get("X-Trace-Id")
    valid_traceparent = re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}", headers["traceparent"])
    if valid_traceparent and "0" * 32 not in headers["traceparent"]:
        assert trace_id == TRACE_ID
    else:
        assert trace_id != TRACE_ID  # the malformed header did not reach the backend as given
    log = [line for line in front.output().splitlines() if '"path":"/api/tasks"' in line]
    assert "user=admin" not in log[-1] and "b" * 600 not in log[-1]


def test_trace_context_drop_passes_no_client_trace_header(tmp_path: Path) -> None:
    backend = ImageBackend(tmp_path / "backend")
    front = NginxFront(tmp_path / "nginx", backend.port, trace_context="drop")
    try:
        response = requests.get(front.url + "/api/tasks", timeout=5,
                                headers={"traceparent": f"00-{TRACE_ID}-eee19b7ec3c1b174-01"})
    finally:
        front.stop()
        backend.stop()
    assert response.status_code == 200 and response.headers["X-Trace-Id"] != TRACE_ID


def test_entrypoint_refuses_an_unknown_trace_context_naming_the_key() -> None:
    entrypoint = FRONTEND / "docker-entrypoint.sh"
    result = subprocess.run(["sh", str(entrypoint), "true"], capture_output=True, text=True, timeout=30,
                            env={**os.environ, "NGINX_TRACE_CONTEXT": "trust-everyone"})
    assert result.returncode == 2 and "NGINX_TRACE_CONTEXT must be" in result.stderr, result.stderr


# -- availability of the front ------------------------------------------------------------------------
FRONT_ATTACKS = [
    pytest.param(slow_headers(300), id="slow-headers-300"),
    pytest.param(idle_connections(2200), id="idle-2200"),
    pytest.param(idle_connections(3000, keepalive_first=True), id="idle-keepalive-3000"),
    pytest.param(flood("/api/simulate-slow?delay=5", concurrency=20), id="flood-simulate-slow-20"),
    pytest.param(flood("/api/smoke/db?ops=5000&type=rw", "POST", concurrency=20), id="flood-smoke-db-20"),
]


@pytest.mark.parametrize("attack", FRONT_ATTACKS)
def test_front_stays_available_under_attack(
    fresh_stack: tuple[ImageBackend, NginxFront], attack, request: pytest.FixtureRequest
) -> None:
    backend, front = fresh_stack
    name = "nginx " + request.node.callspec.id
    result = measure(name, front.url, attack, front.port, health_path="/healthz")
    assert_available(result)
    if "idle" in name:  # and no idle client was cut off to make room (keepalive_timeout is 15 s)
        assert "0 of them closed by the server" in result.line(), result.line()
    # the backend's own probes (what its healthcheck and Prometheus see) stayed fine too
    assert requests.get(backend.url + "/health", timeout=5).status_code == 200
    assert requests.get(backend.url + "/metrics", timeout=5).status_code == 200


def test_flood_from_one_client_is_answered_429_json(stack: tuple[ImageBackend, NginxFront]) -> None:
    """One client past the front's rate limit gets a fast JSON 429; others are not throttled."""
    _backend, front = stack
    statuses: list[int] = []
    with requests.Session() as http:
        from attacks import _SourceAdapter

        http.mount("http://", _SourceAdapter(ATTACKER))
        deadline = time.monotonic() + 10
        while len(statuses) < 600 and time.monotonic() < deadline:
            response = http.get(front.url + "/api/simulate-slow?delay=0", timeout=10)
            statuses.append(response.status_code)
            if response.status_code == 429:
                json_error(response, 429)
                break
    assert 429 in statuses, statuses[-5:]
    assert requests.get(front.url + "/api/simulate-slow?delay=0", timeout=5).status_code == 200
