"""The backend and the front as the images run them, on free loopback ports.

`ImageBackend` runs the backend image's command, `gunicorn --config python:taskapp.gunicorn_conf
taskapp.wsgi:app`, with the project's gunicorn_conf.py (HOST/PORT from the environment, as in the
image). `NginxFront` renders the frontend image's template the way its entrypoint does and runs
Debian's nginx with the image's nginx.conf in front of a backend.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import requests
from app_support import BACKEND_DIR, free_port

FRONTEND = Path(__file__).resolve().parents[2] / "app" / "frontend"
HTML = FRONTEND / "html"
TEMPLATE_VARS = ("BACKEND_UPSTREAM", "NGINX_RESOLVER", "NGINX_PORT", "NGINX_TRACE_CONTEXT",
                 "COLLECTOR_UPSTREAM", "APP_VERSION", "DEPLOYMENT_ENVIRONMENT")
# as the entrypoint defaults them
TEMPLATE_DEFAULTS = {"NGINX_TRACE_CONTEXT": "valid", "COLLECTOR_UPSTREAM": "otel-collector:4318",
                     "APP_VERSION": "1.0.0", "DEPLOYMENT_ENVIRONMENT": "lab"}
REFUSED = "127.0.0.1:9"  # the discard port: nothing listens, a connection is refused at once
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
NGINX_MISSING = "nginx is not installed (apt-get install nginx-light)"
IMAGE_COMMAND = ["-m", "gunicorn", "--config", "python:taskapp.gunicorn_conf", "taskapp.wsgi:app"]


def wait_until_up(url: str, proc: subprocess.Popen, what: str, log: Path, timeout: float = 30) -> None:
    """Poll `url` until it answers 200; fail naming the last error and the process's output."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while True:
        try:
            status = requests.get(url, timeout=1).status_code
            if status == 200:
                return
            last = f"status {status}"
        except requests.RequestException as exc:
            last = type(exc).__name__
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait(timeout=10)
            raise RuntimeError(f"{what} did not start ({last}):\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)


class ImageBackend:
    """The backend exactly as the image starts it, in its own process group."""

    def __init__(self, workdir: Path, env: dict[str, str] | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_path = workdir / "tasks.db"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GUNICORN_"))}
        full_env.update(
            PYTHONPATH=str(BACKEND_DIR),
            PYTHONUNBUFFERED="1",
            HOST="127.0.0.1",
            PORT=str(self.port),
            DATABASE_URL=f"sqlite:///{self.db_path}",
            OTEL_SERVICE_NAME="flask-backend",
            OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9",  # refused at once: exports fail quietly
            OTEL_EXPORTER_OTLP_TIMEOUT="1",
            LOG_LEVEL="INFO",
        )
        full_env.update(env or {})
        self.log_path = workdir / "gunicorn.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, *IMAGE_COMMAND],
            env=full_env,
            cwd=str(workdir),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until_up(self.url + "/ready", self.proc, "gunicorn", self.log_path)

    def output(self) -> str:
        """Everything gunicorn and the app wrote so far."""
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 15 s; idempotent."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if not self._log.closed:
            self._log.close()


def render(values: dict[str, str]) -> str:
    """What the entrypoint's `envsubst '${BACKEND_UPSTREAM} ... ${DEPLOYMENT_ENVIRONMENT}'` does."""
    values = {**TEMPLATE_DEFAULTS, **values}
    template = (FRONTEND / "nginx" / "default.conf.template").read_text()
    envsubst = shutil.which("envsubst")
    if envsubst:
        env = {**os.environ, **values}
        shell_format = " ".join(f"${{{name}}}" for name in TEMPLATE_VARS)
        return subprocess.run(
            [envsubst, shell_format], input=template, env=env, capture_output=True, text=True, check=True
        ).stdout
    for name in TEMPLATE_VARS:
        template = template.replace(f"${{{name}}}", values[name])
    return template


def write_config(root: Path, values: dict[str, str], html: Path = HTML) -> Path:
    """nginx.conf + rendered server block under `root` instead of /tmp/nginx and the image paths
    (`html`: the document root, the work tree's html/ unless a test adds the built bundle)."""
    (root / "conf.d").mkdir(parents=True, exist_ok=True)
    server = render(values).replace("/usr/share/nginx/html", str(html))
    (root / "conf.d" / "default.conf").write_text(server)
    main = (FRONTEND / "nginx" / "nginx.conf").read_text().replace("/tmp/nginx", str(root))
    if os.geteuid() == 0:  # as root, workers would drop to `nobody`, who may not read the work tree
        main = "user root;\n" + main
    conf = root / "nginx.conf"
    conf.write_text(main)
    return conf


class NginxFront:
    """Debian's nginx with the image's config, proxying /api/ to 127.0.0.1:`backend_port` and
    /otlp/v1/traces to `collector` (host:port; by default nothing listens there)."""

    def __init__(self, root: Path, backend_port: int, trace_context: str = "valid", *,
                 collector: str = REFUSED, html: Path = HTML) -> None:
        if NGINX is None:
            raise RuntimeError(NGINX_MISSING)
        root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        values = {
            "BACKEND_UPSTREAM": f"127.0.0.1:{backend_port}",
            "NGINX_RESOLVER": "127.0.0.1",
            "NGINX_PORT": f"127.0.0.1:{self.port}",  # loopback only (`listen` takes address:port)
            "NGINX_TRACE_CONTEXT": trace_context,
            "COLLECTOR_UPSTREAM": collector,
        }
        conf = write_config(root, values, html)
        self.log_path = root / "nginx.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [NGINX, "-e", "stderr", "-p", str(root), "-c", str(conf), "-g", "daemon off;"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until_up(self.url + "/healthz", self.proc, "nginx", self.log_path, timeout=10)

    def output(self) -> str:
        """nginx's access and error log so far."""
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Fast shutdown (SIGTERM); idempotent."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if not self._log.closed:
            self._log.close()


COLLECTOR_BINARY = Path(__file__).resolve().parents[2] / "stack" / "images" / ".cache" / "bin" / "otelcol-lab"
COLLECTOR_MISSING = "otelcol-lab is not built (bash stack/images/build.sh --only otel-collector)"
COLLECTOR_CONFIG = """\
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{port}
exporters:
  debug:
    verbosity: detailed
service:
  telemetry:
    logs:
      level: info
    metrics:
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: {metrics_port}
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
"""


class Collector:
    """The lab's own collector build (otelcol-lab, as in lab/otel-collector:local) with an OTLP/HTTP
    receiver on a free loopback port and the debug exporter: what arrived is read from its output."""

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port, self.metrics_port = free_port(), free_port()
        self.endpoint = f"127.0.0.1:{self.port}"
        config = workdir / "collector.yaml"
        config.write_text(COLLECTOR_CONFIG.format(port=self.port, metrics_port=self.metrics_port))
        self.log_path = workdir / "collector.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([str(COLLECTOR_BINARY), "--config", str(config)], stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        metrics = f"http://127.0.0.1:{self.metrics_port}/metrics"
        wait_until_up(metrics, self.proc, "otelcol-lab", self.log_path)

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def accepted_spans(self) -> float:
        text = requests.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("otelcol_receiver_accepted_spans"))

    def spans(self) -> list[dict[str, str]]:
        """Every span the debug exporter printed: trace_id, parent_id, id, name, kind, service."""
        found, service = [], ""
        for line in self.output().splitlines():
            text = line.strip()
            if text.startswith("-> service.name:"):
                service = text.split("Str(", 1)[-1].rstrip(")")
            elif text.startswith("Span #"):
                found.append({"service": service})
            elif found and ":" in text:
                key, _, value = text.partition(":")
                key = key.strip().lower().replace(" ", "_")
                if key in ("trace_id", "parent_id", "id", "name", "kind") and key not in found[-1]:
                    found[-1][key] = value.strip()
        return found

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if not self._log.closed:
            self._log.close()


def html_with_bundle(out: Path, bundle: bool = True) -> Path:
    """A document root like the image's: html/ plus otel-web.js built from the lock (or without it)."""
    from harness.lab import npm

    shutil.copytree(HTML, out, dirs_exist_ok=True)
    for name in ("otel-web.js", "otel-web.LICENSES.txt"):
        (out / name).unlink(missing_ok=True)
    if bundle:
        npm.ensure_installed()
        subprocess.run(["node", "build.mjs", "--outdir", str(out)], cwd=npm.bundle_dir(), check=True,
                       capture_output=True, timeout=120)
    return out
