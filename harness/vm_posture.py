"""Host checks of the lab VM (the ``@vm`` scenarios), made with pytest-testinfra over ssh.

The VM is reached as testinfra's ``ssh://vagrant@lab?ssh_config=<file>`` — the ssh config file is
the block ``vagrant ssh-config lab`` printed (see :mod:`harness.vagrant`), so testinfra needs no
knowledge of the VM's address or key. The ``vagrant`` user has passwordless sudo; checks that need
root (``sshd -T``) run under ``host.sudo()``.

A container *inside* the VM is reached with ``ssh-docker://deploy@lab?ssh_config=…&container=<id>``:
testinfra's own ``docker://`` backend runs the local ``docker`` CLI and cannot cross ssh, so
:class:`SshDockerBackend` (registered in testinfra's backend table on import) runs each command as
``docker exec <id> /bin/sh -c …`` in the VM over the same ssh.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import testinfra
import testinfra.backend
from testinfra.backend.ssh import SshBackend

from harness import evidence
from harness.posture import DOCUMENTED_PORTS

if TYPE_CHECKING:
    from harness.lab import Lab

SSH_PORT = 22
DOCKER_TCP_PORTS = (2375, 2376)


class SshDockerBackend(SshBackend):
    """testinfra backend: a container of the VM's engine, through ssh + ``docker exec``."""

    NAME = "ssh-docker"

    def __init__(self, hostspec: str, *args: Any, container: str | None = None, **kwargs: Any):
        if not container:
            raise ValueError("ssh-docker:// needs ?container=<id or name>")
        self.container = container
        super().__init__(hostspec, *args, **kwargs)

    def run(self, command: str, *args: str, **kwargs: Any) -> Any:
        inner = self.get_command(command, *args)
        return self.run_ssh(self.get_command("docker exec %s /bin/sh -c %s", self.container, inner))


testinfra.backend.BACKENDS.setdefault(SshDockerBackend.NAME, f"{__name__}.SshDockerBackend")


def vm_hostspec(ssh_config: Path, user: str = "vagrant", host: str = "lab") -> str:
    return f"ssh://{user}@{host}?ssh_config={quote(str(ssh_config))}&timeout=30"


def container_hostspec(ssh_config: Path, container: str, user: str = "deploy", host: str = "lab") -> str:
    return f"ssh-docker://{user}@{host}?ssh_config={quote(str(ssh_config))}&container={quote(container)}&timeout=30"


def vm_host(lab: Lab) -> Any:
    """The testinfra host of the lab's VM."""
    return testinfra.get_host(lab.target.testinfra_host(None))


# --- pure parts (unit-tested) ---------------------------------------------------------------------------
def parse_sshd_t(text: str) -> dict[str, str]:
    """``sshd -T`` output (``key value`` lines, keys lowercased) -> {key: value} (first value wins)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key and key.lower() not in out:
            out[key.lower()] = value.strip()
    return out


@dataclass(frozen=True)
class Listener:
    protocol: str
    address: str
    port: int

    @property
    def loopback(self) -> bool:
        return self.address.startswith("127.") or self.address in ("::1", "[::1]")

    def __str__(self) -> str:
        return f"{self.protocol}://{self.address}:{self.port}"


def parse_listeners(sockets: Iterable[str]) -> list[Listener]:
    """testinfra's ``get_listening_sockets()`` strings -> TCP listeners (``tcp://0.0.0.0:22``,
    ``tcp://:::22``); unix sockets skipped."""
    out = []
    for spec in sockets:
        match = re.match(r"^(tcp6?|udp6?)://(.*):(\d+)$", spec)
        if not match or not match[1].startswith("tcp"):
            continue
        out.append(Listener("tcp", match[2], int(match[3])))
    return out


def allowed_ports(services: Iterable[str] | None = None) -> set[int]:
    """SSH plus the documented ports of ``services`` (all documented ports when None)."""
    chosen = DOCUMENTED_PORTS if services is None else {s: DOCUMENTED_PORTS.get(s, set()) for s in services}
    return {SSH_PORT} | {p for ports in chosen.values() for p in ports}


def unexpected_listeners(listeners: Iterable[Listener], allowed: set[int]) -> list[Listener]:
    """Listeners reachable from outside the VM (not loopback) on a port that is not allowed."""
    return sorted(
        (x for x in listeners if not x.loopback and x.port not in allowed), key=lambda x: (x.port, x.address)
    )


