"""Hostile clients for the availability tests: raw sockets, bounded in count and time, loopback only.

Attackers connect from 127.0.0.2 (still loopback) and the probe from 127.0.0.1, so per-client
limits in front of the backend can tell them apart, as they would two hosts. `measure()` runs an
attack and, while it runs, a probe that alternates `/health` with a normal request, and reports
how many probe requests were answered 200 and their p99.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests
from app_support import REPORT_LINES

ATTACKER = "127.0.0.2"
PROBE_TIMEOUT_S = 5.0


@dataclass
class RawResponse:
    """What a raw exchange got back: status line, headers (lower-case names), body."""

    status: int
    headers: dict[str, str]
    body: bytes
    raw: bytes


def parse_response(raw: bytes) -> RawResponse:
    """Split one HTTP/1.1 response (the first one in `raw`)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers and headers["content-length"].isdigit():
        body = body[: int(headers["content-length"])]
    return RawResponse(status, headers, body, raw)


def connect(port: int, source: str = ATTACKER, timeout: float = 5.0) -> socket.socket:
    """A TCP connection to 127.0.0.1:`port` from `source` (a loopback address)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def exchange(port: int, data: bytes, timeout: float = 10.0, source: str = "127.0.0.1") -> RawResponse:
    """Send `data` as is, read until the server closes (or the response is complete), parse it."""
    with connect(port, source, timeout) as sock:
        sock.sendall(data)
        chunks: list[bytes] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
            got = b"".join(chunks)
            _head, sep, body = got.partition(b"\r\n\r\n")
            if sep:
                length = parse_response(got).headers.get("content-length")
                if length is not None and length.isdigit() and len(body) >= int(length):
                    break
        raw = b"".join(chunks)
    return parse_response(raw)


# -- attacks: each runs until `stop` is set, holding at most its stated number of sockets ------------
Attack = Callable[[int, threading.Event, list[str]], None]  # notes: what the attack held


def _open_many(port: int, count: int, stop: threading.Event, notes: list[str]) -> list[socket.socket]:
    socks: list[socket.socket] = []
    refused = 0
    for _ in range(count):
        if stop.is_set():
            break
        try:
            socks.append(connect(port, timeout=2.0))
        except OSError:
            refused += 1  # refused or backlog full: that is the attack working
            time.sleep(0.01)
    notes.append(f"{len(socks)} sockets open ({refused} connects failed)")
    return socks


def _close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.close()


def slow_headers(count: int, interval: float = 0.5) -> Attack:
    """Slowloris: `count` connections send a request line, then one header byte every `interval`."""

    def attack(port: int, stop: threading.Event, notes: list[str]) -> None:
        socks = _open_many(port, count, stop, notes)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.sendall(b"GET /api/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        while not stop.wait(interval):
            for sock in socks:
                with contextlib.suppress(OSError):
                    sock.send(b"a")
        _close_all(socks)

    return attack


def slow_body(count: int, interval: float = 0.5) -> Attack:
    """`count` POSTs announce a 10 000-byte JSON body and send one byte of it every `interval`."""

    def attack(port: int, stop: threading.Event, notes: list[str]) -> None:
        socks = _open_many(port, count, stop, notes)
        head = (
            b"POST /api/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10000\r\n\r\n{"
        )
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.sendall(head)
        while not stop.wait(interval):
            for sock in socks:
                with contextlib.suppress(OSError):
                    sock.send(b" ")
        _close_all(socks)

    return attack


def idle_connections(count: int, keepalive_first: bool = False) -> Attack:
    """`count` connections that send nothing (or one request, then keep the connection idle)."""

    def attack(port: int, stop: threading.Event, notes: list[str]) -> None:
        socks = _open_many(port, count, stop, notes)
        if keepalive_first:
            for sock in socks:
                with contextlib.suppress(OSError):
                    sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        stop.wait()
        notes.append(f"{sum(map(_closed_by_peer, socks))} of them closed by the server by the end")
        _close_all(socks)

    return attack


def _closed_by_peer(sock: socket.socket) -> bool:
    """Whether the server has closed (or reset) this connection; reads away any response first."""
    sock.setblocking(False)
    try:
        while sock.recv(65536):
            pass
        return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def flood(path: str, method: str = "GET", concurrency: int = 20) -> Attack:
    """`concurrency` clients call `path` back to back (each call bounded by a 15 s timeout)."""

    def attack(port: int, stop: threading.Event, notes: list[str]) -> None:
        statuses: dict[str, int] = {}
        lock = threading.Lock()

        def client() -> None:
            with requests.Session() as http:
                http.mount("http://", _SourceAdapter(ATTACKER))
                while not stop.is_set():
                    try:
                        response = http.request(method, f"http://127.0.0.1:{port}{path}", timeout=15)
                        what = str(response.status_code)
                    except requests.RequestException as exc:
                        what = type(exc).__name__
                        time.sleep(0.05)
                    with lock:
                        statuses[what] = statuses.get(what, 0) + 1

        workers = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
        for worker in workers:
            worker.start()
        stop.wait()
        for worker in workers:
            worker.join(timeout=20)
        notes.append("flood answers " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))

    return attack


class _SourceAdapter(requests.adapters.HTTPAdapter):
    """requests from a chosen local address (urllib3's source_address)."""

    def __init__(self, source: str) -> None:
        self._source = source
        super().__init__()

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        kwargs["source_address"] = (self._source, 0)
        super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]


