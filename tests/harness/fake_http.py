"""A real HTTP server on 127.0.0.1 for testing the signal clients against recorded answers (test
code: it lives under tests/, not in the runtime package).

The clients are tested over real sockets (not by mocking ``requests``) so that URL building, query
encoding, headers, timeouts and the shared session are exercised as in the lab. Each route answers
a fixed :class:`Reply` (or a function of the request) and every request is recorded, so a test
asserts both what the client parsed and what it asked.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | Any = b""  # bytes/str sent as is; anything else sent as JSON
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (timeout tests)

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), "application/json"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


Handler = Reply | Callable[[Recorded], Reply]


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # socketserver's 5 drops connects under load: SYNs retried 1 s, 3 s, 7 s later


class FakeServer:
    """Routes ``(METHOD, path)`` -> :class:`Reply`; unknown routes answer 404 ``404 page not found``."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.requests: list[Recorded] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def route(self, method: str, path: str, reply: Handler) -> None:
        self.routes[(method.upper(), path)] = reply

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def last(self, path: str | None = None) -> Recorded:
        matching = [r for r in self.requests if path is None or r.path == path]
        assert matching, f"no request to {path or 'any path'}; saw {[r.path for r in self.requests]}"
        return matching[-1]

    def start(self) -> None:
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                recorded = Recorded(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                                    {k: v for k, v in self.headers.items()}, self.rfile.read(length))
                fake.requests.append(recorded)
                handler = fake.routes.get((self.command, parts.path))
                reply = Reply(404, "404 page not found") if handler is None else (
                    handler(recorded) if callable(handler) else handler)
                if reply.delay:
                    time.sleep(reply.delay)
                body, content_type = reply.encoded()
                try:
                    self.send_response(reply.status)
                    headers = {"Content-Type": content_type, **reply.headers}
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="fake-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@contextmanager
def fake_server() -> Iterator[FakeServer]:
    """A started :class:`FakeServer`, stopped at the end of the block."""
    server = FakeServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


SIGNAL_FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures" / "signals"


def signal_doc(store: str, name: str) -> Any:
    """A recorded answer of a store (tests/harness/fixtures/signals/<store>/<name>), parsed as JSON."""
    return json.loads((SIGNAL_FIXTURES / store / name).read_text())

