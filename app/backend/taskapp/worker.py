"""The gunicorn worker of the image: gthread threads run the app, the event loop reads the requests.

gunicorn's gthread worker hands a connection to a thread as soon as its first byte arrives; the
thread then blocks reading the rest, so a few clients that trickle a header or a body a byte a
second hold every thread and the backend (health checks and scrapes included) stops answering.
This worker buffers each request — head and body, up to the body limit — in the event loop
(non-blocking, with a deadline) and gives it to a thread only once it is complete, the way
waitress and nginx do. Slow and idle clients then cost a socket, not a thread.

Probes and scrapes (GET/HEAD of /health, /ready, /metrics) run in a small pool of their own, so a
busy backend is still a live one to its healthcheck and to Prometheus. gunicorn's own error pages
(bad request line, headers too large, broken framing) are JSON like every other error. See
docs/adr/0007-hostile-clients.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import selectors
import socket
import time
from concurrent import futures
from dataclasses import dataclass
from functools import partial
from typing import Any

from gunicorn import util
from gunicorn.http.body import CHUNK_EXT_RE
from gunicorn.workers.gthread import TConn, ThreadWorker

from taskapp.settings import MAX_BODY_BYTES

PROBE_PATHS = frozenset({b"/health", b"/ready", b"/metrics"})
# A request (head + body) must arrive within this many seconds of its first byte; a kept-alive
# or new connection must send its first byte within gunicorn's `keepalive` seconds.
REQUEST_READ_TIMEOUT_S = float(os.environ.get("TASKAPP_REQUEST_READ_TIMEOUT", "10"))
# Each blocking send/recv of a worker thread (a client that does not read its response).
SOCKET_IO_TIMEOUT_S = float(os.environ.get("TASKAPP_SOCKET_TIMEOUT", "10"))
PROBE_THREADS = int(os.environ.get("TASKAPP_PROBE_THREADS", "2"))
MAX_HEAD_BYTES = 64 * 1024  # past this, gunicorn's own limits (431/414) decide
TOKEN_RE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_REASONS = {400: "Bad Request", 408: "Request Timeout", 413: "Content Too Large", 414: "URI Too Long",
            417: "Expectation Failed",
            431: "Request Header Fields Too Large", 403: "Forbidden", 500: "Internal Server Error",
            501: "Not Implemented"}  # fmt: skip


class TimedSocket(socket.socket):
    """A socket whose blocking mode has a timeout: gunicorn switches sockets to blocking for the
    worker threads (`setblocking(True)`), and a thread must never wait on a client for ever."""

    __slots__ = ()

    def setblocking(self, flag: bool) -> None:
        if flag:
            self.settimeout(SOCKET_IO_TIMEOUT_S)
        else:
            super().setblocking(False)


def write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's util.write_error, with a JSON body: {"error": "..."}."""
    text = f"{reason.lower()}: {mesg[:200]}" if reason and mesg else (mesg[:200] or reason.lower())
    body = json.dumps({"error": text}).encode()
    head = (
        f"HTTP/1.1 {status_int} {_REASONS.get(status_int, reason or 'Error')}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode("latin-1")
    util.write_nonblock(sock, head + body)


@dataclass
class Plan:
    """What the event loop does with the bytes of a request read so far."""

    action: str  # "wait" for more bytes, "run" the request in a thread, "reply" at once and close
    probe: bool = False
    data: bytes = b""  # for "run": the request to hand to gunicorn (a chunked body made plain)
    status: int = 0  # for "reply"
    message: str = ""
    send_continue: bool = False  # for "wait": the client waits for "100 Continue" before its body


WAIT = Plan("wait")


def plan_request(buf: bytes | bytearray) -> Plan:
    """Decide on the bytes of one request (and whatever was pipelined behind it).

    A request runs once its head and whole body are here, and also whenever the bytes are
    already bad or too big to wait for: gunicorn's parser and the app then give the exact error.
    A chunked body is checked and de-chunked here (Content-Length instead), so no thread ever
    parses chunk framing from the socket: broken framing is a 400, more than the body limit a
    413, both answered from the loop.
    """
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return Plan("run", data=bytes(buf)) if len(buf) > MAX_HEAD_BYTES else WAIT
    head = bytes(buf[:end])
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    path = parts[1].split(b"?", 1)[0] if len(parts) > 1 else b""
    probe = parts[0] in (b"GET", b"HEAD") and path in PROBE_PATHS
    lengths: list[bytes] = []
    codings: list[bytes] = []
    expects_continue = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            lengths.append(value.strip())
        elif name == b"transfer-encoding":
            codings.extend(c.strip().lower() for c in value.split(b","))
        elif name == b"expect" and value.strip().lower() == b"100-continue":
            expects_continue = parts[-1] == b"HTTP/1.1"
    # The loop answers "100 Continue" itself (the body is read here); gunicorn must not repeat it.
    kept = [line for line in lines if line.partition(b":")[0].strip().lower() != b"expect"]
    body = bytes(buf[end + 4 :])
    if codings and not lengths and codings == [b"chunked"]:
        plan = _plan_chunked(kept, body, probe)
    elif codings or not lengths or len(lengths) > 1 or not lengths[0].isdigit():
        return Plan("run", probe, bytes(buf))  # no body, or framing gunicorn refuses itself
    elif int(lengths[0]) > MAX_BODY_BYTES:
        return Plan("run", probe, bytes(buf))  # the app answers 413 from the header alone
    elif len(body) >= int(lengths[0]):
        plan = Plan("run", probe, b"\r\n".join(kept) + b"\r\n\r\n" + body)
    else:
        plan = WAIT
    if plan.action == "wait" and expects_continue and not body:
        return Plan("wait", send_continue=True)
    return plan


def _plan_chunked(lines: list[bytes], body: bytes, probe: bool) -> Plan:
    """De-chunk a complete chunked body (RFC 9112 section 7.1), strictly."""
    pos = 0
    pieces: list[bytes] = []
    total = 0
    while True:
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            return _bad("a chunk-size line is too long") if len(body) - pos > 1024 else WAIT
        size_line = body[pos:eol]
        size_text, _, ext = size_line.partition(b";")
        if ext and not CHUNK_EXT_RE.fullmatch(b";" + ext):
            return _bad("invalid chunk extension")
        size_text = size_text.rstrip(b" \t")
        if not size_text or len(size_text) > 8 or not all(c in b"0123456789abcdefABCDEF" for c in size_text):
            return _bad(f"invalid chunk size {size_text[:20]!r}")
        size = int(size_text, 16)
        total += size
        if total > MAX_BODY_BYTES:
            return Plan("reply", probe, status=413,
                        message=f"request body too large: the limit is {MAX_BODY_BYTES} bytes")
        start = eol + 2
        if size == 0:
            return _plan_trailers(lines, body, start, b"".join(pieces), probe)
        if len(body) < start + size + 2:
            return WAIT
        if body[start + size : start + size + 2] != b"\r\n":
            return _bad("a chunk does not end with CRLF")
        pieces.append(body[start : start + size])
        pos = start + size + 2


def _plan_trailers(lines: list[bytes], body: bytes, start: int, data: bytes, probe: bool) -> Plan:
    stop = body.find(b"\r\n\r\n", start - 2)
    if stop < 0:
        return _bad("the trailer section is too long") if len(body) - start > 8192 else WAIT
    for line in body[start:stop].split(b"\r\n"):
        if not line:
            continue
        name, colon, value = line.partition(b":")
        if not colon or not TOKEN_RE.fullmatch(name) or any((c < 32 and c != 9) or c == 127 for c in value):
            return _bad("invalid trailer field")
    kept = [line for line in lines if line.partition(b":")[0].strip().lower() != b"transfer-encoding"]
    head = b"\r\n".join(kept) + b"\r\nContent-Length: %d\r\n\r\n" % len(data)
    return Plan("run", probe, head + data + body[stop + 4 :])


def _bad(message: str) -> Plan:
    return Plan("reply", status=400, message=f"malformed chunked request body: {message}")


class TaskappWorker(ThreadWorker):
    """gthread with a buffering event loop and a separate pool for probes (see module doc)."""

    def init_process(self) -> None:
        self.probe_pool = futures.ThreadPoolExecutor(max_workers=PROBE_THREADS, thread_name_prefix="probe")
        self.reading: dict[Any, tuple[bytearray, float]] = {}
        util.write_error = write_json_error  # gunicorn's own error pages, in this worker process
        super().init_process()

    # -- accept and read in the event loop ------------------------------------------------------
    def accept(self, listener: Any) -> None:
        try:
            client, addr = listener.accept()
        except BlockingIOError:
            return
        except OSError:
            return  # ECONNABORTED and the like: nothing to serve
        sock = TimedSocket(client.family, client.type, client.proto, fileno=client.detach())
        self.nr_conns += 1
        conn = TConn(self.cfg, sock, addr, listener.getsockname())
        self._start_reading(conn, b"", first_byte_within=self.cfg.keepalive or REQUEST_READ_TIMEOUT_S)

    def enqueue_req(self, conn: Any) -> None:
        """Run a complete request in a thread; anything else is read in the loop first."""
        pool = getattr(conn, "taskapp_pool", None)
        if pool is None:
            leftover = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
            self._start_reading(conn, leftover, first_byte_within=REQUEST_READ_TIMEOUT_S)
            return
        conn.taskapp_pool = None
        future = pool.submit(self.handle, conn)
        future.add_done_callback(lambda fut: self.method_queue.defer(self.finish_request, conn, fut))

    def _start_reading(self, conn: Any, initial: bytes, *, first_byte_within: float) -> None:
        buf = bytearray(initial)
        conn.sock.setblocking(False)
        deadline = time.monotonic() + (REQUEST_READ_TIMEOUT_S if buf else first_byte_within)
        self.reading[conn] = (buf, deadline)
        plan = plan_request(buf) if buf else WAIT
        if plan.action != "wait":
            self._carry_out(conn, plan)
            return
        self._maybe_continue(conn, plan)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))

    def _on_readable(self, conn: Any, _sock: Any) -> None:
        buf, deadline = self.reading[conn]
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
            return
        if not buf:
            deadline = time.monotonic() + REQUEST_READ_TIMEOUT_S  # the request's clock starts now
        buf += data
        self.reading[conn] = (buf, deadline)
        plan = plan_request(buf)
        if plan.action != "wait":
            self.poller.unregister(conn.sock)
            self._carry_out(conn, plan)
        else:
            self._maybe_continue(conn, plan)

    @staticmethod
    def _maybe_continue(conn: Any, plan: Plan) -> None:
        """Answer `Expect: 100-continue` once, so the client sends the body we wait for."""
        if plan.send_continue and not getattr(conn, "taskapp_continued", False):
            conn.taskapp_continued = True
            with contextlib.suppress(OSError):
                conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _carry_out(self, conn: Any, plan: Plan) -> None:
        """Answer from the loop, or hand the request to a thread: probes to their own pool."""
        if plan.action == "reply":
            self._drop(conn, status=plan.status, message=plan.message, registered=False)
            return
        del self.reading[conn]
        conn.taskapp_continued = False
        conn.data_ready = True
        conn.init()  # builds the HTTP/1.1 parser on the socket (no I/O for plain HTTP)
        conn.parser.unreader.unread(plan.data)
        conn.taskapp_pool = self.probe_pool if plan.probe else self.tpool
        self.enqueue_req(conn)

    def _drop(
        self, conn: Any, *, status: int | None = None, message: str = "", registered: bool = True
    ) -> None:
        """Close a connection from the loop, with a JSON error first when `status` is given."""
        self.reading.pop(conn, None)
        if registered:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self.poller.unregister(conn.sock)
        if status is not None:
            ip = conn.client[0] if conn.client else ""
            if status == 408:
                self.log.info("Request not received in time from ip=%s", ip)
            else:
                self.log.warning("Invalid request from ip=%s: %s", ip, message)
            with contextlib.suppress(OSError):
                write_json_error(conn.sock, status, "", message)
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self) -> None:
        """Also close connections whose request did not arrive in time (408 when it had begun)."""
        super().murder_pending()
        now = time.monotonic()
        for conn, (buf, deadline) in list(self.reading.items()):
            if now >= deadline or (not self.alive and not buf):
                self._drop(conn, status=408 if buf else None, message="the request was not sent in time")

    def handle_quit(self, sig: Any, frame: Any) -> None:
        self.probe_pool.shutdown(wait=False)
        super().handle_quit(sig, frame)
