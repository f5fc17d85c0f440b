"""The one HTTP session: a default timeout on every call (scaled), evidence of every request.

Runs against a real ``http.server`` on 127.0.0.1 (loopback only)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from harness.base import evidence, waiting
from harness.base.http import DEFAULT_TIMEOUT, session


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


class _ClosesIdleConnections:
    """A keep-alive server that answers each connection's first request and closes the connection
    when its second one arrives, unanswered: the race between a client reusing an idle connection
    and nginx's keepalive_timeout, made to happen every time. Counts the requests it read."""

    def __init__(self) -> None:
        import socket

        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.requests_read: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: Any) -> None:
        with conn, conn.makefile("rb") as reader:
            for answered in (True, False):
                line = reader.readline().decode()
                while reader.readline() not in (b"\r\n", b""):
                    pass
                if not line:
                    return
                self.requests_read.append(line.split()[0])
                if not answered:
                    return  # closes with nothing sent
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok")


def test_an_idempotent_request_on_a_connection_closed_unanswered_is_sent_once_more() -> None:
    server = _ClosesIdleConnections()
    with evidence.capture() as log, session(timeout=5) as http:
        assert http.get(server.url + "/a").text == "ok"
        assert http.get(server.url + "/b").text == "ok", "the closed connection is not the step's error"
    assert server.requests_read == ["GET", "GET", "GET"]
    first, unanswered, again = log.items
    assert "RemoteDisconnected" in unanswered.detail["error"], "the unanswered attempt is evidence"
    assert first.detail["status"] == again.detail["status"] == 200
    server.listener.close()


def test_a_request_that_is_not_idempotent_is_never_repeated() -> None:
    server = _ClosesIdleConnections()
    http = session(timeout=5)
    assert http.post(server.url + "/a", data=b"").text == "ok"
    with pytest.raises(requests.ConnectionError, match="RemoteDisconnected"):
        http.post(server.url + "/b", data=b"")
    assert server.requests_read == ["POST", "POST"]
    server.listener.close()
