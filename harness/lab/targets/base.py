"""What every target offers: bring the lab up, say where it is, and control one service.

A target is *what hosts* the stack: the local Docker engine, a libvirt VM made by Vagrant, or a
lab that already runs. *Where its containers run* is an :class:`harness.lab.engine.Engine`; how compose
is run there is a :class:`harness.lab.runner.Runner`. :class:`DeployingTarget` is the one up/down path
for the targets that deploy (docker, vagrant): they differ only in what they prepare first (images
here; a VM, files and images there) and in their engine and runner. Scenarios talk only to
:class:`Target`, so a new target adds a class and one line in
:data:`harness.base.options.TARGET_CLASSES`, nothing else.

What a target can do is declared, never inferred from its name: :data:`CAPABILITIES` are the
questions the harness asks (may a run destroy the lab? can it restart a service, deploy again, give
a root shell on the host of the containers?). A class declares what it can do (:attr:`Target.
CAPABLE_OF`, narrowed by the config in :meth:`Target.declared`) and an instance says what it can
do now (:attr:`Target.capabilities`) and why not (:meth:`Target.why_not`): the scenarios' needs are
checked against them before a scenario runs (:mod:`harness.bdd.scenario`), so a target's limit is a
skip with its reason, not a :class:`NotSupported` traceback.
"""

from __future__ import annotations

import abc
from dataclasses import asdict, dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar, Final

from harness.base import evidence, services
from harness.base.config import LabConfig
from harness.base.errors import LabError
from harness.base.progress import Display
from harness.lab import deploy
from harness.lab.compose import Compose
from harness.lab.engine import WAIT_TIMEOUT, Engine, ExecResult, SdkEngine, ServiceState
from harness.lab.runner import Runner
from harness.lab.targets.shell import HostShell

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

__all__ = ["CAPABILITIES", "DeployingTarget", "Endpoints", "ExecResult", "NotSupported", "Target"]

SERVICES = services.SERVICE_NAMES

# What a target may be able to do: each a question a scenario, a command or a fault asks, and how a
# skip reason says it ("target T cannot <text>").
CONTROL: Final = "control"
CONTAINERS: Final = "containers"
DEPLOY: Final = "deploy"
OWNS_LAB: Final = "owns_lab"
VM: Final = "vm"
HOST_SHELL: Final = "host_shell"
LOCAL: Final = "local"
CAPABILITIES: Final[Mapping[str, str]] = MappingProxyType({
    CONTROL: "restart, stop and start the lab's services and see their containers",
    CONTAINERS: "look inside a service's container (its processes and files)",
    DEPLOY: "deploy the lab itself (deploy it again, recreate or replace a service)",
    OWNS_LAB: "own the lab it reaches (destroy it after a run, take it down with `lab down`)",
    VM: "run the lab in a VM",
    HOST_SHELL: "run a command as root on the host of the lab's containers",
    LOCAL: "run the lab's containers on this machine's Docker engine",
})


