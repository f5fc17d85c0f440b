"""What every target offers: bring the lab up, say where it is, and control one service.

A target is where the stack runs: the local Docker engine, libvirt VMs made by Vagrant, or a lab
that already runs. Scenarios only talk to this interface, so a new target adds a class, nothing else.
"""

from __future__ import annotations

import abc
from dataclasses import asdict, dataclass
from typing import Any

from harness.config import LabConfig
from harness.errors import LabError
from harness.progress import Display

SERVICES = (
    "frontend", "backend", "otel-collector", "prometheus",
    "tempo", "loki", "grafana", "jaeger", "victorialogs",
)


@dataclass(frozen=True)
class Endpoints:
    """Base URLs of the lab as seen from the harness (no trailing slash)."""

    target: str
    stores: str
    frontend: str
    backend: str
    prometheus: str
    traces: str  # query API base of the trace store (Jaeger query or Tempo)
    logs: str  # query API base of the log store (VictoriaLogs or Loki)
    collector_health: str
    grafana: str | None = None  # absent when the store set has none

    def to_dict(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def for_host(cls, host: str, target: str, stores: str, scheme: str = "http") -> Endpoints:
        """The documented host ports of ARCHITECTURE.md on one host."""
        base = f"{scheme}://{host}"
        if stores == "tempo-loki":
            traces, logs, grafana = f"{base}:3200", f"{base}:3100", f"{base}:3000"
        else:
            traces, logs, grafana = f"{base}:16686", f"{base}:9428", None
        return cls(target=target, stores=stores, frontend=f"{base}:8080", backend=f"{base}:5000",
                   prometheus=f"{base}:9090", traces=traces, logs=logs,
                   collector_health=f"{base}:13133", grafana=grafana)


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    output: str


class NotSupported(LabError):
    """The target cannot do this (e.g. service control on an existing lab with no engine access)."""


class Target(abc.ABC):
    """One place the lab runs. Subclasses must keep every call bounded in time."""

    name: str = "abstract"

    def __init__(self, config: LabConfig, display: Display | None = None):
        self.config = config
        self.display = display if display is not None else Display()

    # lifecycle -------------------------------------------------------------------------------
    @abc.abstractmethod
    def up(self) -> None:
        """Make the lab run and be healthy; idempotent; never wipes volumes."""

    @abc.abstractmethod
    def down(self, volumes: bool = False) -> None:
        """Stop and remove the lab; volumes only when asked."""

    @abc.abstractmethod
    def status(self) -> dict[str, str]:
        """Service name -> state text (e.g. 'running (healthy)'), for `lab status`."""

    def is_running(self) -> bool:
        """True when every service of the store set already runs (the run will reuse the lab)."""
        states = self.status()
        return bool(states) and all(s.startswith("running") for s in states.values())

    @abc.abstractmethod
    def endpoints(self) -> Endpoints: ...

    # service control (failure scenarios) --------------------------------------------------------
    @abc.abstractmethod
    def restart(self, service: str) -> None: ...

    @abc.abstractmethod
    def stop(self, service: str) -> None: ...

    @abc.abstractmethod
    def start(self, service: str) -> None: ...

    @abc.abstractmethod
    def exec(self, service: str, command: list[str]) -> ExecResult: ...

    @abc.abstractmethod
    def container_ids(self) -> dict[str, str]:
        """Service name -> container id; a second deploy that recreates nothing keeps these."""

    def published_ports(self) -> dict[str, set[int]]:
        """Service -> host ports it publishes (for the "only documented ports" check)."""
        raise NotSupported(f"target {self.name!r} cannot list published ports")

    def published_address(self) -> str:
        """The address the published ports listen on, as the harness reaches them."""
        from urllib.parse import urlsplit

        return urlsplit(self.endpoints().frontend).hostname or "127.0.0.1"

    def host_port(self, port: int) -> int:
        """Where a published port is reached from the harness (a VM's ports may be forwarded with an
        offset); the same port by default."""
        return port

    def testinfra_host(self, service: str | None = None) -> str:
        """A pytest-testinfra connection string for a service's container (or the host/VM)."""
        raise NotImplementedError(f"target {self.name!r} has no testinfra backend")

    @property
    def capabilities(self) -> frozenset[str]:
        """What scenarios may require: 'control' (restart/stop/start), 'deploy', 'vm', 'containers'."""
        return frozenset({"control", "deploy", "containers"})

    def why_not(self, capability: str) -> str | None:
        """Why ``capability`` is missing (for the skip reason), or None when the target has it."""
        if capability in self.capabilities:
            return None
        return f"target {self.name!r} has no {capability!r} capability"

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients; default nothing."""


class EngineBackedTarget(Target):
    """A target whose services are containers of one Docker engine (local, or in a VM over SSH):
    service control is the engine's, whatever the target does to bring the lab up."""

    @property
    @abc.abstractmethod
    def engine(self) -> Any:
        """What controls the containers: ``EngineControl`` (Docker SDK) or ``SshEngine`` (CLI over SSH)."""

    def restart(self, service: str) -> None:
        self.engine.restart(service)

    def stop(self, service: str) -> None:
        self.engine.stop(service)

    def start(self, service: str) -> None:
        self.engine.start(service)

    def exec(self, service: str, command: list[str]) -> ExecResult:
        return self.engine.exec(service, command)

    def container_ids(self) -> dict[str, str]:
        return self.engine.container_ids()

    def wait_healthy(self, service: str, timeout: float = 60.0) -> None:
        """After a restart/start: until that service is running and healthy again."""
        from harness.errors import LabError
        from harness.waiting import WaitTimeout

        try:
            self.engine.wait_running(service, timeout)
        except WaitTimeout as exc:
            raise LabError(str(exc)) from None

    def published_ports(self) -> dict[str, set[int]]:
        """Ports the lab's containers publish on their engine's host."""
        return self.engine.published_ports()
