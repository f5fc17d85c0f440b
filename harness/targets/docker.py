"""The ``docker`` target: the lab on the local Docker engine, deployed with compose.

Deploy goes through :mod:`harness.deploy` (files, env, image source) and :class:`harness.compose.Compose`
(v1 or v2). Service control for failure scenarios goes through the Docker SDK, finding containers by
the labels compose puts on them, so it works the same whichever compose made them — and, through
:class:`EngineControl`, for any engine that runs the lab (the existing target; the VM later).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from rich.markup import escape

from harness import deploy, evidence, images
from harness.compose import (
    PROJECT_LABEL,
    SERVICE_LABEL,
    Compose,
    ContainerInfo,
    docker_client,
    health_report,
    project_containers,
)
from harness.config import LabConfig
from harness.errors import LabError
from harness.progress import Display
from harness.targets.base import Endpoints, EngineBackedTarget, ExecResult
from harness.waiting import NotYet, eventually

WAIT_TIMEOUT = 300.0  # cold start of every service on a 2-core host


class ContainerViews:
    """What service control derives from one listing of the project's containers (``infos()``)."""

    def infos(self) -> list[ContainerInfo]:
        raise NotImplementedError

    def container_ids(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for info in self.infos():
            out.setdefault(info.service, info.id)
        return out

    def status(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for info in self.infos():
            out.setdefault(info.service, info.state_text)
        return out

    def published_ports(self) -> dict[str, set[int]]:
        out: dict[str, set[int]] = {}
        for info in self.infos():
            out.setdefault(info.service, set()).update(port for _, port in info.published)
        return out


class EngineControl(ContainerViews):
    """restart/stop/start/exec of one compose project's services in one Docker engine, by labels."""

    def __init__(self, client_factory: Callable[[], Any], project: str, where: str = "the local engine"):
        self._factory = client_factory
        self._client: Any = None
        self.project = project
        self.where = where

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._factory()
        return self._client

    def ping(self) -> str:
        """The engine's version; LabError when it does not answer."""
        from docker.errors import DockerException

        try:
            return str(self.client.version().get("Version", "?"))
        except (DockerException, OSError) as exc:
            raise LabError(f"Docker engine at {self.where} does not answer: {exc}") from None

    def infos(self) -> list[ContainerInfo]:
        return project_containers(self.client, self.project)

    def container(self, service: str) -> Any:
        """The service's container (a running one first); LabError naming the services that exist."""
        from docker.errors import DockerException

        try:
            found = self.client.containers.list(
                all=True, filters={"label": [f"{PROJECT_LABEL}={self.project}", f"{SERVICE_LABEL}={service}"]}
            )
        except DockerException as exc:
            raise LabError(f"cannot list containers at {self.where}: {exc}") from None
        if not found:
            known = sorted({i.service for i in self.infos()})
            raise LabError(
                f"no container for service {service!r} of project {self.project!r} at {self.where}"
                f" (services there: {', '.join(known) or 'none'})"
            )
        found.sort(key=lambda c: (c.status != "running", c.name))
        return found[0]

    def _act(self, verb: str, service: str, action: Callable[[Any], None]) -> None:
        from docker.errors import DockerException

        container = self.container(service)
        started = time.monotonic()
        try:
            action(container)
        except DockerException as exc:
            evidence.attach("docker", f"{verb} {service}", container=container.short_id, error=str(exc))
            raise LabError(f"{verb} {service} ({container.short_id}) at {self.where} failed: {exc}") from None
        evidence.attach(
            "docker",
            f"{verb} {service}",
            container=container.short_id,
            duration_s=round(time.monotonic() - started, 2),
        )

    # The container's own stop timeout applies (compose's stop_grace_period; engine default 10 s).
    def restart(self, service: str) -> None:
        self._act("restart", service, lambda c: c.restart())

    def stop(self, service: str) -> None:
        self._act("stop", service, lambda c: c.stop())

    def start(self, service: str) -> None:
        self._act("start", service, lambda c: c.start())

    def exec(self, service: str, command: list[str], user: str | None = None) -> ExecResult:
        from docker.errors import DockerException

        container = self.container(service)
        started = time.monotonic()
        try:
            kwargs: dict[str, Any] = {"demux": False}
            if user:
                kwargs["user"] = user
            code, output = container.exec_run(command, **kwargs)
        except DockerException as exc:
            raise LabError(f"exec in {service} ({container.short_id}) failed: {exc}") from None
        text = (output or b"").decode("utf-8", "replace")
        exit_code = int(code) if code is not None else -1
        evidence.attach(
            "command",
            f"exec {service}: {' '.join(command)}",
            exit_code=exit_code,
            duration_s=round(time.monotonic() - started, 2),
            output=evidence.trim(text),
        )
        return ExecResult(exit_code=exit_code, output=text)


    def published_address(self, default: str = "127.0.0.1") -> str:
        """The one host address ports are bound to (a wildcard bind is reached on loopback)."""
        addresses = {ip for info in self.infos() for ip, _ in info.published}
        addresses = {"127.0.0.1" if ip in ("0.0.0.0", "", "::") else ip for ip in addresses}
        return addresses.pop() if len(addresses) == 1 else default

    def remove_volumes(self) -> list[str]:
        """Remove every volume labelled with the project (after ``down``: none is in use)."""
        from docker.errors import DockerException

        removed = []
        try:
            for volume in self.client.volumes.list(filters={"label": f"{PROJECT_LABEL}={self.project}"}):
                volume.remove(force=True)
                removed.append(volume.name)
        except DockerException as exc:
            raise LabError(f"cannot remove the volumes of project {self.project!r}: {exc}") from None
        if removed:
            evidence.attach("docker", f"remove volumes of {self.project}", volumes=removed)
        return removed

    def wait_running(self, service: str, timeout: float = 60.0) -> ContainerInfo:
        """Until the service's container runs and its healthcheck (if any) passes."""

        def check() -> ContainerInfo:
            infos = [i for i in self.infos() if i.service == service]
            problems = health_report(infos, [service])
            if problems:
                raise NotYet("; ".join(problems))
            return infos[0]

        return eventually(
            check, timeout=timeout, interval=1.0, describe=f"{service} to be running and healthy"
        )

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            finally:
                self._client = None


class DockerTarget(EngineBackedTarget):
    """The lab on the local Docker engine (``DOCKER_HOST`` or the default socket)."""

    name = "docker"

    @property
    def host(self) -> str:
        """Where the published ports are reached: ``LAB_BIND_ADDRESS`` (the compose files bind to it,
        default 127.0.0.1); a wildcard bind is reached on loopback."""
        bind = os.environ.get("LAB_BIND_ADDRESS", "").strip()
        return "127.0.0.1" if bind in ("", "0.0.0.0", "::") else bind

    def __init__(
        self, config: LabConfig, display: Display | None = None, plan: deploy.DeployPlan | None = None
    ):
        super().__init__(config, display)
        self._plan = plan
        self._plan_given = plan is not None
        self._compose: Compose | None = None
        self.control = EngineControl(lambda: docker_client(), config.project, where="the local Docker engine")

    @property
    def engine(self) -> EngineControl:
        return self.control

    # deploy ----------------------------------------------------------------------------------
    def plan(self) -> deploy.DeployPlan:
        """Files, env and image source for this deploy (image source checked against the engine)."""
        if self._plan is None:
            present = images.present_tags(self.control.client)
            self._plan = deploy.plan(self.config, present)
        return self._plan

    def compose(self) -> Compose:
        if self._compose is None:
            self._compose = self.plan().compose(
                override=self.config.compose_command, on_line=self._compose_line
            )
        return self._compose

    def _wait_progress(self, ready: int, total: int, problems: list[str]) -> None:
        first = f" — {problems[0]}" if problems else ""
        self.display.update(escape(f"waiting: {ready}/{total} services healthy{first[:90]}"))

    def _compose_line(self, line: str) -> None:
        if line.strip():
            self.display.detail(line)

    def up(self, wait_timeout: float = WAIT_TIMEOUT) -> None:
        """Build missing local images, ``compose up`` (keeps volumes, recreates only what changed),
        and wait until every service is running and healthy."""
        plan = self.plan()
        self.display.info(str(plan.images))
        if not self._plan_given:
            self._ensure_images(plan)
        compose = self.compose()
        files = " ".join(f"-f {f.name}" for f in plan.files)
        with self.display.phase(f"compose up ({compose.version}, project {plan.project}, {files})"):
            compose.up(wait=False, no_build=plan.image_source == "local")
        with self.display.phase("waiting for every service to be running and healthy"):
            compose.wait_healthy(timeout=wait_timeout, on_progress=self._wait_progress)
        for service, state in sorted(self.status().items()):
            self.display.detail(f"{service:<15} {state}")

    def _ensure_images(self, plan: deploy.DeployPlan) -> None:
        wanted = list(plan.images.missing)
        binary = self.config.repo_root / images.HEALTHCHECK_BINARY
        if not binary.is_file() and any("lab-healthcheck" in f.read_text() for f in plan.files):
            wanted.insert(0, "healthcheck")
        if not wanted:
            return
        images.build(wanted, display=self.display, repo_root=self.config.repo_root)
        if plan.image_source == "local":
            still = images.missing_local_images(plan.stores, images.present_tags(self.control.client))
            if still:
                raise LabError(
                    f"after the build, still missing: {', '.join(sorted(still.values()))} "
                    "(see `lab images build` output)"
                )
        if not binary.is_file() and "healthcheck" in wanted:
            raise LabError(
                f"{images.HEALTHCHECK_BINARY} was not built (Go is needed: see stack/images/build.sh)"
            )

    def down(self, volumes: bool = False) -> None:
        """Remove the project's containers and networks (volumes only with ``volumes=True``)."""
        compose = self._compose or deploy.DeployPlan(
            project=self.config.project,
            stores=self.config.stores,
            images=deploy.ImageSource("registry", "down"),
            files=deploy.compose_files(self.config.stack_dir, self.config.stores, "registry"),
            env=deploy.compose_env(self.config, deploy.secret_values(self.config)),
            stack_dir=self.config.stack_dir,
        ).compose(override=self.config.compose_command, on_line=self._compose_line)
        what = "containers, networks and volumes" if volumes else "containers and networks (volumes kept)"
        with self.display.phase(f"compose down ({compose.version}, project {self.config.project}): {what}"):
            compose.down(volumes=volumes)
            if volumes:
                self.control.remove_volumes()  # also those of a store set these files do not name

    def status(self) -> dict[str, str]:
        return self.control.status()

    def endpoints(self) -> Endpoints:
        return Endpoints.for_host(self.host, self.name, self.config.stores)

    # service control -------------------------------------------------------------------------







    def published_address(self) -> str:
        return self.control.published_address(self.host)

    def testinfra_host(self, service: str | None = None) -> str:
        """``docker://<id>`` for a service's container; ``local://`` for the host itself."""
        if service is None:
            return "local://"
        return f"docker://{self.control.container(service).id}"

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset({"control", "deploy", "containers"})

    def close(self) -> None:
        if self._compose is not None:
            self._compose.close()
        self.control.close()
