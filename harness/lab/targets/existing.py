"""The ``existing`` target: a lab that already runs somewhere; the harness only looks at it.

Where it is comes from ``LAB_HOST`` (the catalogue's documented ports on that host) or from a file
written by ``lab endpoints --json``. ``up``/``down`` deploy and remove nothing — ``up`` checks that
every service answers its readiness path. It never deploys and never owns the lab; failure
scenarios need service control, which exists only when ``LAB_DOCKER_HOST`` names the engine that
runs the lab (``ssh://user@host`` or a socket) and that engine answers. What it lacks is said by
:meth:`ExistingTarget.lacks` (from the config, when the run is collected) and
:meth:`ExistingTarget.why_not` (once it has asked the engine), and the scenarios that need it are
skipped with that reason.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.base import services
from harness.base.config import STORE_SETS, LabConfig
from harness.base.errors import ConfigError, LabError
from harness.base.http import session
from harness.base.progress import Display
from harness.base.waiting import NotYet, WaitTimeout, eventually
from harness.lab.engine import Engine, SdkEngine, ServiceState, docker_client
from harness.lab.targets.base import CONTAINERS, CONTROL, DEPLOY, OWNS_LAB, Endpoints, NotSupported, Target

REACH_TIMEOUT = 30.0
NO_DOCKER_HOST = ("no LAB_DOCKER_HOST: restart/stop/start/exec need the Docker engine that runs the existing "
                  "lab (e.g. LAB_DOCKER_HOST=ssh://user@host)")


def endpoints_from_file(path: Path) -> Endpoints:
    """Read a ``lab endpoints --json`` file (ConfigError naming what is missing)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"endpoints file {path}: cannot read JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"endpoints file {path}: expected one JSON object as `lab endpoints --json` prints")
    stores = data.get("stores", STORE_SETS[0])
    if stores not in STORE_SETS:
        raise ConfigError(f"endpoints file {path}: stores={stores!r} is not one of {', '.join(STORE_SETS)}")
    required = services.required_endpoints(stores)
    missing = [k for k in required if not data.get(k)]
    if missing:
        raise ConfigError(f"endpoints file {path}: missing {', '.join(missing)}")
    optional = [k for k in services.endpoint_keys() if k not in required and data.get(k)]
    return Endpoints(target=ExistingTarget.name, stores=stores,
                     **{k: str(data[k]).rstrip("/") for k in (*required, *optional)})


