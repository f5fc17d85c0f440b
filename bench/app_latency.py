"""Latency of the backend under four telemetry set-ups (not part of the test run).

    python bench/app_latency.py [--requests 2000] [--concurrency 4]

Starts `python -m taskapp` (gunicorn, threads) four times on loopback: OTel off
(OTEL_SDK_DISABLED=true), a healthy OTLP receiver, a closed port (collector down) and a port that
accepts but never answers (collector hung). Each run drives the same request mix from several
client threads and prints p50/p95/p99 latency, throughput and the p95 added to the "off" run.
Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

BACKEND_DIR = Path(__file__).resolve().parents[1] / "app" / "backend"
EXPORT_ENV = {
    "OTEL_BSP_SCHEDULE_DELAY": "200",
    "OTEL_BLRP_SCHEDULE_DELAY": "200",
    "OTEL_EXPORTER_OTLP_TIMEOUT": "2",
}


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Receiver(BaseHTTPRequestHandler):
    """Healthy collector: swallow the payload, answer 200."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def hanging_listener() -> tuple[socket.socket, list[socket.socket]]:
    """Hung collector: accept and hold every connection, never answer."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(sock.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return sock, held


def start_backend(env: dict[str, str], workdir: Path) -> tuple[subprocess.Popen, str]:
    """`python -m taskapp` on a free port; returns once /ready answers."""
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    full_env.update(PYTHONPATH=str(BACKEND_DIR), DATABASE_URL=f"sqlite:///{workdir}/bench-{port}.db", **env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "taskapp", "--host", "127.0.0.1", "--port", str(port)],
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/ready", timeout=1).ok:
                return proc, url
        except requests.RequestException:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("backend did not start")


def drive(url: str, count: int, concurrency: int) -> tuple[list[float], float]:
    """Run `count` requests (create/list/get/health mix) from `concurrency` threads."""
    per_thread = count // concurrency

    def worker(_n: int) -> list[float]:
        out: list[float] = []
        with requests.Session() as http:
            task_id = 1
            for i in range(per_thread):
                started = time.perf_counter()
                if i % 4 == 0:
                    response = http.post(url + "/api/tasks", json={"title": f"bench {i}"}, timeout=10)
                    task_id = response.json().get("id", task_id)
                elif i % 4 == 1:
                    response = http.get(url + "/api/tasks", params={"limit": 10}, timeout=10)
                elif i % 4 == 2:
                    response = http.get(f"{url}/api/tasks/{task_id}", timeout=10)
                else:
                    response = http.get(url + "/health", timeout=10)
                out.append((time.perf_counter() - started) * 1000)
                if response.status_code >= 500:
                    raise RuntimeError(f"{response.status_code} from {response.url}")
        return out

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = [ms for chunk in pool.map(worker, range(concurrency)) for ms in chunk]
    return latencies, time.perf_counter() - started


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    """Run the four set-ups and print one line each."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hung, held = hanging_listener()
    closed = free_port()
    setups = {
        "otel off": {"OTEL_SDK_DISABLED": "true"},
        "healthy": {
            **EXPORT_ENV,
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.server_address[1]}",
        },
        "down": {**EXPORT_ENV, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{closed}"},
        "hung": {**EXPORT_ENV, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{hung.getsockname()[1]}"},
    }
    baseline: float | None = None
    print(f"{args.requests} requests, {args.concurrency} client threads, python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, env in setups.items():
            proc, url = start_backend(env, Path(tmp))
            try:
                drive(url, 100, args.concurrency)  # warm-up
                latencies, seconds = drive(url, args.requests, args.concurrency)
            finally:
                proc.terminate()
                proc.wait(timeout=15)
            p95 = pct(latencies, 0.95)
            baseline = p95 if baseline is None else baseline
            print(
                f"{name:<9} p50={statistics.median(latencies):7.2f}ms p95={p95:7.2f}ms "
                f"p99={pct(latencies, 0.99):7.2f}ms rps={len(latencies) / seconds:7.1f} "
                f"added_p95={p95 - baseline:+.2f}ms"
            )
    receiver.shutdown()
    hung.close()
    for conn in held:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
