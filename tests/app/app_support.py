"""Helpers shared by the backend tests (imported by conftest.py and by test modules)."""

from __future__ import annotations

import io
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from flask import Flask
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@dataclass
class Otel:
    """In-memory OTel pipelines plus the app's captured stdout (JSON lines)."""

    spans: InMemorySpanExporter
    logs: InMemoryLogRecordExporter
    tracer_provider: TracerProvider
    logger_provider: LoggerProvider
    stdout: io.StringIO = field(default_factory=io.StringIO)

    def finished(self, name: str | None = None) -> list[ReadableSpan]:
        """Finished spans, optionally only those with this name."""
        spans = list(self.spans.get_finished_spans())
        return [s for s in spans if name is None or s.name == name]

    def json_lines(self) -> list[dict[str, Any]]:
        """Every line the app logged to its stdout stream, parsed (each must be JSON)."""
        return [json.loads(line) for line in self.stdout.getvalue().splitlines() if line.strip()]

    def log_records(self) -> list[Any]:
        """The OTel log records (SDK LogRecord objects) emitted so far."""
        return [r.log_record for r in self.logs.get_finished_logs()]

    def clear(self) -> None:
        """Forget everything recorded so far."""
        self.spans.clear()
        self.logs.clear()
        self.stdout.seek(0)
        self.stdout.truncate()


def make_otel() -> Otel:
    """Fresh providers with synchronous processors, so assertions need no flushing."""
    resource = Resource.create({"service.name": "flask-backend", "deployment.environment": "test"})
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    logs = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    return Otel(spans=spans, logs=logs, tracer_provider=tracer_provider, logger_provider=logger_provider)


def app_config(db_path: Path, otel: Otel | None, **overrides: Any) -> dict[str, Any]:
    """create_app config for a test app on its own SQLite file."""
    config: dict[str, Any] = {"DATABASE_URL": f"sqlite:///{db_path}", "PROCESS_METRICS": False}
    if otel is not None:
        config.update(
            TRACER_PROVIDER=otel.tracer_provider, LOGGER_PROVIDER=otel.logger_provider, LOG_STREAM=otel.stdout
        )
    config.update(overrides)
    return config


class LiveServer:
    """A waitress server running an app in a background thread on 127.0.0.1:<free port>."""

    def __init__(self, app: Flask, threads: int = 4) -> None:
        import waitress.server

        self.app = app
        self._server = waitress.server.create_server(
            app, host="127.0.0.1", port=0, threads=threads, ident="taskapp-test"
        )
        self.port = int(self._server.effective_port)
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.run, name="live-server", daemon=True)
        self._thread.start()
        self.http = requests.Session()
        self._stopped = False

    def __call__(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One HTTP request to the server (always with a timeout)."""
        kwargs.setdefault("timeout", 15)
        return self.http.request(method, self.url + path, **kwargs)

    def stop(self) -> None:
        """Close the listener and every connection from inside the server loop, so it ends at once."""
        if self._stopped:
            return
        self._stopped = True
        self.http.close()

        def close_all() -> None:
            for channel in list(self._server._map.values()):
                channel.close()

        try:
            self._server.trigger.pull_trigger(close_all)
        except OSError:
            # The loop already ended and closed its trigger (seen about once in 500 runs under load):
            # close what is left from here instead.
            close_all()
        self._thread.join(timeout=5)
        self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=2)


# -- OTLP receivers ----------------------------------------------------------------------------------
class OtlpReceiver:
    """A tiny OTLP/HTTP collector on loopback: stores every POST and answers 200 (empty protobuf)."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.requests.append(
                        (self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def bodies(self, path: str) -> list[bytes]:
        """Raw protobuf payloads received on this path (/v1/traces, /v1/logs)."""
        with self._lock:
            return [body for p, _h, body in self.requests if p == path]

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


class HangingServer:
    """Accepts TCP connections and never answers: the worst kind of collector."""

    def __init__(self) -> None:
        import socket

        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self._sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._held: list[Any] = []
        self._stopped = threading.Event()
        self.accepted = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _addr = self._sock.accept()
            except OSError:
                continue
            self.accepted += 1
            self._held.append(conn)  # never read, never answered, never closed until stop()

    def stop(self) -> None:
        """Close the listener and every held connection."""
        self._stopped.set()
        self._thread.join(timeout=2)
        for conn in self._held:
            conn.close()
        self._sock.close()


def closed_port_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def free_port() -> int:
    """A currently free loopback TCP port."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the backend as a separate process ------------------------------------------------------------------
BACKEND_DIR = Path(__file__).resolve().parents[2] / "app" / "backend"
REPORT_LINES: list[str] = []  # printed in the terminal summary (see conftest.py)


class BackendProcess:
    """`python -m taskapp` (gunicorn) on a free port, with the given environment."""

    def __init__(self, env: dict[str, str], db_path: Path, server: str = "gunicorn") -> None:
        import os
        import subprocess
        import sys
        import time

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GUNICORN_"))}
        full_env.update(
            PYTHONPATH=str(BACKEND_DIR),
            DATABASE_URL=f"sqlite:///{db_path}",
            PYTHONUNBUFFERED="1",
            LOG_LEVEL="INFO",
        )
        full_env.update(env)
        self.log_path = db_path.with_suffix(".log")
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "taskapp",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--server",
                server,
            ],
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=str(db_path.parent),
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(self.url + "/ready", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"backend did not start:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.1)

    def stop(self, timeout: float = 15.0) -> float:
        """SIGTERM, wait for exit; returns how long the exit took (SIGKILL after `timeout`)."""
        import subprocess
        import time

        started = time.monotonic()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return time.monotonic() - started

    def output(self) -> str:
        """Everything the process wrote to stdout/stderr so far."""
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")
