"""The one HTTP session: a default timeout on every call (scaled), evidence of every request.

Runs against a real ``http.server`` on 127.0.0.1 (loopback only)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from harness import evidence, waiting
from harness.http import DEFAULT_TIMEOUT, session


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/slow"):
            time.sleep(float(self.path.split("=")[1]))
        body = (
            b'{"status": "ok", "pad": "' + b"x" * 5000 + b'"}' if self.path == "/big" else b'{"status": "ok"}'
        )
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
            self.send_response(404 if self.path == "/missing" else 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_requests_leave_evidence(server: str) -> None:
    with evidence.capture() as log, session() as http:
        assert http.get(f"{server}/ok").json() == {"status": "ok"}
        assert http.get(f"{server}/missing").status_code == 404
        http.get(f"{server}/big")
    first, second, big = log.items
    assert first.kind == "http" and first.summary == f"GET {server}/ok"
    assert first.detail["status"] == 200 and first.detail["body"] == '{"status": "ok"}'
    assert first.detail["elapsed_ms"] >= 0
    assert second.detail["status"] == 404
    assert "more chars" in big.detail["body"] and len(big.detail["body"]) < 2100


def test_default_timeout_applies(server: str) -> None:
    assert DEFAULT_TIMEOUT > 0
    started = time.monotonic()
    with evidence.capture() as log, session(timeout=0.3) as http, pytest.raises(requests.Timeout):
        http.get(f"{server}/slow?s=2")
    assert time.monotonic() - started < 1.8
    assert "Timeout" in log.items[0].detail["error"]


def test_default_timeout_is_scaled(server: str) -> None:
    waiting.configure(20)  # 0.1 s becomes 2 s: a 0.5 s answer arrives
    with session(timeout=0.1) as http:
        assert http.get(f"{server}/slow?s=0.5").status_code == 200


def test_an_explicit_timeout_wins(server: str) -> None:
    with session(timeout=30) as http, pytest.raises(requests.Timeout):
        http.get(f"{server}/slow?s=2", timeout=0.2)


def test_record_false_leaves_no_evidence(server: str) -> None:
    with evidence.capture() as log, session(record=False) as http:
        http.get(f"{server}/ok")
    assert log.items == []