# -- measurement ----------------------------------------------------------------------------------
@dataclass
class Availability:
    """What the probe saw while an attack ran."""

    name: str
    served: int = 0
    failed: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def p99_ms(self) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] if ordered else float("nan")

    @property
    def max_ms(self) -> float:
        return max(self.latencies_ms, default=float("nan"))

    def line(self) -> str:
        return (
            f"{self.name}: {self.served} probe requests answered 200, {self.failed} failed, "
            f"p99 {self.p99_ms:.0f} ms, max {self.max_ms:.0f} ms"
            + (f"; first failures: {self.failures[:3]}" if self.failures else "")
            + (f"; attack: {'; '.join(self.notes)}" if self.notes else "")
        )


def measure(
    name: str,
    url: str,
    attack: Attack,
    port: int,
    *,
    duration: float = 8.0,
    ramp: float = 1.5,
    normal_path: str = "/api/tasks?limit=5",
    health_path: str = "/health",
) -> Availability:
    """Run `attack` against `port` for ramp + duration seconds; probe `url` during `duration`."""
    stop = threading.Event()
    result = Availability(name)
    attacker = threading.Thread(
        target=attack, args=(port, stop, result.notes), name=f"attack-{name}", daemon=True
    )
    attacker.start()
    try:
        time.sleep(ramp)
        deadline = time.monotonic() + duration
        paths = [health_path, normal_path]
        i = 0
        while time.monotonic() < deadline:
            path = paths[i % 2]
            i += 1
            started = time.perf_counter()
            try:
                # a fresh connection each time: what a healthcheck or a scrape does
                response = requests.get(url + path, timeout=PROBE_TIMEOUT_S, headers={"Connection": "close"})
                ok = response.status_code == 200
                what = f"{path}: {response.status_code}"
            except requests.RequestException as exc:
                ok, what = False, f"{path}: {type(exc).__name__}"
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            if ok:
                result.served += 1
            else:
                result.failed += 1
                result.failures.append(what)
            time.sleep(0.05)
    finally:
        stop.set()
        attacker.join(timeout=30)
    REPORT_LINES.append(result.line())
    return result


def assert_available(result: Availability, max_ms: float = 3000.0) -> None:
    """Every probe answered 200, none slower than `max_ms` (generous: availability, not speed)."""
    assert result.failed == 0 and result.served > 0, result.line()
    assert result.max_ms < max_ms, result.line()