def tcp_hosts_in_daemon_json(text: str) -> list[str]:
    """``hosts`` entries of /etc/docker/daemon.json that are TCP (``tcp://…``); [] for no file/hosts."""
    if not text.strip():
        return []
    data = json.loads(text)
    hosts = data.get("hosts", []) if isinstance(data, dict) else []
    return [h for h in hosts if isinstance(h, str) and h.startswith("tcp:")]


def tcp_hosts_in_args(args: str) -> list[str]:
    """``-H tcp://…`` / ``--host=tcp://…`` in a dockerd command line."""
    return re.findall(r"(?:-H|--host)[= ]\s*(tcp://\S+)", args)


# --- checks (thin steps call these) -------------------------------------------------------------------
def sshd_hardened(lab: Lab) -> dict[str, str]:
    host = vm_host(lab)
    with host.sudo():
        result = host.run("sshd -T")
    assert result.rc == 0, f"sshd -T failed in the VM: {result.stderr.strip()[:300]}"
    settings = parse_sshd_t(result.stdout)
    seen = {
        k: settings.get(k, "(not printed)")
        for k in (
            "passwordauthentication",
            "permitrootlogin",
            "kbdinteractiveauthentication",
            "pubkeyauthentication",
        )
    }
    evidence.attach("note", "sshd -T in the VM", **seen)
    assert settings.get("passwordauthentication") == "no", (
        f"PasswordAuthentication is {seen['passwordauthentication']}"
    )
    assert settings.get("permitrootlogin") == "no", f"PermitRootLogin is {seen['permitrootlogin']}"
    return seen


def docker_running(lab: Lab) -> None:
    host = vm_host(lab)
    service = host.service("docker")
    running, enabled = service.is_running, service.is_enabled
    evidence.attach("note", "docker service in the VM", running=running, enabled=enabled)
    assert running, "the docker service is not running in the VM"
    assert enabled, "the docker service is not enabled in the VM (it would not come back after a reboot)"


def only_documented_ports_listen(lab: Lab) -> list[Listener]:
    host = vm_host(lab)
    with host.sudo():
        listeners = parse_listeners(host.socket.get_listening_sockets())
    allowed = allowed_ports(set(lab.target.status()) or None)
    extra = unexpected_listeners(listeners, allowed)
    evidence.attach(
        "note",
        "TCP listeners in the VM",
        outside=sorted({str(x) for x in listeners if not x.loopback}),
        loopback=sorted({str(x) for x in listeners if x.loopback}),
        allowed=sorted(allowed),
    )
    assert not extra, (
        f"ports listening in the VM beyond SSH and the documented ones: {[str(x) for x in extra]}"
    )
    return listeners


def deploy_user_in_docker_group(lab: Lab, name: str = "deploy") -> None:
    host = vm_host(lab)
    user = host.user(name)
    exists = user.exists
    groups = user.groups if exists else []
    evidence.attach(
        "note", f"user {name} in the VM", exists=exists, groups=groups, shell=user.shell if exists else None
    )
    assert exists, f"no user {name!r} in the VM"
    assert "docker" in groups, f"user {name!r} is not in the docker group (groups: {groups})"
    key_file = host.file(f"/home/{name}/.ssh/authorized_keys")
    with host.sudo():
        has_keys = key_file.exists and key_file.size > 0
    assert has_keys, f"user {name!r} has no authorized_keys: key-only login would be impossible"


def no_docker_tcp_socket(lab: Lab) -> None:
    host = vm_host(lab)
    with host.sudo():
        listening = {
            p: host.socket(f"tcp://0.0.0.0:{p}").is_listening or host.socket(f"tcp://:::{p}").is_listening
            for p in DOCKER_TCP_PORTS
        }
        daemon_json = host.file("/etc/docker/daemon.json")
        text = daemon_json.content_string if daemon_json.exists else ""
        args = host.run("ps -o args= -C dockerd").stdout
    tcp_json = tcp_hosts_in_daemon_json(text)
    tcp_args = tcp_hosts_in_args(args)
    evidence.attach(
        "note",
        "Docker API sockets in the VM",
        listening_2375_2376=listening,
        daemon_json=evidence.trim(text, 600) or "(no file)",
        dockerd=args.strip()[:300],
    )
    assert not any(listening.values()), f"something listens on the Docker TCP ports: {listening}"
    assert not tcp_json, f"/etc/docker/daemon.json names TCP hosts: {tcp_json}"
    assert not tcp_args, f"dockerd runs with TCP hosts: {tcp_args}"
