"""Security posture checks of the lab, made with pytest-testinfra where a shell is there to ask:
the lab's containers and published ports (every target), and the lab VM as a host (``@vm``).

The VM is reached as the target's testinfra host (:mod:`harness.lab.testinfra_ssh`: ssh with the
config ``vagrant ssh-config lab`` printed). The ``vagrant`` user has passwordless sudo; checks that
need root (``sshd -T``) run under ``host.sudo()``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import testinfra

from harness.base import evidence, services

if TYPE_CHECKING:
    from harness.lab.lifecycle import Lab

# --- the lab's containers and published ports -------------------------------------------------------
DOCUMENTED_PORTS = services.documented_ports()


def services_of(lab: Lab) -> set[str]:
    return set(lab.target.status())


def uid_of_main_process(status_text: str) -> int:
    """Real uid from /proc/1/status (``Uid: real effective saved fs``)."""
    for line in status_text.splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise ValueError("no Uid line in /proc/1/status")


def main_process_not_root(lab: Lab, service: str) -> None:
    if services.SERVICES[service].may_run_as_root:
        evidence.attach("note", f"{service} may run as root (harness.base.services)")
        return
    host = testinfra.get_host(lab.target.testinfra_host(service))
    text = host.file("/proc/1/status").content_string
    uid = uid_of_main_process(text)
    evidence.attach("note", f"{service}: uid of PID 1 is {uid}", backend=lab.target.testinfra_host(service))
    assert uid != 0, f"the main process of {service} runs as root (uid 0)"


def only_documented_ports(lab: Lab) -> None:
    published = lab.target.published_ports()
    assert published, "the lab publishes no port at all: 'only the documented ones' over none proves nothing"
    extra = {s: sorted(set(ports) - DOCUMENTED_PORTS.get(s, set())) for s, ports in published.items()}
    extra = {s: p for s, p in extra.items() if p}
    evidence.attach("note", "ports published by the lab", **{s: sorted(p) for s, p in published.items()})
    assert not extra, f"undocumented ports published (service: ports): {extra}"
    host = testinfra.get_host("local://")
    address = lab.target.published_address()
    not_listening = [
        f"{s}:{p}"
        for s, ports in published.items()
        for p in ports
        if not host.socket(f"tcp://{address}:{lab.target.host_port(p)}").is_listening
    ]
    assert not not_listening, f"published ports nobody listens on at {address}: {not_listening}"


def grafana_anonymous_not_admin(lab: Lab) -> None:
    assert lab.grafana is not None, "this store set has no Grafana"
    role = lab.grafana.anonymous_role()
    evidence.attach("note", f"Grafana anonymous role: {role or 'anonymous access off'}")
    assert role in (None, "Viewer"), f"anonymous visitors get the {role} role in Grafana (at most Viewer)"


# --- the lab VM as a host (@vm) ---------------------------------------------------------------------
SSH_PORT = 22
DOCKER_TCP_PORTS = (2375, 2376)


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


def allowed_ports(names: Iterable[str] | None = None) -> set[int]:
    """SSH plus the documented ports of the services ``names`` (all documented ports when None)."""
    documented = services.documented_ports()
    chosen = documented if names is None else {s: documented.get(s, set()) for s in names}
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