@dataclass(frozen=True)
class Endpoints:
    """Base URLs of the lab as seen from the harness (no trailing slash). The URL fields are the
    catalogue's endpoint keys (:func:`harness.base.services.endpoint_keys`; a test keeps them equal)."""

    target: str
    stores: str
    frontend: str
    backend: str
    prometheus: str
    traces: str  # query API base of the trace store (Jaeger query or Tempo)
    logs: str  # query API base of the log store (VictoriaLogs or Loki)
    collector_health: str
    grafana: str | None = None  # absent when the store set has none
    collector_metrics: str | None = None  # the collector's own metrics (:8888); absent in old endpoints files
    agent_metrics: str | None = None  # split topology: the app host's collector agent's own metrics

    def to_dict(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def for_host(cls, host: str, target: str, stores: str, scheme: str = "http",
                 port_offset: int = 0, topology: str = "single") -> Endpoints:
        """The catalogue's documented ports on one host (moved by ``port_offset``: a VM's forwarded
        ports)."""
        urls: Mapping[str, str] = {
            key: f"{scheme}://{host}:{service.port + port_offset}"
            for key, service in services.endpoint_services(stores, topology).items()
            if service.port is not None
        }
        urls.update({key: f"{scheme}://{host}:{port + port_offset}"
                     for key, port in services.more_endpoints(stores).items()})
        return cls(target=target, stores=stores, **urls)  # type: ignore[arg-type]


class NotSupported(LabError):
    """The target cannot do this (e.g. service control on an existing lab with no engine access)."""


class Target(abc.ABC):
    """One place the lab runs. Subclasses must keep every call bounded in time."""

    name: ClassVar[str] = "abstract"
    CAPABLE_OF: ClassVar[frozenset[str]] = frozenset()  # what a target of this class can do at most
    auto_rank: ClassVar[int | None] = None  # its turn when `auto` chooses (lowest first); None: never

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
    def status(self) -> dict[str, ServiceState]:
        """Service name -> its state, for `lab status` and the waits after a restart."""

    def is_running(self) -> bool:
        """True when every service it knows of already runs (a run will reuse the lab)."""
        states = self.status()
        return bool(states) and all(s.running for s in states.values())

    @abc.abstractmethod
    def endpoints(self) -> Endpoints: ...

    # service control (failure scenarios) --------------------------------------------------------
    @property
    def engine(self) -> Engine:
        raise NotSupported(self.why_not(CONTROL) or f"target {self.name} has no engine")

    def restart(self, service: str) -> None:
        self.engine.restart(service)

    def stop(self, service: str) -> None:
        self.engine.stop(service)

    def start(self, service: str) -> None:
        self.engine.start(service)

    def exec(self, service: str, command: list[str]) -> ExecResult:
        return self.engine.exec(service, command)

    def recreate(self, service: str, timeout: float = 120.0) -> None:
        """A new container for ``service`` in place of the old one, as an upgrade does."""
        raise NotSupported(self.why_not(DEPLOY) or f"target {self.name} cannot recreate {service}")

    def replace(self, service: str, timeout: float = 120.0) -> None:
        """Recreate ``service`` so that its new container comes up at another address."""
        raise NotSupported(self.why_not(DEPLOY) or f"target {self.name} cannot replace {service}")

    def container_ids(self) -> dict[str, str]:
        """Service name -> container id; a second deploy that recreates nothing keeps these."""
        return self.engine.container_ids()

    def wait_healthy(self, service: str, timeout: float = 60.0) -> None:
        """After a restart/start: until that service is running and healthy again."""
        self.engine.wait_running(service, timeout)

    def published_ports(self) -> dict[str, set[int]]:
        """Service -> host ports it publishes (for the "only documented ports" check)."""
        return self.engine.published_ports()

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
        raise NotSupported(self.why_not(CONTAINERS) or f"target {self.name} has no testinfra backend")

    def host_shell(self) -> HostShell:
        """A root shell on the host that runs the lab's containers (network faults use it)."""
        raise NotSupported(self.why_not(HOST_SHELL) or f"target {self.name} gives no host shell")

    # what it can do ------------------------------------------------------------------------------
    @classmethod
    def usable(cls, config: LabConfig) -> tuple[bool, str]:
        """Whether ``auto`` may choose this target here, and why (or why not; "" says nothing)."""
        return False, ""

    @classmethod
    def check(cls, config: LabConfig) -> None:
        """Refuse a config this target cannot work with (ConfigError, one line), before it is made;
        by default every config will do."""
        return None

    @classmethod
    def declared(cls, config: LabConfig) -> frozenset[str]:
        """What a target of this class made from ``config`` can do, as far as the config tells —
        before it is made or reaches anything (the skips decided when the run is collected)."""
        return cls.CAPABLE_OF

    @classmethod
    def lacks(cls, config: LabConfig, capability: str) -> str | None:
        """Why a target of this class made from ``config`` cannot do ``capability`` (a skip reason),
        or None when, as far as the config tells, it can."""
        if capability in cls.declared(config):
            return None
        return f"target {cls.name} cannot {CAPABILITIES.get(capability, capability)}"

    @property
    def capabilities(self) -> frozenset[str]:
        """What this target can do now (:data:`CAPABILITIES`)."""
        return self.declared(self.config)

    def why_not(self, capability: str) -> str | None:
        """Why this target cannot do ``capability`` now (the skip reason), or None when it can."""
        if capability in self.capabilities:
            return None
        return self.lacks(self.config, capability) or (
            f"target {self.name} cannot {CAPABILITIES.get(capability, capability)} now")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients; default nothing."""


class DeployingTarget(Target):
    """A target that deploys the stack itself: a plan, what must be in place first
    (:meth:`prepare`), compose through :meth:`runner`, health through :attr:`engine` — the same
    :class:`harness.lab.deploy.Deployment` for all of them."""

    where_suffix = ""  # " in the VM": in phase titles
    CAPABLE_OF: ClassVar[frozenset[str]] = frozenset({CONTROL, CONTAINERS, DEPLOY, OWNS_LAB, HOST_SHELL})

    def __init__(self, config: LabConfig, display: Display | None = None):
        super().__init__(config, display)
        self._plan: deploy.DeployPlan | None = None
        self._local: SdkEngine | None = None
        self.deployment: deploy.Deployment | None = None

    @property
    def local_engine(self) -> SdkEngine:
        """This machine's engine (where local images are built, whatever the target)."""
        if self._local is None:
            self._local = SdkEngine(self.config.project, where="the local Docker engine")
        return self._local

    def plan(self) -> deploy.DeployPlan:
        """Files, env and image source (local images are checked against this machine's engine)."""
        if self._plan is None:
            try:
                present: set[str] | None = set(self.local_engine.image_ids())
            except LabError:
                present = None  # no local engine: registry images
            mirror = deploy.mirror_host(self.config.registry_mirror) or "docker.io"
            self._plan = deploy.plan(
                self.config, present,
                registry=lambda: self.local_engine.registry_answers(f"{mirror}/library/busybox:stable"),
            )
        return self._plan

    @abc.abstractmethod
    def runner(self, plan: deploy.DeployPlan) -> Runner:
        """Where compose runs for this target (with the plan's variables)."""

    @abc.abstractmethod
    def compose_files(self, plan: deploy.DeployPlan) -> list[str]:
        """The plan's files as compose on the runner's host names them."""

    @abc.abstractmethod
    def prepare(self, plan: deploy.DeployPlan) -> None:
        """Everything compose up needs first (images, a VM, files)."""

    def compose(self, plan: deploy.DeployPlan | None = None) -> Compose:
        plan = plan or self.plan()
        return Compose(plan.project, self.compose_files(plan), self.runner(plan),
                       override=self.config.compose_command, on_line=self._compose_line)

    def _compose_line(self, line: str) -> None:
        if line.strip():
            self.display.detail(line)

    def up(self, wait_timeout: float = WAIT_TIMEOUT) -> None:
        """Prepare, ``compose up`` (keeps volumes, recreates only what changed), wait until every
        service is running and healthy."""
        plan = self.plan()
        self.display.info(str(plan.images))
        self.prepare(plan)
        self.deployment = deploy.Deployment(self.compose(plan), self.engine, self.display, self.where_suffix)
        self.deployment.up(plan, wait_timeout=wait_timeout)

    def recreate(self, service: str, timeout: float = 120.0) -> None:
        """``compose up --no-deps --force-recreate SERVICE`` (what a changed image or config does),
        then wait until the new container is running and healthy."""
        plan = self.plan()
        before = self.engine.container(service).id
        self.compose(plan).up(no_build=plan.image_source == "local", services=[service], force_recreate=True)
        after = self.engine.wait_running(service, timeout).id
        if after == before:
            raise LabError(f"compose up --force-recreate {service} kept container {before[:12]}")
        evidence.attach("docker", f"recreate {service}", before=before[:12], after=after[:12])

    def replace(self, service: str, timeout: float = 120.0) -> None:
        """Recreate ``service`` so that its new container has another address, as on a busy host
        where the old address is taken while the upgrade runs: stop the old container, let a
        placeholder (a one-off ``compose run`` of the same image, no ports published, sleeping a
        minute) take the address it left, then ``up --force-recreate``. The addresses are checked,
        not assumed (the engine gives out the lowest free one)."""
        plan = self.plan()
        compose = self.compose(plan)
        old = self.engine.container(service)
        old_addresses = _addresses(self.engine, old.id)
        self.engine.stop(service)
        held: set[str] = set()
        for _ in range(4):  # lower free addresses are taken first; a few placeholders reach the old one
            compose.run_detached(service, entrypoint="sleep", command=["60"])
            held = {a for info in self.engine.inspect_project() if _is_placeholder(info, service)
                    for a in _addresses_of(info)}
            if old_addresses & held:
                break
        compose.up(no_build=plan.image_source == "local", services=[service], force_recreate=True)
        new = self.engine.wait_running(service, timeout)
        new_addresses = _addresses(self.engine, new.id)
        if new_addresses & old_addresses:
            raise LabError(f"the new {service} container has the old address {sorted(new_addresses)} "
                           f"(placeholders held {sorted(held)})")
        evidence.attach("docker", f"replace {service} at a new address", old=old.id[:12], new=new.id[:12],
                        old_addresses=sorted(old_addresses), new_addresses=sorted(new_addresses))

    def down(self, volumes: bool = False) -> None:
        """Remove the project's containers and networks (volumes only with ``volumes=True``)."""
        plan = self._plan or deploy.down_plan(self.config)
        deploy.Deployment(self.compose(plan), self.engine, self.display, self.where_suffix).down(volumes)

    def status(self) -> dict[str, ServiceState]:
        return self.engine.states()

    def close(self) -> None:
        if self._local is not None:
            self._local.close()


def _addresses_of(attrs: Mapping[str, Any]) -> set[str]:
    networks = ((attrs.get("NetworkSettings") or {}).get("Networks") or {}).values()
    return {n["IPAddress"] for n in networks if n.get("IPAddress")}


def _addresses(engine: Engine, container_id: str) -> set[str]:
    return next((_addresses_of(a) for a in engine.inspect_project() if a.get("Id") == container_id), set())


def _is_placeholder(attrs: Mapping[str, Any], service: str) -> bool:
    from harness.lab.engine.model import ONEOFF_LABEL, SERVICE_LABEL

    labels = (attrs.get("Config") or {}).get("Labels") or {}
    return labels.get(ONEOFF_LABEL) == "True" and labels.get(SERVICE_LABEL) == service
