"""The one engine interface: a compose project's containers in one Docker engine, wherever it runs.

Views (ids, states, published ports), service control (restart/stop/start/exec) with evidence, and
the waits ("this service is running and healthy", "every service is") are written once here over
the primitives each implementation provides: list the project's ``docker inspect`` documents, act
on a container, exec in it, read its log, remove the project's volumes.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.base import evidence, timeouts
from harness.base.errors import LabError
from harness.base.waiting import NotYet, WaitTimeout, eventually
from harness.lab.engine.model import ContainerInfo, ServiceState, health_report, is_oneoff

WAIT_TIMEOUT = timeouts.base("deploy")


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    output: str


ProgressHook = Callable[[int, int, list[str]], None]  # (ready, total, problems)


class Engine(abc.ABC):
    """One compose project (``project``) in one Docker engine (``where`` says which, for messages)."""

    # a listing younger than this is reused (a step that asks twice in a row costs one round trip)
    max_age: float = 0.0
    poll_interval: float = 1.0

    def __init__(self, project: str, where: str):
        self.project = project
        self.where = where
        self._cache: tuple[float, list[ContainerInfo]] | None = None

    # --- primitives -----------------------------------------------------------------------------------
    @abc.abstractmethod
    def ping(self) -> str:
        """The engine's version; LabError when it does not answer."""

    @abc.abstractmethod
    def inspect_project(self) -> list[Mapping[str, Any]]:
        """``docker inspect`` documents of every container (running or not) of the project."""

    @abc.abstractmethod
    def _act(self, verb: str, container_id: str) -> None:
        """``restart``, ``stop`` or ``start`` one container (the container's own stop timeout)."""

    @abc.abstractmethod
    def _exec(self, container_id: str, command: Sequence[str], user: str | None) -> tuple[int, str]: ...

    @abc.abstractmethod
    def _logs(self, container_id: str, tail: int) -> str:
        """The container's last ``tail`` log lines, stdout and stderr, each with its timestamp."""

    @abc.abstractmethod
    def remove_volumes(self) -> list[str]:
        """Remove every volume labelled with the project (after ``down``: none is in use)."""

    @abc.abstractmethod
    def image_ids(self) -> dict[str, str]:
        """{repo:tag: image id} of every image the engine has."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients and connections."""

    # --- views ------------------------------------------------------------------------------------------
    def infos(self, max_age: float | None = None) -> list[ContainerInfo]:
        """The project's containers (one-off ``compose run`` containers left out), by service."""
        age = self.max_age if max_age is None else max_age
        if self._cache is not None and time.monotonic() - self._cache[0] < age:
            return list(self._cache[1])
        infos = sorted(
            (ContainerInfo.from_inspect(a) for a in self.inspect_project() if not is_oneoff(a)),
            key=lambda i: (i.service, i.name),
        )
        self._cache = (time.monotonic(), infos)
        return list(infos)

    def container(self, service: str, max_age: float | None = None) -> ContainerInfo:
        """The service's container (a running one first); LabError naming the services that exist."""
        infos = self.infos(max_age)
        found = [i for i in infos if i.service == service]
        if not found:
            known = sorted({i.service for i in infos})
            raise LabError(
                f"no container for service {service!r} of project {self.project!r} at {self.where}"
                f" (services there: {', '.join(known) or 'none'})"
            )
        found.sort(key=lambda i: (i.status != "running", i.name))
        return found[0]

    def container_ids(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for info in self.infos():
            out.setdefault(info.service, info.id)
        return out

    def states(self) -> dict[str, ServiceState]:
        out: dict[str, ServiceState] = {}
        for info in self.infos():
            out.setdefault(info.service, info.state)
        return out

    def published_ports(self) -> dict[str, set[int]]:
        out: dict[str, set[int]] = {}
        for info in self.infos():
            out.setdefault(info.service, set()).update(port for _, port in info.published)
        return out

    def published_address(self, default: str = "127.0.0.1") -> str:
        """The one host address ports are bound to (a wildcard bind is reached on loopback)."""
        addresses = {ip for info in self.infos() for ip, _ in info.published}
        addresses = {"127.0.0.1" if ip in ("0.0.0.0", "", "::") else ip for ip in addresses}
        return addresses.pop() if len(addresses) == 1 else default

    # --- service control ------------------------------------------------------------------------------
    def _control(self, verb: str, service: str) -> None:
        info = self.container(service)
        self._cache = None
        started = time.monotonic()
        try:
            self._act(verb, info.id)
        except LabError as exc:
            evidence.attach("docker", f"{verb} {service}", container=info.id[:12], error=str(exc))
            raise LabError(f"{verb} {service} ({info.id[:12]}) at {self.where} failed: {exc}") from None
        finally:
            self._cache = None
        evidence.attach(
            "docker", f"{verb} {service}", container=info.id[:12], where=self.where,
            duration_s=round(time.monotonic() - started, 2),
        )

    def restart(self, service: str) -> None:
        self._control("restart", service)

    def stop(self, service: str) -> None:
        self._control("stop", service)

    def start(self, service: str) -> None:
        self._control("start", service)

    def exec(self, service: str, command: Sequence[str], user: str | None = None) -> ExecResult:
        info = self.container(service)
        started = time.monotonic()
        exit_code, output = self._exec(info.id, list(command), user)
        evidence.attach(
            "command",
            f"exec {service}: {' '.join(command)}",
            exit_code=exit_code,
            duration_s=round(time.monotonic() - started, 2),
            output=evidence.trim(output),
        )
        return ExecResult(exit_code=exit_code, output=output)

    def logs(self, service: str, tail: int = 50, *, max_age: float | None = None) -> str:
        """The last ``tail`` lines the service's container logged (stdout and stderr, timestamped):
        what it said before a scenario failed. ``max_age`` as for :meth:`infos` (a caller that has
        just listed every container reads each one's log without listing them again)."""
        info = self.container(service, max_age)
        return self._logs(info.id, tail)

    # --- waits ------------------------------------------------------------------------------------------
    def wait_all(
        self,
        expected: Iterable[str],
        *,
        timeout: float = WAIT_TIMEOUT,
        on_progress: ProgressHook | None = None,
        only: bool = False,
    ) -> dict[str, ContainerInfo]:
        """Until every expected service has a running container whose healthcheck (if any) passes —
        and every other container of the project too, unless ``only``.

        ``on_progress(ready, total, problems)`` after each look; a timeout is a LabError saying each
        service's state and its last healthcheck output.
        """
        wanted = sorted(set(expected))

        def check() -> dict[str, ContainerInfo]:
            infos = [i for i in self.infos(max_age=0) if not only or i.service in wanted]
            problems = health_report(infos, wanted)
            if on_progress is not None:
                waiting = {p.split(":", 1)[0] for p in problems}
                on_progress(len(set(wanted) - waiting), len(wanted), problems)
            if problems:
                raise NotYet("; ".join(problems))
            return {i.service: i for i in infos}

        what = wanted[0] if len(wanted) == 1 else f"services of {self.project}"
        try:
            return eventually(
                check, timeout=timeout, interval=self.poll_interval,
                describe=f"{what} to be running and healthy at {self.where}",
            )
        except WaitTimeout as exc:
            raise LabError(
                f"{what} not healthy at {self.where} after {exc.timeout:.0f}s: {exc.last_observation}"
            ) from None

    def wait_running(self, service: str, timeout: float = 60.0) -> ContainerInfo:
        """Until the service's container runs and its healthcheck (if any) passes."""
        return self.wait_all([service], timeout=timeout, only=True)[service]

    def wait_ended(self, before: ContainerInfo, *, timeout: float = 30.0) -> ContainerInfo:
        """Until the container ``before`` describes has left that run: it stopped, or its restart
        policy started it again (a new StartedAt or RestartCount). Signalling PID 1 returns at once,
        and the engine goes on reporting the old run as healthy for a while: a wait for "healthy
        again" right after it would end before anything happened."""

        def check() -> ContainerInfo:
            found = [i for i in self.infos(max_age=0) if i.id == before.id]
            if not found:
                raise LabError(f"the container {before.id[:12]} of {before.service} is gone")
            now = found[0]
            if not now.state.running or now.started_at != before.started_at or now.restarts > before.restarts:
                return now
            raise NotYet(f"{before.service} ({before.id[:12]}) still in the run started at "
                         f"{before.started_at or '?'}: {now.state}")

        try:
            return eventually(check, timeout=timeout, interval=min(self.poll_interval, 1.0),
                              describe=f"the main process of {before.service} to end at {self.where}")
        except WaitTimeout as exc:
            raise LabError(f"the main process of {before.service} had not ended after {exc.timeout:.0f}s "
                           f"at {self.where}: {exc.last_observation}") from None
