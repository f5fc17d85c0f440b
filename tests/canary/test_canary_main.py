"""``python -m pipeline_canary`` as the image runs it, against one fake HTTP server standing for the
collector (OTLP/HTTP), Jaeger, VictoriaLogs and Prometheus: it serves /metrics, sends a probe per
interval by OTLP (a span and a log record each), asks each store, and stops on SIGTERM with exit 0."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.harness.fake_http import FakeServer, Reply

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metrics_page(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def test_the_canary_probes_reads_back_serves_metrics_and_stops_on_sigterm(server: FakeServer) -> None:
    server.route("POST", "/v1/traces", Reply(body=b""))
    server.route("POST", "/v1/logs", Reply(body=b""))
    server.route("GET", "/api/traces", Reply(body={"data": [], "errors": None}))
    server.route("GET", "/select/logsql/query", Reply(body=b""))
    server.route("GET", "/api/v1/query", Reply(body={"status": "success",
                                                     "data": {"resultType": "matrix", "result": []}}))
    port = free_port()
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": f"{ROOT / 'app' / 'canary'}:{ROOT}",
           "CANARY_PORT": str(port), "CANARY_INTERVAL_S": "0.2", "CANARY_CHECK_INTERVAL_S": "0.2",
           "OTEL_EXPORTER_OTLP_ENDPOINT": server.url, "CANARY_TRACES_URL": server.url,
           "CANARY_LOGS_URL": server.url, "CANARY_PROMETHEUS_URL": server.url,
           "OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_BLRP_SCHEDULE_DELAY": "100"}
    proc = subprocess.Popen([sys.executable, "-m", "pipeline_canary"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        page = ""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                page = metrics_page(port)
            except OSError:
                continue
            paths = {r.path for r in server.requests}
            if {"/v1/traces", "/v1/logs", "/api/traces", "/select/logsql/query", "/api/v1/query"} <= paths:
                break
        assert 'pipeline_canary_probes_sent_total{signal="traces",store="jaeger"}' in page
        sent = float(page.split('pipeline_canary_probes_sent_total{signal="logs",store="victorialogs"} ')[1]
                     .split()[0])
        assert sent >= 2
        assert 'pipeline_canary_readback_errors_total{signal="logs",store="victorialogs"} 0.0' in page
        assert "process_resident_memory_bytes" in page
        assert {"/v1/traces", "/v1/logs", "/api/traces", "/select/logsql/query", "/api/v1/query"} <= {
            r.path for r in server.requests}
        assert server.last("/api/traces").param("service") == "pipeline-canary"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert "pipeline canary: a probe every 0.2s" in out
