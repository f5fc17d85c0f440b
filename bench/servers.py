"""The servers the app benchmarks compare, each on a loopback port of its own.

- ``ours``: the backend exactly as the image starts it — ``gunicorn --config
  python:taskapp.gunicorn_conf taskapp.wsgi:app`` (the taskapp worker) — with the telemetry
  settings of the backend service in ``stack/compose.yaml``;
- ``dev``: the seed's way of serving: the same app under Flask's development server
  (``app.run(threaded=True)``, Werkzeug), same settings;
- the OTLP sink: the lab's own collector image with the lab's base config (OTLP receiver, memory
  limiter, batch, debug exporter), so telemetry goes to a real, healthy collector.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import yaml

from bench.common import REPO, free_port, say

BACKEND_DIR = REPO / "app" / "backend"
COMPOSE = REPO / "stack" / "compose.yaml"
GUNICORN_CMD = ["-m", "gunicorn", "--config", "python:taskapp.gunicorn_conf", "taskapp.wsgi:app"]
DEV_SERVER = Path(__file__).resolve().parent / "devserver.py"
SINK_IMAGE = "lab/otel-collector:local"


def compose_backend_env() -> dict[str, str]:
    """The backend's fixed OTEL_* settings as compose.yaml ships them (endpoint excepted)."""
    doc = yaml.safe_load(COMPOSE.read_text())
    env = doc["services"]["backend"]["environment"]
    return {k: str(v) for k, v in env.items()
            if k.startswith("OTEL_") and k != "OTEL_EXPORTER_OTLP_ENDPOINT" and "${" not in str(v)}


class Backend:
    """One backend process (``kind`` = ours | dev) with its own SQLite file and log file."""

    def __init__(self, kind: str, host: str, env: dict[str, str], workdir: Path, label: str) -> None:
        self.kind, self.label, self.host = kind, label, host
        self.port = free_port(host)
        self.url = f"http://{host}:{self.port}"
        self.dir = workdir / label.replace(" ", "_").replace("/", "_")
        self.dir.mkdir(parents=True, exist_ok=True)
        full = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GUNICORN_", "TASKAPP_"))}
        full.update(PYTHONPATH=str(BACKEND_DIR), PYTHONUNBUFFERED="1", HOST=host, PORT=str(self.port),
                    DATABASE_URL=f"sqlite:///{self.dir}/tasks.db", OTEL_SERVICE_NAME="flask-backend",
                    LOG_LEVEL="INFO")
        full.update(env)
        cmd = [sys.executable, *GUNICORN_CMD] if kind == "ours" else [
            sys.executable, str(DEV_SERVER), "--host", host, "--port", str(self.port)]
        self.log = open(self.dir / "server.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, env=full, cwd=self.dir, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if requests.get(self.url + "/ready", timeout=2).status_code == 200:
                    return
            except requests.RequestException as exc:
                last = type(exc).__name__
            time.sleep(0.2)
        self.stop()
        tail = (self.dir / "server.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{self.label} did not start ({last}):\n{tail}")

    def seed_tasks(self, count: int = 100) -> None:
        """Give GET /api/tasks a full page (default limit 100) from the start."""
        with requests.Session() as http:
            for i in range(count):
                answer = http.post(self.url + "/api/tasks", json={"title": f"seeded {i}"}, timeout=10)
                answer.raise_for_status()

    def cpu_seconds(self) -> float:
        """CPU time of the server's process group so far (user + system, children included)."""
        total = 0.0
        for pid in _group_pids(self.proc.pid):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            except (OSError, IndexError, ValueError):
                continue
        return total

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()


def _group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


class Sink:
    """A real collector (the lab's image and base config) as a healthy OTLP endpoint."""

    def __init__(self, host: str, name: str) -> None:
        if shutil.which("docker") is None:
            raise SystemExit("bench: the OTLP sink needs a Docker engine (docker CLI not found)")
        self.name = name
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)
        run = subprocess.run(
            ["docker", "run", "-d", "--rm", "--name", name, "-p", f"{host}::4318", "-p", f"{host}::13133",
             "-v", f"{REPO / 'stack' / 'collector'}:/etc/lab/collector:ro", SINK_IMAGE,
             "--config=/etc/lab/collector/config.base.yaml"],
            capture_output=True, text=True, timeout=120)
        if run.returncode != 0:
            raise SystemExit(f"bench: the OTLP sink did not start: {run.stderr.strip()} "
                             f"(build the images with `lab images build`)")
        self.endpoint = f"http://{self._port(host, 4318)}"
        health = f"http://{self._port(host, 13133)}/"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(health, timeout=2).status_code == 200:
                    say(f"OTLP sink {name} at {self.endpoint}")
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.stop()
        raise SystemExit("bench: the OTLP sink did not become healthy within 60 s")

    def _port(self, host: str, port: int) -> str:
        out = subprocess.run(["docker", "port", self.name, f"{port}/tcp"], capture_output=True, text=True,
                             timeout=30).stdout.split()
        mapped = next((m for m in out if m.startswith(host)), out[0] if out else "")
        return mapped

    def stop(self) -> None:
        subprocess.run(["docker", "rm", "-f", self.name], capture_output=True, timeout=60)


def workdir(prefix: str = "obslab-bench-") -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
