"""harness.faults.network on real containers of this host's engine: a partition drops one link and only
that one, a delay slows one link, both go away with clear(). Three lab/python containers on a
network of their own, labelled as a compose project so the docker target's engine finds them;
removed by name when the module ends.

Needs the Docker engine, root (or ``sudo -n``) for nsenter, and ``lab/python:bookworm``; the delay
test also needs a kernel with sch_netem (this CI host's has none: it says so and skips).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from harness.base.config import LabConfig
from harness.faults import network
from harness.faults.network import Link, NetworkFaults
from harness.faults.runtime import Partition
from harness.lab.targets.base import NotSupported
from harness.lab.targets.docker import DockerTarget

pytestmark = [pytest.mark.docker, pytest.mark.slow]
IMAGE = "lab/python:bookworm"
SERVER = ("import http.server as h; "
          "h.ThreadingHTTPServer(('', 8000), h.SimpleHTTPRequestHandler).serve_forever()")


def docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)


def connect_seconds(client: str, host: str, timeout: float = 2.0) -> float | None:
    """Seconds a TCP connect from ``client`` to ``host``:8000 takes; None when it fails."""
    code = (f"import socket, time; t = time.time(); socket.create_connection(('{host}', 8000), {timeout}); "
            "print(time.time() - t)")
    proc = docker("exec", client, "python3", "-c", code, timeout=30)
    return float(proc.stdout.strip()) if proc.returncode == 0 else None


@pytest.fixture(scope="module")
def project() -> Iterator[SimpleNamespace]:
    if shutil.which("docker") is None or docker("info", timeout=20).returncode != 0:
        pytest.skip("no usable Docker engine")
    if os.geteuid() != 0 and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("nsenter needs root: run as root or allow sudo -n")
    if docker("image", "inspect", IMAGE, timeout=20).returncode != 0:
        pytest.skip(f"image {IMAGE} not built (run `lab images build`)")
    name = f"obslab-test-netfault-{secrets.token_hex(3)}"
    docker("network", "create", name)
    names = {}
    try:
        for service in ("server", "other", "client"):
            names[service] = f"{name}-{service}"
            command = ["python3", "-c", SERVER] if service != "client" else ["sleep", "600"]
            run = docker("run", "-d", "--rm", "--name", names[service], "--network", name, "--network-alias",
                         service, "--label", f"com.docker.compose.project={name}", "--label",
                         f"com.docker.compose.service={service}", IMAGE, *command)
            assert run.returncode == 0, run.stderr
        deadline = time.monotonic() + 30
        while connect_seconds(names["client"], "server") is None and time.monotonic() < deadline:
            time.sleep(0.5)
        yield SimpleNamespace(target=DockerTarget(LabConfig(project=name)), **names)
    finally:
        for container in names.values():
            docker("rm", "-f", container)
        docker("network", "rm", name)


def test_a_partition_drops_one_link_and_clear_restores_it(project: SimpleNamespace) -> None:
    faults = NetworkFaults(project.target)
    assert connect_seconds(project.client, "server") is not None
    faults.partition(Link("client", "server"))
    try:
        assert connect_seconds(project.client, "server") is None, "the cut link still connects"
        assert connect_seconds(project.client, "other") is not None, "another link was cut too"
    finally:
        faults.clear()
    assert connect_seconds(project.client, "server") is not None


def test_a_delay_slows_one_link_and_clear_removes_it(project: SimpleNamespace) -> None:
    faults = NetworkFaults(project.target)
    reason = faults.can_delay(Link("client", "server"))
    if reason:
        pytest.skip(reason)
    faults.delay(Link("client", "server"), 500)
    try:
        slow = connect_seconds(project.client, "server")
        fast = connect_seconds(project.client, "other")
        assert slow is not None and slow >= 0.45, slow  # the SYN waits 500 ms
        assert fast is not None and fast < 0.2, fast
    finally:
        faults.clear()
    after = connect_seconds(project.client, "server")
    assert after is not None and after < 0.2


def test_a_fault_names_what_it_cannot_find(project: SimpleNamespace) -> None:
    with pytest.raises(Exception, match="no running container for 'nosuch'"):
        NetworkFaults(project.target).partition(Link("client", "nosuch"))


def test_a_target_without_a_host_shell_says_so() -> None:
    """The shell is the target's: one that has none says why, before any fault is set."""
    from harness.lab.targets.existing import ExistingTarget

    target = ExistingTarget(LabConfig(target="existing", lab_host="127.0.0.1"))
    with pytest.raises(NotSupported, match="target existing cannot run a command as root on the host of the "
                                           "lab's containers"):
        NetworkFaults(target)


def test_a_held_fault_says_when_it_was_in_place(project: SimpleNamespace) -> None:
    before = time.time()
    held = Partition("client", "server", seconds=1.0).hold(SimpleNamespace(target=project.target))
    start, end = held.in_effect
    assert before <= start == held.setting_at <= held.applied_at < held.clearing_at <= held.cleared_at == end
    assert held.clearing_at - held.applied_at >= 1.0  # held that long once it was surely in place
    assert connect_seconds(project.client, "server") is not None  # cleared


def test_a_prepared_fault_starts_without_looking_the_containers_up_again(
        project: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
    at = SimpleNamespace(target=project.target)
    fault = Partition("client", "server", seconds=0.5)
    fault.prepare(at)
    looked_up = []
    monkeypatch.setattr(network, "endpoints", lambda target: looked_up.append(target) or {})
    held = fault.hold(at)
    assert looked_up == [] and held.setting_at <= held.applied_at
    assert connect_seconds(project.client, "server") is not None  # cleared
    with pytest.raises(Exception, match=r"no running container for 'client' \(running: none\)"):
        NetworkFaults(project.target).partition(Link("client", "server"))  # unprepared: looks up (here: none)


def test_a_catalogue_partition_cuts_at_once_and_its_timer_restores_it(project: SimpleNamespace) -> None:
    """The runtime vocabulary's Partition as the catalogue applies it: apply returns at once with the
    link cut, the scenarios run meanwhile, and its own timer clears it after its seconds."""
    from harness.faults.runtime import Partition

    lab = SimpleNamespace(target=project.target)
    started = time.monotonic()
    line = Partition("client", "server", seconds=3.0).apply(lab)
    assert time.monotonic() - started < 3.0 and line == "cut client → server (undone after 3 s)"
    assert connect_seconds(project.client, "server", timeout=1.0) is None  # cut
    assert connect_seconds(project.client, "other", timeout=1.0) is not None  # only that link
    deadline = time.monotonic() + 30
    while connect_seconds(project.client, "server", timeout=1.0) is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert time.monotonic() - started >= 3.0, "cleared by its timer, not before"
    assert connect_seconds(project.client, "server") is not None
