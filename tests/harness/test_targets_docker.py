"""DockerTarget against a real engine, with a throwaway two-service compose project.

Proves: up waits for health; a second up recreates nothing (same container ids); restart, stop,
start and exec work by compose labels; down keeps volumes unless asked; a never-healthy service
makes up fail with its state and last healthcheck output. Everything is torn down in a finally.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.base.config import LabConfig
from harness.base.errors import LabError
from harness.base.progress import Display, run
from harness.lab.deploy import DeployPlan, ImageSource
from harness.lab.engine import ServiceState, docker_client
from harness.lab.targets import docker_answers
from harness.lab.targets.docker import DockerTarget

IMAGE = "lab/base:bookworm"


def _why_skip() -> str | None:
    ok, why = docker_answers(timeout=5)
    if not ok:
        return f"no Docker engine: {why}"
    client = docker_client(timeout=10)
    try:
        if not any(IMAGE in image.tags for image in client.images.list()):
            return f"image {IMAGE} not built (stack/images/build.sh --only base)"
    finally:
        client.close()
    return None


pytestmark = [
    pytest.mark.docker,
    pytest.mark.slow,
    pytest.mark.skipif(bool(_why_skip()), reason=_why_skip() or ""),
]

COMPOSE = f"""\
services:
  one:
    image: {IMAGE}
    command: ["sleep", "infinity"]
    init: true
    stop_grace_period: 2s
    ports:
      - "127.0.0.1::7"
    volumes:
      - data:/data
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
      timeout: 2s
      retries: 3
  two:
    image: {IMAGE}
    command: ["sh", "-c", "while :; do sleep 1; done"]
    init: true
    stop_grace_period: 2s
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
      timeout: 2s
      retries: 3
volumes:
  data:
"""

NEVER_HEALTHY = f"""\
services:
  sick:
    image: {IMAGE}
    command: ["sleep", "infinity"]
    init: true
    healthcheck:
      test: ["CMD", "sh", "-c", "echo probe says no; exit 1"]
      interval: 1s
      timeout: 2s
      retries: 1
"""


RESTARTS_BY_ITSELF = f"""\
services:
  crashy:
    image: {IMAGE}
    command: ["sleep", "infinity"]
    init: true
    restart: unless-stopped
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
      timeout: 2s
      retries: 3
"""


def _target(tmp_path: Path, text: str) -> DockerTarget:
    project = f"labtest{uuid.uuid4().hex[:8]}"
    (tmp_path / "compose.yaml").write_text(text)
    plan = DeployPlan(
        project=project,
        stores="jaeger-victorialogs",
        images=ImageSource("local", "throwaway test project"),
        files=(tmp_path / "compose.yaml",),
        env={},
        stack_dir=tmp_path,
    )
    return DockerTarget(LabConfig(project=project, target="docker"), Display.silent(), plan=plan)


def _volumes(project: str) -> list[str]:
    client = docker_client(timeout=20)
    try:
        return [
            v.name for v in client.volumes.list(filters={"label": f"com.docker.compose.project={project}"})
        ]
    finally:
        client.close()


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[DockerTarget]:
    target = _target(tmp_path, COMPOSE)
    try:
        yield target
    finally:
        try:
            target.compose().down(volumes=True)
        finally:
            target.close()
            for name in _volumes(target.config.project):  # belt and braces
                run(["docker", "volume", "rm", "-f", name], timeout=30)


def test_lifecycle(lab: DockerTarget) -> None:
    lab.up(wait_timeout=90)
    status = lab.status()
    assert status == {"one": ServiceState("running", "healthy"), "two": ServiceState("running", "healthy")}
    assert str(status["one"]) == "running (healthy)" and status["one"].ready
    ids = lab.container_ids()
    assert set(ids) == {"one", "two"} and all(len(i) == 64 for i in ids.values())

    lab.up(wait_timeout=90)  # idempotent: nothing recreated
    assert lab.container_ids() == ids

    assert lab.exec("one", ["sh", "-c", "echo hi > /data/mark && cat /etc/debian_version"]).exit_code == 0
    failed = lab.exec("one", ["sh", "-c", "echo oops >&2; exit 3"])
    assert failed.exit_code == 3 and "oops" in failed.output

    lab.restart("one")
    lab.wait_healthy("one", timeout=60)
    assert lab.container_ids()["one"] == ids["one"]  # restarted, not recreated

    lab.stop("two")
    assert lab.status()["two"].status == "exited" and not lab.status()["two"].running
    lab.start("two")
    lab.wait_healthy("two", timeout=60)
    assert lab.status()["two"].ready

    ports = lab.published_ports()
    assert ports["two"] == set() and len(ports["one"]) == 1
    assert lab.published_address() == "127.0.0.1"
    assert lab.is_running()

    assert lab.testinfra_host("one") == f"docker://{ids['one']}"
    assert lab.testinfra_host() == "local://"
    with pytest.raises(LabError, match=r"no container for service 'nope'.*services there: one, two"):
        lab.restart("nope")

    compose = lab.compose()
    compose.down(volumes=False)  # what `lab down` does: volumes survive
    assert lab.status() == {}
    assert not lab.is_running()
    assert _volumes(lab.config.project), "down without --volumes must keep the named volume"
    lab.up(wait_timeout=90)
    assert lab.exec("one", ["cat", "/data/mark"]).output.strip() == "hi"  # the data survived a redeploy
    assert lab.container_ids() != ids  # new containers after down/up

    lab.down(volumes=True)  # `lab down --volumes`: nothing of the project is left
    assert lab.status() == {}
    assert _volumes(lab.config.project) == []


def test_never_healthy_service_fails_with_its_state_and_last_check(tmp_path: Path) -> None:
    target = _target(tmp_path, NEVER_HEALTHY)
    try:
        with pytest.raises(LabError) as err:
            target.up(wait_timeout=8)
        message = str(err.value)
        assert "sick: running (" in message
        assert "last healthcheck: probe says no" in message
    finally:
        target.compose().down(volumes=True)
        target.close()


def test_the_end_of_a_main_process_is_waited_for_then_its_restart(tmp_path: Path) -> None:
    target = _target(tmp_path, RESTARTS_BY_ITSELF)
    try:
        target.up(wait_timeout=90)
        engine = target.engine
        before = engine.container("crashy")
        assert before.started_at and before.restarts == 0
        with pytest.raises(LabError, match=r"crashy had not ended after 1s.*still in the run"):
            engine.wait_ended(before, timeout=1)  # nothing happened: it says so, it does not pass
        assert target.exec("crashy", ["sh", "-c", "kill -INT 1"]).exit_code == 0
        after = engine.wait_ended(before, timeout=30)
        assert after.id == before.id
        assert not after.state.running or after.started_at != before.started_at
        target.wait_healthy("crashy", timeout=60)
        again = engine.container("crashy")
        assert again.restarts == 1 and again.started_at != before.started_at and again.ready
    finally:
        try:
            target.compose().down(volumes=True)
        finally:
            target.close()
