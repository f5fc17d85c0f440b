"""Every PromQL query of every provisioned Grafana dashboard runs against a real Prometheus holding
metrics in the app's format, and must parse and return data.

The lab's Prometheus (the binary of lab/prometheus:local, found by tests/stack/prometheus_tools.py)
is started on a free loopback port with the stack's own recording rules and the compose flags. It
scrapes a tiny HTTP server of this test that serves prometheus_client metrics shaped like taskapp's
(same names, labels and buckets) and simulates a little traffic on every scrape: requests to several
endpoints, some answered 500, some slow, and database statements of the four kinds.
"""

from __future__ import annotations

import json
import random
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.stack.prometheus_tools import require_prometheus_tool
from tests.stack.test_configs_support import (
    STACK,
    PanelQuery,
    compose_config,
    compose_env,
    compose_files,
    promql_queries,
    substitute_variables,
)

prometheus_client = pytest.importorskip("prometheus_client", reason="prometheus_client is not installed")

# Same names, labels and buckets as app/backend/taskapp/metrics.py.
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)
DB_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# (method, endpoint, status, typical seconds)
TRAFFIC = [
    ("GET", "get_all_tasks", 200, 0.004),
    ("POST", "create_task", 201, 0.012),
    ("GET", "get_task", 200, 0.003),
    ("GET", "get_task", 404, 0.002),
    ("PUT", "update_task", 200, 0.010),
    ("DELETE", "delete_task", 204, 0.008),
    ("GET", "simulate_slow", 200, 1.2),
    ("GET", "simulate_error", 500, 0.002),
    ("POST", "db_smoke", 200, 0.05),
]
DB_OPERATIONS = ("SELECT", "INSERT", "UPDATE", "DELETE")


class SampleApp:
    """prometheus_client families shaped like taskapp's, fed with synthetic traffic."""

    def __init__(self) -> None:
        pc = prometheus_client
        self.registry = pc.CollectorRegistry()
        labels = ("method", "endpoint", "status_code")
        self.requests = pc.Counter("http_requests_total", "HTTP requests.", labels, registry=self.registry)
        self.errors = pc.Counter(
            "http_errors_total", "HTTP responses >= 400.", labels, registry=self.registry
        )
        self.duration = pc.Histogram(
            "http_request_duration_seconds",
            "Request time.",
            labels,
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )
        self.db = pc.Histogram(
            "db_query_duration_seconds",
            "SQL time.",
            ("operation",),
            buckets=DB_BUCKETS,
            registry=self.registry,
        )
        self.rng = random.Random(42)
        self.lock = threading.Lock()

    def simulate(self) -> None:
        with self.lock:
            for method, endpoint, status, seconds in TRAFFIC:
                for _ in range(self.rng.randint(1, 4)):
                    labels = (method, endpoint, str(status))
                    self.requests.labels(*labels).inc()
                    if status >= 400:
                        self.errors.labels(*labels).inc()
                    trace_id = f"{self.rng.getrandbits(128):032x}"
                    self.duration.labels(*labels).observe(
                        seconds * self.rng.uniform(0.5, 1.5), exemplar={"trace_id": trace_id}
                    )
            for op in DB_OPERATIONS:
                for _ in range(self.rng.randint(2, 6)):
                    self.db.labels(op).observe(self.rng.uniform(0.0002, 0.02))

    def exposition(self, accept: str) -> tuple[bytes, str]:
        from prometheus_client.exposition import choose_encoder

        with self.lock:
            encoder, content_type = choose_encoder(accept)
            return encoder(self.registry), content_type


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sample_app() -> Iterator[tuple[SampleApp, int]]:
    app = SampleApp()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            app.simulate()  # every scrape sees new traffic, so rates are never zero
            body, content_type = app.exposition(self.headers.get("Accept", ""))
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def http_json(url: str, timeout: float = 5.0) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read().decode())


def query(base: str, expr: str) -> dict[str, Any]:
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    try:
        return http_json(url)
    except urllib.error.HTTPError as exc:  # 400 = the expression does not parse
        return json.loads(exc.read().decode() or "{}") | {"http_status": exc.code}


