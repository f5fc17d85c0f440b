"""Hostile clients against the backend as the image serves it (gunicorn + taskapp/gunicorn_conf.py).

Framing, sizes and foreign Host headers are sent byte for byte over raw sockets; slow, idle and
flooding clients run for a bounded time with a bounded number of sockets, from 127.0.0.2, while a
probe from 127.0.0.1 checks that /health and a normal request are still answered (availability,
with generous bounds; the numbers are printed in the "taskapp measurements" summary).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from attacks import (
    assert_available,
    connect,
    exchange,
    flood,
    idle_connections,
    measure,
    slow_body,
    slow_headers,
)
from servers import ImageBackend

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

JSON_POST = b"POST /api/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImageBackend]:
    """One gunicorn for the framing tests (they leave nothing behind but rows they count)."""
    server = ImageBackend(tmp_path_factory.mktemp("hostile"))
    yield server
    server.stop()


@pytest.fixture
def fresh_backend(tmp_path: Path) -> Iterator[ImageBackend]:
    """A gunicorn of its own for each attack, so one attack's leftovers never blur the next."""
    server = ImageBackend(tmp_path / "backend")
    yield server
    server.stop()


def chunked(body: bytes, size: int = 16_384) -> bytes:
    """`body` in chunked transfer coding, `size` bytes per chunk, with the last-chunk."""
    out = b""
    for start in range(0, len(body), size):
        piece = body[start : start + size]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    return out + b"0\r\n\r\n"


def task_count(backend: ImageBackend) -> int:
    return int(requests.get(backend.url + "/api/tasks?limit=1", timeout=10).json()["count"])


def assert_json_error(response, status: int) -> dict:
    assert response.status == status, response.raw[:500]
    assert response.headers.get("content-type", "").startswith("application/json"), response.raw[:500]
    body = json.loads(response.body)
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], body
    return body


def assert_no_unhandled(backend: ImageBackend) -> None:
    output = backend.output()
    assert "Unhandled exception" not in output and "Traceback" not in output, output[-3000:]


# -- request framing --------------------------------------------------------------------------------
def test_chunked_body_over_64_kib_is_413_and_stores_nothing(backend: ImageBackend) -> None:
    before = task_count(backend)
    # valid JSON that would still be valid JSON if cut at 64 KiB: a silent cut would store it
    body = b'{"title": "big", "description": "' + b"d" * 9_000 + b'"}' + b" " * 70_000
    head = JSON_POST + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    body_413 = assert_json_error(exchange(backend.port, head + chunked(body)), 413)
    assert "65536" in body_413["error"]
    assert task_count(backend) == before
    # exactly 64 KiB in chunks is accepted as far as size goes
    at_limit = body[:65_536]
    assert json.loads(at_limit)["title"] == "big"
    created = exchange(backend.port, head + chunked(at_limit))
    assert created.status == 201, created.raw[:300]
    assert task_count(backend) == before + 1
    assert_no_unhandled(backend)


@pytest.mark.parametrize(
    "framing",
    [
        pytest.param(b"zz\r\n{}\r\n0\r\n\r\n", id="bad-chunk-size"),
        pytest.param(b"2\r\n{}XX0\r\n\r\n", id="missing-crlf-after-chunk"),
        pytest.param(b"2;\x00ext\r\n{}\r\n0\r\n\r\n", id="bad-chunk-extension"),
        pytest.param(b"-2\r\n{}\r\n0\r\n\r\n", id="negative-chunk-size"),
        pytest.param(b"1" * 40 + b"\r\n{}\r\n0\r\n\r\n", id="huge-chunk-size"),
        pytest.param(b"2\r\n{}\r\n0\r\nX-Trailer: \x01\r\n\r\n", id="bad-trailer"),
    ],
)
def test_malformed_chunk_framing_is_a_json_400(backend: ImageBackend, framing: bytes) -> None:
    head = JSON_POST + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    assert_json_error(exchange(backend.port, head + framing), 400)
    assert requests.get(backend.url + "/health", timeout=5).status_code == 200
    assert_no_unhandled(backend)


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(b"GARBAGE\r\n\r\n", id="bad-request-line"),
        pytest.param(b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
                     id="two-content-lengths"),
        pytest.param(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9_000 + b"\r\n\r\n",
                     id="header-too-large"),
        pytest.param(b"GET /" + b"a" * 5_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", id="request-line-too-long"),
        pytest.param(b"POST /api/tasks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"
                     b"0\r\n\r\n", id="chunked-not-last"),
        pytest.param(b"POST /api/tasks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     b"Content-Length: 5\r\n\r\n0\r\n\r\n", id="chunked-and-content-length"),
        pytest.param(b"POST /api/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
                     id="non-numeric-content-length"),
    ],
)
def test_what_gunicorn_refuses_gets_a_json_error(backend: ImageBackend, request_bytes: bytes) -> None:
    response = exchange(backend.port, request_bytes)
    assert 400 <= response.status < 500, response.raw[:300]
    assert_json_error(response, response.status)


