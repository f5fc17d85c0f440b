"""The jaeger-victorialogs stack for real: up from local images on the local engine, one request
with a known traceparent, and that request found in Jaeger, VictoriaLogs and Prometheus.

It uses its own compose project and its own loopback address (127.0.0.x), so it can run beside a
lab that is already up, and it tears everything down (volumes included) even when it fails.
"""

from __future__ import annotations

import random
import subprocess
from collections.abc import Iterator

import pytest

from harness.base.config import LabConfig
from harness.checks import logs, metrics, traces
from harness.clients.tracecontext import new_traceparent
from harness.drive.traffic import ok
from harness.lab.engine import SdkEngine
from harness.lab.images import missing_local_images
from harness.lab.lifecycle import Lab
from harness.lab.targets.docker import DockerTarget

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _engine_answers() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=15).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture
def stack_lab() -> Iterator[Lab]:
    if not _engine_answers():
        pytest.skip("no Docker engine answers (start dockerd)")
    engine = SdkEngine("probe")
    missing = missing_local_images("jaeger-victorialogs", set(engine.image_ids()))
    engine.close()
    if missing:
        pytest.skip(f"local images missing: {', '.join(missing.values())} (run `lab images build`)")
    config = LabConfig(
        target="docker",
        stores="jaeger-victorialogs",
        image_source="local",
        project=f"stacke2e{random.randint(1000, 9999)}",
        bind_address=f"127.0.0.{random.randint(20, 250)}",
    )
    target = DockerTarget(config)
    try:
        target.up()
        yield Lab.connect(config, target)
    finally:
        target.down(volumes=True)
        leftovers = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={config.project}"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.split()
        assert not leftovers, f"containers left behind by {config.project}: {leftovers}"


def test_one_request_reaches_jaeger_victorialogs_and_prometheus(stack_lab: Lab) -> None:
    header, trace_id, _ = new_traceparent()
    before = metrics.prom_value(stack_lab, 'sum(http_requests_total{endpoint="create_task"})')
    ok(stack_lab.front.create_task("e2e", traceparent=header), 201)

    trace = traces.trace_arrives(stack_lab, trace_id, timeout=60)
    assert traces.server_span(trace, "POST", "/api/tasks").trace_id == trace_id
    records = logs.log_records(stack_lab, trace_id, text="Request completed", timeout=60)
    assert all(r.service == "flask-backend" for r in records)
    metrics.counter_grew_by(
        stack_lab, 'sum(http_requests_total{endpoint="create_task"})', before, 1, timeout=60
    )
