"""What an engine says about a container, in one typed shape whichever way it was asked.

The Docker SDK's ``container.attrs`` and ``docker inspect`` print the same document, so one parser
(:meth:`ContainerInfo.from_inspect`) serves the local engine and the one in the VM alike; what a
service's state is (:class:`ServiceState`) is decided once here, not re-parsed from text elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"


@dataclass(frozen=True)
class ServiceState:
    """A service's state: the container status and, when the image has one, its healthcheck.

    ``status`` is the engine's (``running``, ``exited``, …) or, for a lab the harness only looks at
    over HTTP (the existing target), ``reachable`` / ``unreachable``; ``detail`` says more (an HTTP
    answer, a probe error).
    """

    status: str
    health: str | None = None  # healthy, unhealthy, starting; None when there is no healthcheck
    exit_code: int = 0
    detail: str = ""

    @property
    def running(self) -> bool:
        return self.status in ("running", "reachable")

    @property
    def ready(self) -> bool:
        """Running and, when it has a healthcheck, healthy: what a deploy waits for."""
        return self.running and self.health in (None, "healthy")

    def __str__(self) -> str:
        text = self.status
        if self.status in ("exited", "dead"):
            text += f" (exit {self.exit_code})"
        elif self.health:
            text += f" ({self.health})"
        return f"{text} {self.detail}" if self.detail else text

    @classmethod
    def missing(cls) -> ServiceState:
        return cls("missing")


@dataclass(frozen=True)
class ContainerInfo:
    """One container of a compose service as the engine sees it."""

    service: str
    id: str
    name: str
    state: ServiceState
    last_health_output: str = ""
    image: str = ""
    published: tuple[tuple[str, int], ...] = ()  # (host ip, host port) of every published port
    started_at: str = ""  # State.StartedAt: a restart (by hand or by the restart policy) changes it
    restarts: int = 0  # RestartCount: the restarts the restart policy made

    @property
    def status(self) -> str:
        return self.state.status

    @property
    def ready(self) -> bool:
        return self.state.ready

    @classmethod
    def from_inspect(cls, attrs: Mapping[str, Any]) -> ContainerInfo:
        """From one ``docker inspect`` document (= the SDK's ``container.attrs``)."""
        state = attrs.get("State") or {}
        health = state.get("Health") or {}
        log = health.get("Log") or []
        last = (log[-1].get("Output") or "").strip() if log else ""
        config = attrs.get("Config") or {}
        labels = config.get("Labels") or {}
        return cls(
            service=labels.get(SERVICE_LABEL, ""),
            id=attrs["Id"],
            name=str(attrs.get("Name", "")).lstrip("/"),
            state=ServiceState(
                status=state.get("Status", "unknown"),
                health=health.get("Status"),
                exit_code=int(state.get("ExitCode") or 0),
            ),
            last_health_output=last[-300:],
            image=config.get("Image", ""),
            published=_published(attrs),
            started_at=str(state.get("StartedAt") or ""),
            restarts=int(attrs.get("RestartCount") or 0),
        )


def is_oneoff(attrs: Mapping[str, Any]) -> bool:
    """``compose run`` containers are not services of the lab."""
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    return labels.get(ONEOFF_LABEL, "False") == "True"


def _published(attrs: Mapping[str, Any]) -> tuple[tuple[str, int], ...]:
    """Host bindings of a container: the live ones when it runs, else the configured ones."""
    bindings = (attrs.get("NetworkSettings") or {}).get("Ports") or {}
    if not any(bindings.values()):
        bindings = (attrs.get("HostConfig") or {}).get("PortBindings") or {}
    out = set()
    for binds in bindings.values():
        for bind in binds or []:
            if bind.get("HostPort"):
                out.add((bind.get("HostIp") or "0.0.0.0", int(bind["HostPort"])))
    return tuple(sorted(out))


def health_report(infos: Iterable[ContainerInfo], expected: Iterable[str]) -> list[str]:
    """One line per service that is not ready (missing, stopped, unhealthy, starting); [] = all ready."""
    by_service: dict[str, list[ContainerInfo]] = {}
    for info in infos:
        by_service.setdefault(info.service, []).append(info)
    problems = []
    for service in sorted(set(expected) | set(by_service)):
        found = by_service.get(service)
        if not found:
            problems.append(f"{service}: no container")
            continue
        for info in found:
            if info.ready:
                continue
            line = f"{service}: {info.state}"
            if info.last_health_output:
                line += f"; last healthcheck: {' '.join(info.last_health_output.split())[:200]}"
            problems.append(line)
    return problems
