"""`python -m taskapp` serves the same app as the container, with either server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from app_support import BACKEND_DIR, BackendProcess, LiveServer, closed_port_url

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("server", ["gunicorn", "waitress"])
def test_python_m_taskapp_serves(tmp_path: Path, server: str) -> None:
    backend = BackendProcess({"OTEL_SDK_DISABLED": "true"}, tmp_path / "cli.db", server=server)
    try:
        assert requests.get(backend.url + "/health", timeout=5).json() == {"status": "ok"}
        created = requests.post(backend.url + "/api/tasks", json={"title": "from the CLI"}, timeout=5)
        assert created.status_code == 201
        assert requests.get(backend.url + "/api/tasks", timeout=5).json()["count"] == 1
        assert "http_requests_total" in requests.get(backend.url + "/metrics", timeout=5).text
    finally:
        stop_seconds = backend.stop()
    assert stop_seconds < 10
    assert (tmp_path / "cli.db").exists()
    lines = [json.loads(line) for line in backend.output().splitlines() if line.startswith("{")]
    messages = [line["message"] for line in lines if line.get("logger") == "taskapp"]
    assert messages.count("Incoming request") == messages.count("Request completed") >= 4


def test_gunicorn_settings() -> None:
    from gunicorn.workers.gthread import ThreadWorker
    from taskapp import gunicorn_conf
    from taskapp.worker import TaskappWorker

    assert gunicorn_conf.worker_class == "taskapp.worker.TaskappWorker"  # gthread, reading in the loop
    assert issubclass(TaskappWorker, ThreadWorker)
    assert gunicorn_conf.worker_connections >= 500 and gunicorn_conf.keepalive <= 15
    assert gunicorn_conf.workers == 1 and gunicorn_conf.threads >= 4
    assert gunicorn_conf.timeout > 10  # longer than the slowest simulated request


def test_container_healthcheck_script(live: LiveServer) -> None:
    script = str(BACKEND_DIR / "healthcheck.py")

    def check(url: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, script, url], capture_output=True, timeout=30)

    assert check(live.url + "/ready").returncode == 0
    down = check(closed_port_url() + "/ready")
    assert down.returncode == 1 and b"unhealthy" in down.stderr
