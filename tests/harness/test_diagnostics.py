"""harness.lab.diagnostics against the real Docker engine: containers made here with the compose labels
(a service that talks, one that crashed and was restarted by its policy, one whose healthcheck
fails), read through both engines (the SDK, and the docker CLI over a fake ssh that runs it here,
as the VM's engine); the collector's counters from recorded answers over real HTTP; the VM's
commands through the fake vagrant and ssh of the vagrant target's tests. Each part that cannot be
read must become one line while the others are still read."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

import pytest

from harness.base import evidence
from harness.base.config import LabConfig
from harness.base.errors import LabError
from harness.base.progress import Display
from harness.base.waiting import NotYet, eventually
from harness.lab import diagnostics
from harness.lab.engine import PROJECT_LABEL, SERVICE_LABEL, SdkEngine, SshEngine, docker_client
from harness.lab.remote import Remote
from harness.lab.targets import docker_answers
from harness.lab.targets.base import Endpoints
from harness.lab.targets.docker import DockerTarget
from harness.lab.targets.vagrant import VagrantTarget
from tests.harness.conftest import write_tool
from tests.harness.fake_http import Reply

IMAGE = "lab/base:bookworm"
PIPELINE = Path(__file__).parent / "fixtures" / "pipeline"
TIMESTAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z (.*)$")
DEAD = "http://127.0.0.1:9"  # the discard port: nothing listens
# stdout and stderr reach the engine's log through a copier each: their order there is the order of
# the timestamps only a moment apart, hence the pause before the last line
TALK = 'for i in $(seq 1 120); do echo "line $i"; done; sleep 1; echo "to stderr" >&2; exec sleep infinity'


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


SKIP = _why_skip()
T = TypeVar("T")


def needs_docker(test: T) -> T:
    for mark in (pytest.mark.docker, pytest.mark.slow, pytest.mark.skipif(bool(SKIP), reason=SKIP or "")):
        test = mark(test)
    return test


def endpoints(**urls: str) -> Endpoints:
    base = dict(frontend=DEAD, backend=DEAD, prometheus=DEAD, traces=DEAD, logs=DEAD, collector_health=DEAD,
                collector_metrics=DEAD)
    return Endpoints(target="docker", stores="jaeger-victorialogs", **{**base, **urls})


class Project:
    """A throwaway compose project: containers made with the SDK and the labels compose sets."""

    def __init__(self) -> None:
        self.name = f"labdiag{uuid.uuid4().hex[:8]}"
        self.client = docker_client(timeout=30)

    def run(self, service: str, script: str, **options: Any) -> None:
        self.client.containers.run(
            IMAGE, ["sh", "-c", script], detach=True, init=True, name=f"{self.name}-{service}-1",
            labels={PROJECT_LABEL: self.name, SERVICE_LABEL: service}, **options,
        )

    def remove(self) -> None:
        try:
            mine = {"label": f"{PROJECT_LABEL}={self.name}"}
            for container in self.client.containers.list(all=True, filters=mine):
                container.remove(force=True)
        finally:
            self.client.close()


@pytest.fixture
def project() -> Iterator[Project]:
    made = Project()
    try:
        yield made
    finally:
        made.remove()


def _wait_for(engine: SdkEngine, service: str, what: str, ok: Any) -> None:
    def check() -> None:
        info = engine.container(service, max_age=0)
        if not ok(info):
            raise NotYet(f"{service}: {info.state}, {info.restarts} restarts")

    eventually(check, timeout=60, interval=0.3, describe=f"{service} to be {what}")


def _talker(project: Project) -> SdkEngine:
    """A service that printed 120 lines and one to stderr, then sleeps."""
    project.run("talker", TALK)
    engine = SdkEngine(project.name)
    _wait_for(engine, "talker", "done talking", lambda info: "to stderr" in engine.logs("talker", 1))
    return engine


def _messages(text: str) -> list[str]:
    """The log lines without their timestamps; every line must have one."""
    out = []
    for line in text.splitlines():
        found = TIMESTAMPED.match(line)
        assert found, f"no timestamp: {line!r}"
        out.append(found.group(1))
    return out


# --- Engine.logs ------------------------------------------------------------------------------------------
@needs_docker
def test_each_engine_reads_the_last_lines_a_service_logged(
    project: Project, fake_ssh: Path, tmp_path: Path
) -> None:
    engine = _talker(project)
    try:
        local = engine.logs("talker", tail=5)
    finally:
        engine.close()
    assert _messages(local) == ["line 117", "line 118", "line 119", "line 120", "to stderr"]

    # the VM's engine: the docker CLI over ssh (the fake ssh runs it here, against the same engine)
    in_vm = SshEngine(Remote(tmp_path / "ssh-config", "lab", user="deploy"), project.name)
    assert in_vm.logs("talker", tail=5).splitlines() == local.splitlines()
    assert len(_messages(in_vm.logs("talker", tail=50))) == 50
    assert re.search(r"docker logs --tail 5 --timestamps [0-9a-f]{64}", fake_ssh.read_text())
    with pytest.raises(LabError, match=r"no container for service 'nope'.*services there: talker"):
        in_vm.logs("nope")


# --- diagnose ---------------------------------------------------------------------------------------------
@needs_docker
def test_a_crashed_restarted_and_an_unhealthy_container_are_said_with_their_logs_and_the_counters(
    project: Project, server
) -> None:
    project.run("crashy", 'echo "crash at $(date +%s%N)"; exit 3',
                restart_policy={"Name": "on-failure", "MaximumRetryCount": 2})
    project.run("sick", "exec sleep infinity",
                healthcheck={"test": ["CMD", "sh", "-c", "echo probe says no; exit 1"],
                             "interval": 500_000_000, "timeout": 2_000_000_000, "retries": 1})
    engine = _talker(project)
    _wait_for(engine, "crashy", "given up on by its restart policy",
              lambda info: info.restarts == 2 and info.status == "exited")
    _wait_for(engine, "sick", "unhealthy", lambda info: info.state.health == "unhealthy")
    engine.close()
    server.route("GET", "/metrics", Reply(body=(PIPELINE / "collector-healthy.txt").read_text()))
    target = DockerTarget(LabConfig(project=project.name, target="docker"), Display.silent())
    lab = SimpleNamespace(target=target, endpoints=endpoints(collector_metrics=server.url))
    try:
        found = diagnostics.diagnose(lab, tail=3)
        with evidence.capture() as log:
            diagnostics.attach(lab)
    finally:
        target.close()

    assert set(found) == {"containers", "logs", "collector"}, "no VM on the docker target"
    by_service = {c["service"]: c for c in found["containers"]}
    assert set(by_service) == {"crashy", "sick", "talker"}
    crashy, sick, talker = by_service["crashy"], by_service["sick"], by_service["talker"]
    assert (crashy["state"], crashy["ready"], crashy["restarts"]) == ("exited (exit 3)", False, 2)
    assert crashy["started_at"] and crashy["id"] and crashy["image"] == IMAGE
    assert (sick["state"], sick["health"], sick["ready"]) == ("running (unhealthy)", "unhealthy", False)
    assert sick["last_healthcheck"] == "probe says no"
    assert (talker["state"], talker["ready"], talker["restarts"]) == ("running", True, 0)

    crashes = _messages(found["logs"]["crashy"])
    assert len(crashes) == 3 and all(m.startswith("crash at ") for m in crashes), "one line per run"
    assert _messages(found["logs"]["talker"]) == ["line 119", "line 120", "to stderr"]

    collector = found["collector"]
    assert collector["source"] == "the collector's metrics port"
    assert collector["counters"]["traces"]["collector.accepted"] == 93.0
    assert collector["counters"]["logs"]["collector.sent"] == 94.0
    assert "the collector accepted 94 log records" in collector["logs"]
    assert "sent 94 to victorialogs, queue 0/1000" in collector["logs"]

    line = diagnostics.summary(found)
    assert line == ("not running/healthy: crashy exited (exit 3), sick running (unhealthy); "
                    "restarted: crashy (2 restarts)")
    (item,) = log.items  # the reads themselves leave no evidence
    assert (item.kind, item.summary) == ("diagnostics", line)
    assert set(item.detail) == {"containers", "logs", "collector"}
    json.dumps(item.to_dict())  # goes into the reports as it is


def test_an_engine_that_does_not_answer_is_one_line_and_the_counters_are_still_read(
    server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")
    server.route("GET", "/metrics", Reply(body=(PIPELINE / "collector-send-failed.txt").read_text()))
    target = DockerTarget(LabConfig(project="labdiagnone", target="docker"), Display.silent())
    lab = SimpleNamespace(target=target, endpoints=endpoints(collector_metrics=server.url))
    try:
        found = diagnostics.diagnose(lab)
    finally:
        target.close()
    containers = found["containers"]
    assert containers.startswith("container list unavailable: Docker engine not reachable at tcp://127.0.0.1:9")
    assert "\n" not in containers and len(containers) <= diagnostics.ERROR_LIMIT + 30
    assert found["logs"] == f"not read: {containers}"
    assert found["collector"]["counters"]["logs"]["collector.send_failed"] == 52.0
    assert "send failed 52" in found["collector"]["logs"]
    assert diagnostics.summary(found) == "unavailable: containers, logs"


@needs_docker
def test_a_collector_that_does_not_answer_is_one_line_and_the_containers_are_still_read(
    project: Project,
) -> None:
    _talker(project).close()
    target = DockerTarget(LabConfig(project=project.name, target="docker"), Display.silent())
    try:
        found = diagnostics.diagnose(SimpleNamespace(target=target, endpoints=endpoints()), tail=1)
        broken = diagnostics.diagnose(SimpleNamespace(target=target))  # a bug, not an outage: still a line
    finally:
        target.close()
    assert found["collector"].startswith(
        f"collector counters unreadable: {DEAD}/metrics: ") and "Prometheus" in found["collector"]
    assert "\n" not in found["collector"]
    assert [c["service"] for c in found["containers"]] == ["talker"]
    assert _messages(found["logs"]["talker"]) == ["to stderr"]
    assert diagnostics.summary(found) == ("all 1 containers running and healthy; none restarted; "
                                          "unavailable: collector")
    assert broken["collector"].startswith("collector counters unavailable: AttributeError: ")
    assert broken["logs"]["talker"].endswith("to stderr")


# --- the VM -----------------------------------------------------------------------------------------------
def _vagrant_target(tmp_path: Path, project: str) -> VagrantTarget:
    repo = tmp_path / "repo"
    repo.mkdir(exist_ok=True)
    config = LabConfig.from_sources(
        {"target": "vagrant", "repo_root": repo, "reports_dir": str(tmp_path / "reports")},
        {"LAB_VAGRANT_LOCK": str(tmp_path / "lock"), "LAB_PROJECT": project},
    )
    return VagrantTarget(config, Display.silent())


@pytest.fixture
def vm_tools(fake_bin: Path) -> Path:
    """The VM's commands, as the fake ssh runs them here: sudo, a systemd with one failed unit, a
    kernel log of 80 lines."""
    write_tool(fake_bin, "sudo", '#!/bin/sh\n[ "$1" = -n ] && shift\nexec "$@"\n')
    write_tool(fake_bin, "systemctl", (
        "#!/bin/sh\n"
        '[ -n "$SYSTEMCTL_FAILS" ] && { echo "Failed to connect to bus: No such file" >&2; exit 1; }\n'
        'echo "$*" > "$(dirname "$0")/systemctl.args"\n'
        "echo '  UNIT           LOAD   ACTIVE SUB    DESCRIPTION'\n"
        "echo '* backup.service loaded failed failed Nightly backup'\n"
    ))
    write_tool(fake_bin, "dmesg", (
        '#!/bin/sh\n[ "$1" = --ctime ] || exit 2\n'
        'i=1; while [ $i -le 80 ]; do echo "[Mon Jan  5 10:00:00 2026] kernel line $i"; i=$((i+1)); done\n'
    ))
    return fake_bin


@needs_docker
def test_on_the_vagrant_target_the_vm_says_its_failed_units_and_kernel_log(
    project: Project, fake_vagrant: Path, fake_ssh: Path, vm_tools: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _talker(project).close()
    (fake_vagrant / "state").write_text("running\n")
    target = _vagrant_target(tmp_path, project.name)
    lab = SimpleNamespace(target=target, endpoints=endpoints())
    try:
        found = diagnostics.diagnose(lab, tail=5)
        monkeypatch.setenv("SYSTEMCTL_FAILS", "1")
        half = diagnostics.diagnose(lab, tail=5)
    finally:
        target.close()
    vm = found["vm"]
    assert "backup.service loaded failed failed" in vm["systemctl --failed"]
    assert (vm_tools / "systemctl.args").read_text().split() == ["--failed", "--no-pager"]
    assert vm["dmesg"].splitlines() == [f"[Mon Jan  5 10:00:00 2026] kernel line {i}" for i in range(76, 81)]
    # the containers and their logs through the engine in the "VM" (the docker CLI over ssh)
    assert [c["service"] for c in found["containers"]] == ["talker"]
    assert _messages(found["logs"]["talker"])[-1] == "to stderr"
    assert "unavailable: collector" in diagnostics.summary(found) and "vm" not in diagnostics.summary(found)

    failing = half["vm"]["systemctl --failed"]
    assert failing.startswith("systemctl --failed in the VM exited 1:")
    assert "Failed to connect to bus" in failing
    assert "\n" not in failing
    assert half["vm"]["dmesg"] == vm["dmesg"], "one command failing does not hide the other"


def test_a_vm_that_is_not_running_is_one_line_per_part(
    fake_vagrant: Path, fake_ssh: Path, tmp_path: Path
) -> None:
    (fake_vagrant / "state").write_text("shutoff\n")
    target = _vagrant_target(tmp_path, "labdiagvm")
    lab = SimpleNamespace(target=target, endpoints=endpoints())
    try:
        found = diagnostics.diagnose(lab)
    finally:
        target.close()
    assert set(found) == {"containers", "logs", "collector", "vm"}
    assert all(isinstance(part, str) and "\n" not in part for part in found.values())
    assert found["vm"].startswith("VM diagnostics unavailable: ")
    assert diagnostics.summary(found) == "unavailable: containers, logs, collector, vm"
