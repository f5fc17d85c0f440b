"""The one compose wrapper: Docker Compose v2 (``docker compose``) or v1 (``docker-compose``).

Users have v2; this project's machines have Debian's v1 (1.29). Both get the same calls here:
the command is detected once (``docker compose version`` first, then ``docker-compose``;
``LAB_COMPOSE`` overrides), every call has a scaled timeout and leaves evidence, and "up and
wait until healthy" means the same on both — v1 has no ``up --wait``, so the wait polls the
containers' health through the Docker SDK and, when it gives up, says each service's state and
its last healthcheck output.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.errors import LabError
from harness.progress import CommandResult, run
from harness.waiting import NotYet, WaitTimeout, eventually, scaled

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"

DETECT_TIMEOUT = 20.0
UP_TIMEOUT = 600.0
DOWN_TIMEOUT = 180.0
CONFIG_TIMEOUT = 60.0
SDK_TIMEOUT = 60.0


@dataclass(frozen=True)
class ComposeCommand:
    """How to call compose here: the argv prefix and the version it reported."""

    argv: tuple[str, ...]  # ("docker", "compose") or ("docker-compose",)
    version: str  # "1.29.2", "2.29.7"

    @property
    def major(self) -> int:
        return version_tuple(self.version)[0]

    def at_least(self, *wanted: int) -> bool:
        return version_tuple(self.version) >= wanted

    def __str__(self) -> str:
        return f"v{self.major} {self.version}"


def version_tuple(text: str) -> tuple[int, ...]:
    """ "v2.29.7-desktop.1" -> (2, 29, 7); unparsable parts count as 0."""
    parts = re.findall(r"\d+", text.split("-")[0].split("+")[0])[:3]
    return tuple(int(p) for p in parts) or (0,)


def parse_version_output(output: str) -> str | None:
    """The version from ``version --short`` (or the long form as a fallback)."""
    for line in output.strip().splitlines():  # the long v1 form names docker-py's version later
        match = re.search(r"\bv?(\d+\.\d+\.\d+[^\s,]*)", line)
        if match:
            return match.group(1)
    return None


@functools.lru_cache(maxsize=8)
def _detect_cached(override: str | None, path: str) -> ComposeCommand:
    candidates = [tuple(shlex.split(override))] if override else [("docker", "compose"), ("docker-compose",)]
    failures = []
    for argv in candidates:
        result = run([*argv, "version", "--short"], timeout=scaled(DETECT_TIMEOUT))
        version = parse_version_output(result.output) if result.ok else None
        if version:
            return ComposeCommand(argv=argv, version=version)
        failures.append(f"`{shlex.join(argv)} version` {_why(result)}")
    hint = (
        "install the compose plugin (`docker compose`, v2) or Debian's docker-compose (v1)"
        if not override
        else "unset LAB_COMPOSE to detect, or install that command"
    )
    raise LabError(f"no Docker Compose found: {'; '.join(failures)}; {hint}")


def _why(result: CommandResult) -> str:
    if result.timed_out:
        return f"timed out after {result.duration:.0f}s"
    first = result.output.strip().splitlines()[:1]
    return f"exited {result.exit_code}" + (f" ({first[0][:120]})" if first else "")


def detect(override: str | None = None) -> ComposeCommand:
    """The compose command to use: ``override`` (or ``LAB_COMPOSE``), else v2, else v1."""
    override = override or os.environ.get("LAB_COMPOSE") or None
    return _detect_cached(" ".join(override.split()) if override else None, os.environ.get("PATH", ""))


@dataclass(frozen=True)
class ContainerInfo:
    """One container of a compose service as the engine sees it."""

    service: str
    id: str
    name: str
    status: str  # created, running, restarting, exited, paused, dead
    health: str | None  # healthy, unhealthy, starting; None when the image has no healthcheck
    last_health_output: str = ""
    exit_code: int = 0
    image: str = ""
    published: tuple[tuple[str, int], ...] = ()  # (host ip, host port) of every published port

    @property
    def ready(self) -> bool:
        return self.status == "running" and self.health in (None, "healthy")

    @property
    def state_text(self) -> str:
        text = self.status
        if self.status in ("exited", "dead"):
            text += f" (exit {self.exit_code})"
        elif self.health:
            text += f" ({self.health})"
        return text

    @classmethod
    def from_container(cls, container: Any) -> ContainerInfo:
        attrs = container.attrs
        state = attrs.get("State", {})
        health = state.get("Health") or {}
        log = health.get("Log") or []
        last = (log[-1].get("Output") or "").strip() if log else ""
        labels = attrs.get("Config", {}).get("Labels") or {}
        return cls(
            service=labels.get(SERVICE_LABEL, ""),
            id=attrs["Id"],
            name=attrs.get("Name", "").lstrip("/"),
            status=state.get("Status", "unknown"),
            health=health.get("Status"),
            last_health_output=last[-300:],
            exit_code=int(state.get("ExitCode") or 0),
            image=attrs.get("Config", {}).get("Image", ""),
            published=_published(attrs),
        )


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


def docker_client(
    base_url: str | None = None, env: Mapping[str, str] | None = None, timeout: float = SDK_TIMEOUT
) -> Any:
    """A Docker SDK client with a (scaled) timeout on every API call.

    ``base_url`` wins over ``DOCKER_HOST`` in ``env``; ``ssh://`` URLs use the ssh binary (and the
    user's ssh config), not paramiko.
    """
    import docker
    from docker.errors import DockerException

    environment = dict(os.environ if env is None else env)
    url = base_url or environment.get("DOCKER_HOST")
    try:
        if url:
            return docker.DockerClient(
                base_url=url, timeout=int(scaled(timeout)), use_ssh_client=url.startswith("ssh://")
            )
        return docker.from_env(timeout=int(scaled(timeout)), environment=environment)
    except DockerException as exc:
        raise LabError(f"Docker engine not reachable at {url or 'the default socket'}: {exc}") from None


def project_containers(client: Any, project: str) -> list[ContainerInfo]:
    """Every container (running or not) that compose made for ``project``, by its labels."""
    from docker.errors import DockerException, NotFound

    try:
        containers = client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={project}"})
    except DockerException as exc:
        raise LabError(f"cannot list containers of project {project!r}: {exc}") from None
    infos = []
    for c in containers:
        labels = c.attrs.get("Config", {}).get("Labels") or {}
        if labels.get(ONEOFF_LABEL, "False") == "True":
            continue
        try:
            infos.append(ContainerInfo.from_container(c))
        except NotFound:  # removed while we looked
            continue
    return sorted(infos, key=lambda i: (i.service, i.name))


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
            line = f"{service}: {info.state_text}"
            if info.last_health_output:
                line += f"; last healthcheck: {' '.join(info.last_health_output.split())[:200]}"
            problems.append(line)
    return problems


class Compose:
    """``docker compose``/``docker-compose`` for one project and its files."""

    def __init__(
        self,
        project: str,
        files: Sequence[Path | str],
        env: Mapping[str, str] | None = None,
        cwd: Path | str | None = None,
        *,
        command: ComposeCommand | None = None,
        override: str | None = None,
        client_factory: Callable[[], Any] | None = None,
        on_line: Callable[[str], None] | None = None,
    ):
        if not files:
            raise LabError("Compose needs at least one compose file")
        self.project = project
        self.files = [Path(f) for f in files]
        self.extra_env = dict(env or {})
        self.cwd = Path(cwd) if cwd else self.files[0].parent
        self._command = command
        self._override = override
        self._client_factory = client_factory
        self._client: Any = None
        self.on_line = on_line

    # command construction ----------------------------------------------------------------
    @property
    def command(self) -> ComposeCommand:
        if self._command is None:
            self._command = detect(self._override)
        return self._command

    @property
    def version(self) -> str:
        """ "v1 1.29.2" or "v2 2.29.7"."""
        return str(self.command)

    @property
    def env(self) -> dict[str, str]:
        merged = dict(os.environ)
        merged.update(self.extra_env)
        return merged

    def args(self, *sub: str) -> list[str]:
        """The full command line of one compose subcommand (for running and for tests)."""
        argv = [*self.command.argv, "-p", self.project]
        for f in self.files:
            argv += ["-f", str(f)]
        return argv + list(sub)

    def up_args(
        self,
        *,
        wait: bool = True,
        timeout: float = UP_TIMEOUT,
        no_build: bool = False,
        services: Sequence[str] = (),
    ) -> list[str]:
        sub = ["up", "-d", "--remove-orphans"]
        if no_build:
            sub.append("--no-build")
        if wait and self.command.major >= 2:
            sub.append("--wait")
            if self.command.at_least(2, 17):
                sub += ["--wait-timeout", str(int(scaled(timeout)))]
        return self.args(*sub, *services)

    def down_args(self, *, volumes: bool = False) -> list[str]:
        sub = ["down", "--remove-orphans"]
        if volumes:
            sub.append("--volumes")
        return self.args(*sub)

    # running -------------------------------------------------------------------------------
    def _run(self, argv: list[str], timeout: float, stream: bool = False) -> CommandResult:
        return run(
            argv,
            timeout=scaled(timeout),
            cwd=self.cwd,
            env=self.env,
            on_line=self.on_line if stream else None,
        )

    def up(
        self,
        wait: bool = True,
        timeout: float = UP_TIMEOUT,
        no_build: bool = False,
        services: Sequence[str] = (),
    ) -> CommandResult:
        """``up -d --remove-orphans``: creates what is missing, recreates what changed, keeps volumes.

        With ``wait`` it returns only when every service is running and healthy (v2: ``--wait``
        and then the same check as v1; v1: polling through the Docker SDK).
        """
        result = self._run(
            self.up_args(wait=wait, timeout=timeout, no_build=no_build, services=services),
            timeout + 60,
            stream=True,
        )
        if not result.ok:
            report = ""
            try:
                problems = health_report(self.ps_list(), services or self.services())
                report = "\nservices: " + "; ".join(problems) if problems else ""
            except LabError:
                pass
            raise LabError(
                f"compose up failed ({self.version}, project {self.project}): "
                f"{'timed out' if result.timed_out else f'exit {result.exit_code}'}\n"
                f"{result.tail()}{report}"
            )
        if wait:
            self.wait_healthy(timeout=timeout, services=services)
        return result

    def down(self, volumes: bool = False, timeout: float = DOWN_TIMEOUT) -> CommandResult:
        """Stop and remove the project's containers and networks; volumes only when asked."""
        return self._run(self.down_args(volumes=volumes), timeout, stream=True).check("compose down")

    def config(self) -> dict[str, Any]:
        """The merged, interpolated configuration compose would use."""
        result = self._run(self.args("config"), CONFIG_TIMEOUT).check("compose config")
        data = yaml.safe_load(result.output)
        if not isinstance(data, dict):
            raise LabError(f"compose config printed no mapping: {result.tail(5)}")
        return data

    def services(self) -> list[str]:
        result = self._run(self.args("config", "--services"), CONFIG_TIMEOUT).check(
            "compose config --services"
        )
        return [line.strip() for line in result.output.splitlines() if re.fullmatch(r"[\w.-]+", line.strip())]

    # state via the Docker SDK ---------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._client_factory() if self._client_factory else docker_client(env=self.env)
        return self._client

    def ps_list(self) -> list[ContainerInfo]:
        return project_containers(self.client, self.project)

    def ps(self) -> dict[str, ContainerInfo]:
        """Service -> its container (the first one when a service is scaled)."""
        out: dict[str, ContainerInfo] = {}
        for info in self.ps_list():
            out.setdefault(info.service, info)
        return out

    def wait_healthy(
        self,
        timeout: float = UP_TIMEOUT,
        services: Sequence[str] = (),
        on_progress: Callable[[int, int, list[str]], None] | None = None,
    ) -> dict[str, ContainerInfo]:
        """Wait until every service has a running container whose healthcheck (if any) passes.

        ``on_progress(ready, total, problems)`` is called after each look (for a progress display).
        """
        expected = list(services) or self.services()

        def check() -> dict[str, ContainerInfo]:
            infos = self.ps_list()
            problems = health_report(infos, expected)
            if on_progress is not None:
                waiting = {p.split(":", 1)[0] for p in problems}
                on_progress(len(set(expected) - waiting), len(expected), problems)
            if problems:
                raise NotYet("; ".join(problems))
            return {i.service: i for i in infos}

        try:
            return eventually(
                check,
                timeout=timeout,
                interval=2.0,
                describe=f"services of {self.project} to be running and healthy",
            )
        except WaitTimeout as exc:
            raise LabError(f"services not healthy after {exc.timeout:.0f}s: {exc.last_observation}") from None

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            finally:
                self._client = None
