"""Security posture checks, made with pytest-testinfra where a shell is there to ask."""

from __future__ import annotations

from typing import TYPE_CHECKING

import testinfra

from harness import evidence

if TYPE_CHECKING:
    from harness.lab import Lab

# Host ports each service publishes (ARCHITECTURE.md, "Ports on the host").
DOCUMENTED_PORTS: dict[str, set[int]] = {
    "frontend": {8080},
    "backend": {5000},
    "otel-collector": {4317, 4318, 13133, 8888},
    "prometheus": {9090},
    "grafana": {3000},
    "tempo": {3200},
    "loki": {3100},
    "jaeger": {16686},
    "victorialogs": {9428},
}


def services_of(lab: Lab) -> set[str]:
    return set(lab.target.status())


def uid_of_main_process(status_text: str) -> int:
    """Real uid from /proc/1/status (``Uid: real effective saved fs``)."""
    for line in status_text.splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise ValueError("no Uid line in /proc/1/status")


def main_process_not_root(lab: Lab, service: str) -> None:
    host = testinfra.get_host(lab.target.testinfra_host(service))
    text = host.file("/proc/1/status").content_string
    uid = uid_of_main_process(text)
    evidence.attach("note", f"{service}: uid of PID 1 is {uid}", backend=lab.target.testinfra_host(service))
    assert uid != 0, f"the main process of {service} runs as root (uid 0)"


def only_documented_ports(lab: Lab) -> None:
    published = lab.target.published_ports()
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