class ExistingTarget(Target):
    name = "existing"
    CAPABLE_OF = frozenset({CONTROL, CONTAINERS})  # through LAB_DOCKER_HOST only
    auto_rank = 0

    def __init__(self, config: LabConfig, display: Display | None = None):
        self.check(config)
        if config.endpoints_file is not None:
            self._endpoints = endpoints_from_file(config.endpoints_file)
            config = config.with_(stores=self._endpoints.stores)  # the file says what runs there
        else:
            scheme, host = config.lab_address or ("http", "")
            self._endpoints = Endpoints.for_host(host, self.name, config.stores, scheme=scheme)
        super().__init__(config, display)
        self.control: SdkEngine | None = None
        self._control_reason: str | None = None
        if config.docker_host:
            url = config.docker_host
            self.control = SdkEngine(config.project, lambda: docker_client(base_url=url), where=url)

    # what runs there -------------------------------------------------------------------------
    def endpoints(self) -> Endpoints:
        return self._endpoints

    def reachability(self) -> dict[str, ServiceState]:
        """Service -> reachable/unreachable, probing each service's readiness path once."""
        urls = self._endpoints.to_dict()
        out: dict[str, ServiceState] = {}
        with session(timeout=5.0) as http:
            for key, service in services.endpoint_services(self.config.stores).items():
                base = urls.get(key)
                if not base:
                    continue
                url = base + service.ready_path
                try:
                    response = http.get(url, allow_redirects=False)
                except OSError as exc:  # requests' errors are OSErrors
                    out[service.name] = ServiceState("unreachable", detail=f"({type(exc).__name__} at {url})")
                    continue
                status = "reachable" if response.status_code < 500 else "answering-errors"
                out[service.name] = ServiceState(status, detail=f"(HTTP {response.status_code} from {url})")
        return out

    def up(self) -> None:
        """Deploys nothing (the lab is not ours); waits until every documented endpoint answers."""
        self.display.info(
            f"target existing: nothing is deployed; checking that the lab at "
            f"{self._endpoints.frontend} answers"
        )

        def check() -> dict[str, ServiceState]:
            seen = self.reachability()
            bad = {k: v for k, v in seen.items() if not v.running}
            if bad:
                raise NotYet("; ".join(f"{k}: {v}" for k, v in bad.items()))
            return seen

        with self.display.phase("checking every endpoint answers"):
            try:
                eventually(check, timeout=REACH_TIMEOUT, interval=2.0, describe="the existing lab to answer")
            except WaitTimeout as exc:
                raise LabError(f"the existing lab does not answer: {exc.last_observation}") from None

    def down(self, volumes: bool = False) -> None:
        """Removes nothing: an existing lab is not ours to take down."""
        self.display.info(
            "target existing: down removes nothing (the lab was not deployed by this harness)"
            + ("; --volumes ignored" if volumes else "")
        )

    def status(self) -> dict[str, ServiceState]:
        if self._control_ok():
            assert self.control is not None
            return self.control.states()
        return self.reachability()

    def is_running(self) -> bool:
        """Whether every service answers; a run never destroys an existing lab either way (it is
        not ours), see :class:`harness.lab.lifecycle.LabLifecycle`."""
        states = self.reachability()
        return bool(states) and all(s.running for s in states.values())

    # control, when the engine is reachable ----------------------------------------------------
    def _control_ok(self) -> bool:
        if self.control is None:
            self._control_reason = NO_DOCKER_HOST
            return False
        if self._control_reason is None:
            try:
                self.control.ping()
                if not self.control.infos():
                    self._control_reason = (
                        f"no containers of project {self.config.project!r} on "
                        f"{self.control.where} (set LAB_PROJECT to the lab's project)"
                    )
                else:
                    self._control_reason = ""
            except LabError as exc:
                self._control_reason = str(exc)
        return self._control_reason == ""

    @property
    def engine(self) -> Engine:
        """Service control, only when ``LAB_DOCKER_HOST`` reaches the engine that runs the lab."""
        if not self._control_ok() or self.control is None:
            raise NotSupported(f"target existing cannot control services: {self._control_reason}")
        return self.control

    @classmethod
    def usable(cls, config: LabConfig) -> tuple[bool, str]:
        """When LAB_HOST or LAB_ENDPOINTS_FILE names a lab, that lab: first of all."""
        if config.lab_host:
            return True, f"LAB_HOST={config.lab_host} names a lab that already runs"
        if config.endpoints_file:
            return True, f"LAB_ENDPOINTS_FILE={config.endpoints_file} names a lab that already runs"
        return False, ""

    @classmethod
    def check(cls, config: LabConfig) -> None:
        if not (config.lab_host or config.endpoints_file):
            raise ConfigError("target 'existing' needs the lab's address: set LAB_HOST (or --lab-host) "
                              "or LAB_ENDPOINTS_FILE (a `lab endpoints --json` file)")

    @classmethod
    def declared(cls, config: LabConfig) -> frozenset[str]:
        """Control with ``LAB_DOCKER_HOST``; looking inside containers only when that engine is this
        machine's (testinfra runs the docker CLI here); never deploy, never own the lab."""
        if not config.docker_host:
            return frozenset()
        return cls.CAPABLE_OF if _local_engine(config.docker_host) else frozenset({CONTROL})

    @classmethod
    def lacks(cls, config: LabConfig, capability: str) -> str | None:
        if capability in cls.declared(config):
            return None
        if capability in (CONTROL, CONTAINERS) and not config.docker_host:
            return f"target existing: {NO_DOCKER_HOST}"
        if capability == CONTAINERS:
            return (f"target existing: looking inside a container needs LAB_DOCKER_HOST to be this "
                    f"machine's engine (unix://...), not {config.docker_host}")
        if capability == DEPLOY:
            return "target existing: the lab already runs; the harness does not deploy it"
        if capability == OWNS_LAB:
            return "target existing: the lab is not the harness's; it is never destroyed or taken down"
        return super().lacks(config, capability)

    @property
    def capabilities(self) -> frozenset[str]:
        """What the config allows, once the engine of ``LAB_DOCKER_HOST`` has answered with the lab's
        containers."""
        declared = self.declared(self.config)
        return declared if declared and self._control_ok() else frozenset()

    def why_not(self, capability: str) -> str | None:
        if capability in self.capabilities:
            return None
        if capability in self.declared(self.config):  # the config allows it; the engine did not answer
            return f"target existing: {self._control_reason}"
        return self.lacks(self.config, capability)

    def testinfra_host(self, service: str | None = None) -> str:
        """``docker://`` only when the lab's engine is this machine's (testinfra runs the docker CLI)."""
        if service is None:
            raise NotSupported(f"target existing: no testinfra backend for the host of "
                               f"{self._endpoints.frontend}")
        if CONTAINERS not in self.capabilities:
            raise NotSupported(self.why_not(CONTAINERS) or "target existing: no testinfra backend")
        return f"docker://{self.engine.container(service).id}"

    def close(self) -> None:
        if self.control is not None:
            self.control.close()

    def __repr__(self) -> str:
        return f"ExistingTarget({self._endpoints.frontend})"


def _local_engine(url: str) -> bool:
    return url.startswith("unix://") or url.startswith("/")