@pytest.fixture(scope="module")
def prometheus(sample_app: tuple[SampleApp, int], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The host's Prometheus with the stack's rules and compose flags, scraping the sample app."""
    binary = require_prometheus_tool("prometheus")
    _, app_port = sample_app
    workdir: Path = tmp_path_factory.mktemp("prometheus")
    rules = STACK / "prometheus" / "rules"
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules / "*.yml")],
        "scrape_configs": [
            {"job_name": "flask-backend", "static_configs": [{"targets": [f"127.0.0.1:{app_port}"]}]}
        ],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    flags = compose_config(compose_files(None, False), compose_env())["services"]["prometheus"]["command"]
    keep = [f for f in flags if not f.startswith(("--config.file", "--storage.tsdb.path"))]
    port = free_port()
    log = (workdir / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            *keep,
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"prometheus exited {proc.returncode}: {(workdir / 'prometheus.log').read_text()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("prometheus did not become ready within 30 s")
            time.sleep(0.3)
        # Wait until the rule groups (interval 5 s) have evaluated on at least two scrapes.
        deadline = time.monotonic() + 40
        while True:
            result = query(base, "sli:availability:ratio_rate1m")
            if result.get("status") == "success" and result["data"]["result"]:
                break
            if time.monotonic() > deadline:
                pytest.fail(f"no SLI data after 40 s: {result}")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def all_queries() -> list[tuple[dict[str, Any], PanelQuery]]:
    from tests.stack.test_configs_support import load_dashboards

    return [(d, q) for d in load_dashboards() for q in promql_queries(d)]


def test_every_dashboard_has_promql_queries(dashboards: list[dict[str, Any]]) -> None:
    counts = {d["uid"]: len(promql_queries(d)) for d in dashboards}
    assert counts["task-manager-sli-slo"] >= 10, counts
    assert counts["end-to-end-tracing"] >= 3, counts


def test_substitute_variables_handles_builtins_and_all() -> None:
    dash = {"templating": {"list": [{"name": "endpoint", "includeAll": True, "allValue": ".*",
                                     "current": {"value": ["$__all"]}}]}}  # fmt: skip
    expr = 'rate(x{endpoint=~"$endpoint"}[$__rate_interval]) + rate(y[${__interval}]) + z[$__interval_ms]'
    assert substitute_variables(expr, dash) == 'rate(x{endpoint=~".*"}[1m]) + rate(y[15s]) + z[15000]'


@pytest.mark.slow
@pytest.mark.parametrize(
    ("dashboard", "panel_query"),
    all_queries(),
    ids=[f"{q.dashboard_uid}:{q.panel_title}:{q.ref_id}" for _, q in all_queries()],
)
def test_dashboard_query_parses_and_returns_data(
    prometheus: str, dashboard: dict[str, Any], panel_query: PanelQuery
) -> None:
    expr = substitute_variables(panel_query.expr, dashboard)
    assert "$" not in expr, f"unsubstituted variable in {expr}"
    # Data can lag a rule evaluation (every 2 s): retry briefly before calling it empty.
    deadline = time.monotonic() + 15
    while True:
        result = query(prometheus, expr)
        assert result.get("status") == "success", f"{panel_query.panel_title}: {expr}\n{result}"
        series = [s for s in result["data"]["result"] if s["value"][1] not in ("NaN", "+Inf", "-Inf")]
        if series or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert series, f"{panel_query.panel_title}: no data for {expr}\n{result}"


@pytest.mark.slow
def test_exemplars_reach_prometheus(prometheus: str) -> None:
    """The flags enable exemplar storage: the histogram's trace_id exemplars are queryable."""
    now = time.time()
    url = f"{prometheus}/api/v1/query_exemplars?" + urllib.parse.urlencode(
        {"query": "http_request_duration_seconds_bucket", "start": now - 300, "end": now + 5}
    )
    deadline = time.monotonic() + 15
    while True:
        data = http_json(url)
        exemplars = [e for s in data.get("data") or [] for e in s.get("exemplars", [])]
        if exemplars or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert data["status"] == "success"
    assert exemplars and "trace_id" in exemplars[0]["labels"], data