def test_expect_100_continue_and_pipelining_still_work(backend: ImageBackend) -> None:
    """What buffering in the event loop must not break: a client that waits for 100 Continue
    before its body, and two requests sent in one go on a kept-alive connection."""
    body = b'{"title": "after the interim answer"}'
    with connect(backend.port, source="127.0.0.1", timeout=10) as sock:
        sock.sendall(JSON_POST + b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(body)
        final = sock.recv(65536)
    assert final.startswith(b"HTTP/1.1 201"), final[:200]
    assert b"HTTP/1.1 100" not in final  # once, not repeated by gunicorn
    two = (
        b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /api/tasks?limit=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    with connect(backend.port, source="127.0.0.1", timeout=10) as sock:
        sock.sendall(two)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.count(b"HTTP/1.1 200") == 2, received[:500]


# -- foreign Host headers ----------------------------------------------------------------------------
FOREIGN_HOST_PATHS = ["/api//tasks", "/api/tasks/", "/api//tasks/1", "/api/tasks//1", "//evil.example/"]


@pytest.mark.parametrize("path", FOREIGN_HOST_PATHS)
def test_no_redirect_is_built_from_the_clients_host(backend: ImageBackend, path: str) -> None:
    request_bytes = f"GET {path} HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n".encode()
    response = exchange(backend.port, request_bytes)
    assert not 300 <= response.status < 400, response.raw[:400]
    assert b"evil.example" not in response.raw
    assert_json_error(response, 404)


def test_location_of_a_created_task_is_relative(backend: ImageBackend) -> None:
    body = b'{"title": "where am I"}'
    request_bytes = (
        b"POST /api/tasks HTTP/1.1\r\nHost: evil.example\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body
    )
    response = exchange(backend.port, request_bytes)
    assert response.status == 201
    assert response.headers["location"].startswith("/api/tasks/"), response.headers


# -- availability: slow, idle and flooding clients -----------------------------------------------------
ATTACKS = [
    pytest.param(slow_headers(150), id="slow-headers-150"),
    pytest.param(slow_body(100), id="slow-body-100"),
    pytest.param(idle_connections(300), id="idle-300"),
    pytest.param(idle_connections(300, keepalive_first=True), id="idle-keepalive-300"),
    pytest.param(flood("/api/simulate-slow?delay=5", concurrency=24), id="flood-simulate-slow-24"),
    pytest.param(flood("/api/smoke/db?ops=5000&type=rw", "POST", concurrency=20), id="flood-smoke-db-20"),
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_backend_stays_available_under_attack(
    fresh_backend: ImageBackend, attack, request: pytest.FixtureRequest
) -> None:
    name = "gunicorn " + request.node.callspec.id
    result = measure(name, fresh_backend.url, attack, fresh_backend.port)
    assert_available(result)
    # and the scrape and readiness paths too, right after
    assert requests.get(fresh_backend.url + "/ready", timeout=5).status_code == 200
    assert requests.get(fresh_backend.url + "/metrics", timeout=5).status_code == 200
