"""A collector that is down (connection refused) or hung (accepts, never answers) must not hurt users.

The backend runs as it does in production: `python -m taskapp` (gunicorn, threads) in its own
process with the real OTLP/HTTP exporters. Batch processors export every 200 ms with small queues,
so failing exports, retries, time-outs and dropped batches all happen *during* the measurement.
The added p95 latency is measured against the same process with OTEL_SDK_DISABLED=true.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from app_support import REPORT_LINES, BackendProcess, HangingServer, OtlpReceiver, closed_port_url

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

WARMUP = 30
MEASURED = 300
MAX_ADDED_P95_MS = 20.0
STRESS_ENV = {
    "OTEL_BSP_SCHEDULE_DELAY": "200",
    "OTEL_BLRP_SCHEDULE_DELAY": "200",
    "OTEL_BSP_MAX_QUEUE_SIZE": "256",
    "OTEL_BLRP_MAX_QUEUE_SIZE": "256",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "64",
    "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "64",
    "OTEL_EXPORTER_OTLP_TIMEOUT": "2",
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def workload(url: str, count: int) -> list[float]:
    """A realistic mix (write, list, read, probe); returns each request's latency in ms."""
    latencies: list[float] = []
    task_id = 1
    with requests.Session() as http:
        for i in range(count):
            kind = i % 4
            started = time.perf_counter()
            if kind == 0:
                response = http.post(f"{url}/api/tasks", json={"title": f"load {i}"}, timeout=10)
                task_id = response.json().get("id", task_id)
            elif kind == 1:
                response = http.get(f"{url}/api/tasks", params={"limit": 10}, timeout=10)
            elif kind == 2:
                response = http.get(f"{url}/api/tasks/{task_id}", timeout=10)
            else:
                response = http.get(f"{url}/health", timeout=10)
            latencies.append((time.perf_counter() - started) * 1000)
            assert response.status_code in (200, 201), (i, response.status_code, response.text[:200])
    return latencies


def run(tmp_path: Path, name: str, env: dict[str, str]) -> tuple[list[float], float, str]:
    backend = BackendProcess(env, tmp_path / f"{name}.db")
    try:
        workload(backend.url, WARMUP)
        latencies = workload(backend.url, MEASURED)
        time.sleep(0.5)  # let at least one more export attempt start
    finally:
        stop_seconds = backend.stop()
        output = backend.output()
    return latencies, stop_seconds, output


def summary(name: str, latencies: list[float], baseline_p95: float | None, stop_s: float) -> str:
    p95 = percentile(latencies, 0.95)
    added = "" if baseline_p95 is None else f" added_p95={p95 - baseline_p95:+.2f}ms"
    return (
        f"collector {name:<9} n={len(latencies)} p50={statistics.median(latencies):.2f}ms "
        f"p95={p95:.2f}ms p99={percentile(latencies, 0.99):.2f}ms{added} stop={stop_s:.1f}s"
    )


def test_dead_or_hung_collector_does_not_hurt_requests(tmp_path: Path) -> None:
    receiver = OtlpReceiver()
    hanging = HangingServer()
    scenarios: list[tuple[str, Callable[[], dict[str, str]]]] = [
        ("disabled", lambda: {"OTEL_SDK_DISABLED": "true"}),
        ("healthy", lambda: {**STRESS_ENV, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url}),
        ("refused", lambda: {**STRESS_ENV, "OTEL_EXPORTER_OTLP_ENDPOINT": closed_port_url()}),
        ("hanging", lambda: {**STRESS_ENV, "OTEL_EXPORTER_OTLP_ENDPOINT": hanging.url}),
    ]
    results: dict[str, tuple[list[float], float, str]] = {}
    try:
        for name, env in scenarios:
            results[name] = run(tmp_path, name, env())
    finally:
        receiver.stop()
        hanging.stop()

    baseline = percentile(results["disabled"][0], 0.95)
    for name, (latencies, stop_s, _out) in results.items():
        REPORT_LINES.append(summary(name, latencies, None if name == "disabled" else baseline, stop_s))

    # the scenarios really were what they claim
    assert receiver.bodies("/v1/traces") and receiver.bodies("/v1/logs")
    assert hanging.accepted >= 1
    assert "Failed to export" in results["refused"][2] or "Transient error" in results["refused"][2]

    for name in ("refused", "hanging"):
        latencies, stop_s, output = results[name]
        added = percentile(latencies, 0.95) - baseline
        assert added < MAX_ADDED_P95_MS, summary(name, latencies, baseline, stop_s)
        assert stop_s < 10, f"{name}: shutdown took {stop_s:.1f}s (Docker kills after 10 s)"
        assert '"message": "Request completed"' in output
