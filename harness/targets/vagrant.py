"""The ``vagrant`` target: the lab in a libvirt VM made by the repository's Vagrantfile, deployed
over SSH.

``up``: the box (built here by ``provision/box/build.sh`` when it is missing) → ``vagrant up lab``
(or reuse of a running VM whose configuration is unchanged; ``provision`` or ``reload`` when it
changed) → rsync of ``app/`` and ``stack/`` into the ``deploy`` user's home on the VM → images
(``docker save | ssh docker load`` of the ``lab/*:local`` images whose ID differs in the VM; pulled
in the VM when the image source is ``registry``) → compose in the VM with the same files, variables
and volume-keeping ``up`` as the docker target → wait until every container is healthy.

The harness reaches the services through the ports the Vagrantfile forwards to 127.0.0.1 (offset
``LAB_VM_PORT_OFFSET``); ``LAB_HOST`` (or ``LAB_VM_FORWARD_PORTS=0``) uses the VM's address instead.
Service control runs the Docker CLI in the VM over SSH (:class:`SshEngine`). Names and defaults
of the VM (box, address, port offset, domain prefix) mirror ``docs/adr/0002-vagrant-vms.md``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import yaml
from rich.markup import escape

from harness import deploy, evidence, images
from harness.compose import (
    ONEOFF_LABEL,
    PROJECT_LABEL,
    Compose,
    ComposeCommand,
    ContainerInfo,
    health_report,
    parse_version_output,
)
from harness.config import LabConfig
from harness.errors import ConfigError, LabError
from harness.progress import Display, run
from harness.remote import Remote, images_to_send, local_image_ids, remote_image_ids, ssh_options
from harness.targets.base import Endpoints, EngineBackedTarget, ExecResult
from harness.targets.docker import ContainerViews
from harness.vagrant import NOT_CREATED, RUNNING, Vagrant, interrupts_deferred
from harness.waiting import NotYet, WaitTimeout, eventually, scaled

DEFAULT_BOX = "lab/debian12"
DEFAULT_VM_IP = "10.77.0.10"
DEPLOY_USER = "deploy"
REMOTE_DIR = "obslab"  # under the deploy user's home: obslab/app, obslab/stack, obslab/lab.env
STATE_FILE = Path(".lab") / "vagrant-state.json"
SSH_CONFIG_FILE = Path(".lab") / "vagrant" / "ssh-config"
ENV_FILE = Path(".lab") / "vagrant" / "lab.env"
BOX_BUILD_TIMEOUT = 3600.0
WAIT_TIMEOUT = 300.0
SSH_READY_TIMEOUT = 120.0
INFOS_MAX_AGE = 1.5
COMPOSE_TIMEOUT = 900.0
TRANSFER_TIMEOUT = 1800.0
VIRSH_TIMEOUT = 60.0
TUNNEL_TIMEOUT = 180.0
RSYNC_EXCLUDES = ("images/.cache/", "__pycache__/", "*.pyc", ".pytest_cache/", "node_modules/", ".venv/")
# Variables of the Vagrantfile that do not change the machine (where reports go, how long to wait),
# and those it only hands to the provisioner (a change means `vagrant provision`, not a reload).
NOT_MACHINE_VARS = frozenset({"LAB_REPORTS_DIR", "LAB_TIMEOUT_SCALE", "LAB_VM_BOOT_TIMEOUT"})
PROVISION_VARS = frozenset({"LAB_DEPLOY_PUBKEY", "LAB_DEPLOY_PUBKEY_FILE", "LAB_DOCKER_SOURCE"})


# --- settings shared with the Vagrantfile ------------------------------------------------------------
@dataclass(frozen=True)
class VmSettings:
    """What the harness must know of the VM, read from the same variables the Vagrantfile reads."""

    box: str = DEFAULT_BOX
    box_given: bool = False
    vm_ip: str = DEFAULT_VM_IP
    port_offset: int = 0
    forward_ports: bool = True
    prefix: str = ""
    bind_address: str = "0.0.0.0"
    deploy_key: str | None = None  # private key for the deploy user, when LAB_DEPLOY_PUBKEY_FILE names one

    @property
    def domain(self) -> str:
        return f"{self.prefix}lab"

    @classmethod
    def from_env(cls, env: Mapping[str, str], repo_root: Path) -> VmSettings:
        try:
            offset = int(env.get("LAB_VM_PORT_OFFSET") or "0")
        except ValueError:
            raise ConfigError(
                f"LAB_VM_PORT_OFFSET={env.get('LAB_VM_PORT_OFFSET')!r} is not a whole number; use e.g. 10000"
            ) from None
        pub = env.get("LAB_DEPLOY_PUBKEY_FILE")
        key = (
            pub[: -len(".pub")]
            if pub and pub.endswith(".pub") and Path(pub[: -len(".pub")]).is_file()
            else None
        )
        return cls(
            box=env.get("LAB_BOX") or DEFAULT_BOX,
            box_given=bool(env.get("LAB_BOX")) and env.get("LAB_BOX") != DEFAULT_BOX,
            vm_ip=env.get("LAB_VM_IP") or DEFAULT_VM_IP,
            port_offset=offset,
            forward_ports=(env.get("LAB_VM_FORWARD_PORTS") or "1") not in ("0", "no", "false", "off"),
            prefix=env.get("LAB_VM_PREFIX") or default_prefix(repo_root),
            bind_address=env.get("LAB_VM_BIND_ADDRESS") or "0.0.0.0",
            deploy_key=key,
        )


def default_prefix(repo_root: Path) -> str:
    """``obslab-<8 hex of sha1(repo dir)>_`` — the Vagrantfile's default domain prefix (two clones of
    the repository never share a domain name)."""
    return f"obslab-{hashlib.sha1(str(Path(repo_root).resolve()).encode()).hexdigest()[:8]}_"


def box_volume_prefix(box: str) -> str:
    """How vagrant-libvirt names a box's base volume in the pool (``lab/debian12`` ->
    ``lab-VAGRANTSLASH-debian12_vagrant_box_image_``)."""
    return box.replace("/", "-VAGRANTSLASH-") + "_vagrant_box_image_"


def shift_ports(endpoints: Endpoints, offset: int) -> Endpoints:
    """``endpoints`` with every URL's port moved by ``offset`` (forwarded ports on the host)."""
    if offset == 0:
        return endpoints
    moved: dict[str, Any] = {}
    for key, value in endpoints.to_dict().items():
        if key in ("target", "stores"):
            moved[key] = value
            continue
        parts = urlsplit(value)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        moved[key] = urlunsplit(parts._replace(netloc=f"{host}:{(parts.port or 80) + offset}"))
    return Endpoints(**moved)


# --- configuration fingerprint (reuse of a running VM) -------------------------------------------------
def _lab_vars(text: str) -> set[str]:
    return set(re.findall(r"\bLAB_[A-Z0-9_]+\b", text))


def fingerprint(repo_root: Path, env: Mapping[str, str]) -> dict[str, str]:
    """Hashes of what made the VM: ``machine`` (the Vagrantfile and the LAB_* variables it reads),
    ``provision`` (every file under provision/vm, and the variables the Vagrantfile only hands to
    the provisioner) and ``box``.

    Two runs with the same fingerprint would make the same VM, so a running one is reused.
    """
    root = Path(repo_root)
    vagrantfile = root / "Vagrantfile"
    text = vagrantfile.read_text() if vagrantfile.is_file() else ""
    names = _lab_vars(text) - NOT_MACHINE_VARS
    machine = hashlib.sha256(text.encode())
    for var in sorted(names - PROVISION_VARS):
        machine.update(f"\0{var}={env.get(var, '')}".encode())
    provision = hashlib.sha256()
    prov_dir = root / "provision" / "vm"
    if prov_dir.is_dir():
        for path in sorted(p for p in prov_dir.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            provision.update(f"\0{path.relative_to(root)}\0".encode() + path.read_bytes())
    for var in sorted(names & PROVISION_VARS):
        provision.update(f"\0{var}={env.get(var, '')}".encode())
    return {
        "machine": machine.hexdigest(),
        "provision": provision.hexdigest(),
        "box": env.get("LAB_BOX") or DEFAULT_BOX,
    }


def vm_action(state: str, saved: Mapping[str, str] | None, current: Mapping[str, str]) -> tuple[str, str]:
    """What to do with the machine in ``state`` given the fingerprint it was made with (``saved``,
    None when unknown) and the current one: (action, reason). Actions: ``reuse``, ``up``,
    ``provision``, ``reload``, ``recreate``."""
    if state == NOT_CREATED:
        return "up", "no VM yet"
    if saved is not None and saved.get("box") and saved.get("box") != current["box"]:
        return (
            "recreate",
            f"the box changed ({saved.get('box')} -> {current['box']}); volumes in the VM are lost",
        )
    machine_same = saved is not None and saved.get("machine") == current["machine"]
    provision_same = saved is not None and saved.get("provision") == current["provision"]
    if state == RUNNING:
        if saved is None:
            return (
                "provision",
                "a running VM made by an unknown configuration: provisioning it again (idempotent)",
            )
        if machine_same and provision_same:
            return "reuse", "a running VM whose configuration is unchanged"
        if machine_same:
            return "provision", "provision/vm changed: provisioning the running VM again"
        return "reload", "the Vagrantfile or its LAB_* settings changed: reloading the VM"
    if saved is not None and machine_same and provision_same:
        return "up", f"the VM is {state}: starting it (configuration unchanged)"
    return (
        "up-provision",
        f"the VM is {state}: starting it and provisioning again (configuration changed or unknown)",
    )


def load_state(repo_root: Path) -> dict[str, Any]:
    try:
        data = json.loads((repo_root / STATE_FILE).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def save_state(repo_root: Path, data: Mapping[str, Any] | None) -> None:
    path = repo_root / STATE_FILE
    if data is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(dict(data), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


# --- the Docker engine in the VM, through ssh + the docker CLI -----------------------------------------
def infos_from_inspect(text: str) -> list[ContainerInfo]:
    """``docker inspect`` JSON (a list of containers) -> ContainerInfo, one-off containers left out.

    ``docker inspect`` prints the same documents the SDK's ``container.attrs`` holds, so the docker
    target's ContainerInfo/health_report apply unchanged.
    """
    text = text.strip()
    if not text:
        return []
    start = text.find("[")
    data = json.loads(text[start:] if start > 0 else text)
    infos = []
    for attrs in data if isinstance(data, list) else []:
        labels = (attrs.get("Config") or {}).get("Labels") or {}
        if labels.get(ONEOFF_LABEL, "False") == "True":
            continue
        infos.append(ContainerInfo.from_container(SimpleNamespace(attrs=attrs)))
    return sorted(infos, key=lambda i: (i.service, i.name))


class SshEngine(ContainerViews):
    """restart/stop/start/exec/status of one compose project in the VM's engine: ``docker`` over ssh.

    Same interface as :class:`harness.targets.docker.EngineControl` (which needs a Docker SDK
    client; the SDK cannot use vagrant's ssh config file).
    """

    def __init__(self, remote: Remote, project: str, api: bool | None = None):
        self.remote = remote
        self.project = project
        self.api = api  # True: Engine API via curl; False: docker CLI; None: curl when the VM has it
        self._cache: tuple[float, list[ContainerInfo]] | None = None
        self.where = f"the VM's engine ({remote.where})"

    def inspect_script(self) -> str:
        """Shell code printing ``docker inspect`` JSON of the project's containers.

        The Engine API through ``curl --unix-socket`` when the VM has curl (0.7 s under QEMU TCG,
        where each run of the Go docker CLI costs about 2.5 s); else ``docker ps`` + ``docker inspect``.
        ``api`` (constructor) forces one of the two.
        """
        label = f"{PROJECT_LABEL}={self.project}"
        filters = quote(json.dumps({"label": [label]}, separators=(",", ":")), safe="")
        sock = "/var/run/docker.sock"
        api = (
            f"list=$(curl -sf --unix-socket {sock} 'http://d/containers/json?all=1&filters={filters}') "
            "|| exit 3; "
            'ids=$(printf \'%s\' "$list" | grep -o \'"Id": *"[0-9a-f]*"\' | cut -d\'"\' -f4); '
            "printf '['; sep=''; for id in $ids; do "
            f'c=$(curl -sf --unix-socket {sock} "http://d/containers/$id/json") '
            "&& printf '%s%s' \"$sep\" \"$c\" && sep=,; done; printf ']\\n'"
        )
        cli = (
            f"ids=$(docker ps -aq --no-trunc --filter {shlex.quote('label=' + label)}) || exit 3; "
            'if [ -z "$ids" ]; then echo "[]"; else docker inspect $ids 2>/dev/null; fi'
        )
        if self.api is True:
            return api
        if self.api is False:
            return cli
        return f"if command -v curl >/dev/null 2>&1; then {api}; else {cli}; fi"

    def infos(self, max_age: float = INFOS_MAX_AGE) -> list[ContainerInfo]:
        """The project's containers; a listing younger than ``max_age`` seconds is reused (a step
        that asks twice in a row costs one round trip), any action forgets it."""
        if self._cache is not None and time.monotonic() - self._cache[0] < max_age:
            return list(self._cache[1])
        result = self.remote.run(self.inspect_script(), timeout=60, record=False)
        if result.timed_out or result.exit_code not in (0, 1):
            raise LabError(
                f"cannot list the containers of project {self.project!r} in {self.where}: "
                f"{'timed out' if result.timed_out else result.tail(3)}"
            )
        try:
            return infos_from_inspect(result.output)
        except ValueError as exc:
            raise LabError(
                f"docker inspect in {self.where} printed no JSON ({exc}): {result.tail(3)}"
            ) from None

    def container(self, service: str) -> ContainerInfo:
        infos = self.infos()
        found = [i for i in infos if i.service == service]
        if not found:
            known = sorted({i.service for i in infos})
            raise LabError(
                f"no container for service {service!r} of project {self.project!r} in {self.where}"
                f" (services there: {', '.join(known) or 'none'})"
            )
        found.sort(key=lambda i: (i.status != "running", i.name))
        return found[0]

    def _act(self, verb: str, service: str) -> None:
        info = self.container(service)
        self._cache = None
        started = time.monotonic()
        result = self.remote.run(["docker", verb, info.id], timeout=120, record=False)
        evidence.attach(
            "docker",
            f"{verb} {service} (in the VM)",
            container=info.id[:12],
            exit_code=result.exit_code,
            duration_s=round(time.monotonic() - started, 2),
        )
        if not result.ok:
            raise LabError(
                f"docker {verb} {service} ({info.id[:12]}) in {self.where} failed: {result.tail(3)}"
            )

    def restart(self, service: str) -> None:
        self._act("restart", service)

    def stop(self, service: str) -> None:
        self._act("stop", service)

    def start(self, service: str) -> None:
        self._act("start", service)

    def exec(self, service: str, command: list[str], user: str | None = None) -> ExecResult:
        info = self.container(service)
        argv = ["docker", "exec", *(["-u", user] if user else []), info.id, *command]
        started = time.monotonic()
        result = self.remote.run(argv, timeout=120, record=False)
        if result.timed_out or (result.exit_code == 255 and not result.output.strip()):
            raise LabError(
                f"exec in {service} ({info.id[:12]}) over ssh failed: "
                f"{'timed out' if result.timed_out else 'ssh exit 255'}"
            )
        evidence.attach(
            "command",
            f"exec {service}: {' '.join(command)}",
            exit_code=result.exit_code,
            duration_s=round(time.monotonic() - started, 2),
            output=evidence.trim(result.output),
        )
        return ExecResult(exit_code=result.exit_code, output=result.output)


    def wait_running(self, service: str, timeout: float = 60.0) -> ContainerInfo:
        def check() -> ContainerInfo:
            infos = [i for i in self.infos(max_age=0) if i.service == service]
            problems = health_report(infos, [service])
            if problems:
                raise NotYet("; ".join(problems))
            return infos[0]

        return eventually(
            check, timeout=timeout, interval=2.0, describe=f"{service} to be running and healthy"
        )


# --- the target ----------------------------------------------------------------------------------------
@dataclass
class Timings:
    """Seconds per phase of the last ``up`` (printed, and written to reports/vagrant/timings.json)."""

    phases: dict[str, float] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.phases[name] = round(self.phases.get(name, 0.0) + seconds, 1)


class VagrantTarget(EngineBackedTarget):
    """The lab in the libvirt VM ``lab`` of the repository's Vagrantfile."""

    name = "vagrant"

    def __init__(
        self, config: LabConfig, display: Display | None = None, env: Mapping[str, str] | None = None
    ):
        super().__init__(config, display)
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault("LAB_REPORTS_DIR", str(config.reports_dir))  # the serial log goes there too
        self.settings = VmSettings.from_env(self.env, config.repo_root)
        self.vagrant = Vagrant(
            config.repo_root, log_dir=config.reports_dir / "vagrant", display=self.display, env=self.env
        )
        self.timings = Timings()
        self._vm_running: bool | None = None
        self._ssh_config: Path | None = None
        self._deploy: Remote | None = None
        self._admin: Remote | None = None
        self._engine: SshEngine | None = None
        self._compose_cmd: ComposeCommand | None = None
        self._plan: deploy.DeployPlan | None = None

    # where things are --------------------------------------------------------------------------------
    @property
    def repo_root(self) -> Path:
        return self.config.repo_root

    def endpoints(self) -> Endpoints:
        """Forwarded ports on 127.0.0.1 (plus ``LAB_VM_PORT_OFFSET``); ``LAB_HOST`` or
        ``LAB_VM_FORWARD_PORTS=0``: the VM's address with the documented ports."""
        stores = self.config.stores
        if self.config.lab_host:
            from harness.targets.existing import split_host

            scheme, host = split_host(self.config.lab_host)
            return Endpoints.for_host(host, self.name, stores, scheme=scheme)
        if not self.settings.forward_ports:
            return Endpoints.for_host(self.settings.vm_ip, self.name, stores)
        return shift_ports(Endpoints.for_host("127.0.0.1", self.name, stores), self.settings.port_offset)

    def ssh_config_path(self) -> Path:
        """The ssh config file of the running VM (``vagrant ssh-config lab`` + multiplexing), written
        on first use by this process."""
        if self._ssh_config is None:
            conf = self.vagrant.ssh_config()
            path = self.repo_root / SSH_CONFIG_FILE
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(conf.render(ssh_options()))
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
            self._ssh_config = path
        return self._ssh_config

    @property
    def deploy_remote(self) -> Remote:
        """ssh as the ``deploy`` user (group docker): deploy, compose and service control."""
        if self._deploy is None:
            self._deploy = Remote(
                self.ssh_config_path(), "lab", user=DEPLOY_USER, identity=self.settings.deploy_key
            )
        return self._deploy

    @property
    def admin_remote(self) -> Remote:
        """ssh as the user vagrant reports (``vagrant``, passwordless sudo): host checks."""
        if self._admin is None:
            self._admin = Remote(self.ssh_config_path(), "lab")
        return self._admin

    @property
    def engine(self) -> SshEngine:
        if self._engine is None:
            self._engine = SshEngine(self.deploy_remote, self.config.project)
        return self._engine

    def vm_running(self, refresh: bool = False) -> bool:
        """Whether the VM runs — read from ``vagrant status`` (once per process unless ``refresh``)."""
        if self._vm_running is None or refresh:
            self._vm_running = self.vagrant.state() == RUNNING
        return self._vm_running

    # lifecycle -----------------------------------------------------------------------------------------
    def up(self) -> None:
        """Box, VM, files, images, compose up, healthy — each step skipped when already done."""
        started = time.monotonic()
        self.timings = Timings()
        with self._timed("box"):
            self.ensure_box()
        with self._timed("vm"):
            self.ensure_vm()
        with self._timed("ssh"):
            self.wait_ssh()
            self.ensure_tunnels()
        plan = self.plan()
        self.display.info(str(plan.images))
        with self._timed("deploy-files"):
            self.sync_files(plan)
        with self._timed("images"):
            self.ensure_images(plan)
        with self._timed("compose-up"):
            self.compose_up(plan)
        with self._timed("wait-healthy"):
            self.wait_all_healthy(plan)
        self.timings.add("total", time.monotonic() - started)
        self._write_timings()
        for service, state in sorted(self.status().items()):
            self.display.detail(f"{service:<15} {state}")
        self.display.info(
            "vagrant timings: " + ", ".join(f"{k} {v:.0f}s" for k, v in self.timings.phases.items())
        )

    def _timed(self, name: str) -> Any:
        from contextlib import contextmanager

        @contextmanager
        def block() -> Any:
            t0 = time.monotonic()
            try:
                yield
            finally:
                self.timings.add(name, time.monotonic() - t0)

        return block()

    def _write_timings(self) -> None:
        """``timings.json`` (the last ``up``) and one line per ``up`` in ``timings.jsonl``."""
        directory = self.config.reports_dir / "vagrant"
        record = {
            "at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "phases_s": self.timings.phases,
            **self.timings.facts,
        }
        try:
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "timings.json").write_text(json.dumps(record, indent=2) + "\n")
            with (directory / "timings.jsonl").open("a") as fh:
                fh.write(json.dumps(record) + "\n")
        except OSError:
            pass

    def ensure_box(self) -> None:
        """The box is there, or is built here (the default ``lab/debian12``); a box named by
        ``LAB_BOX`` that is missing is left to ``vagrant up`` to fetch from a box registry."""
        box = self.settings.box
        if box in self.vagrant.box_names():
            self.display.detail(f"box {box}: present")
            return
        if self.settings.box_given:
            self.display.info(f"box {box} is not added; `vagrant up` will fetch it from the box registry")
            return
        script = self.repo_root / "provision" / "box" / "build.sh"
        if not script.is_file():
            raise LabError(f"box {box} is missing and {script.relative_to(self.repo_root)} does not exist")
        with self.display.phase(f"box {box}: building it (provision/box/build.sh; minutes, once per host)"):
            t0 = time.monotonic()
            result = run(
                [str(script), "--name", box],
                timeout=scaled(BOX_BUILD_TIMEOUT),
                cwd=self.repo_root,
                env=self.env,
                on_line=self.display.detail,
            )
            result.check("provision/box/build.sh")
            self.timings.facts["box_build_s"] = round(time.monotonic() - t0, 1)
        if box not in self.vagrant.box_names():
            raise LabError(f"provision/box/build.sh finished but vagrant has no box {box}")

    def ensure_vm(self) -> None:
        """``vagrant up`` / reuse / provision / reload / recreate, decided from the state vagrant reports
        and the configuration fingerprint of the running VM (``.lab/vagrant-state.json``)."""
        state = self.vagrant.state()
        current = fingerprint(self.repo_root, self.env)
        saved_all = load_state(self.repo_root)
        saved = saved_all.get("fingerprint") if saved_all.get("domain") == self.settings.domain else None
        action, reason = vm_action(state, saved, current)
        self.display.info(f"VM {self.settings.domain}: {state}; {reason}")
        self.timings.facts["vm_action"] = action
        if action != "reuse":
            save_state(self.repo_root, None)  # until the action completes, the VM's config is unknown
        title = {
            "up": "vagrant up lab (boot; first boot provisions Docker, the deploy user, sshd, firewall)",
            "up-provision": "vagrant up lab --provision",
            "provision": "vagrant provision lab",
            "reload": "vagrant reload lab --provision",
            "recreate": "vagrant destroy -f lab, then vagrant up lab",
        }.get(action)
        if title:
            with self.display.phase(title):
                if action == "up":
                    self.vagrant.up()
                elif action == "up-provision":
                    self.vagrant.up(provision=True)
                elif action == "provision":
                    self.vagrant.provision()
                elif action == "reload":
                    self.vagrant.reload(provision=True)
                elif action == "recreate":
                    self.vagrant.destroy()
                    self.vagrant.up()
        if self.vagrant.state() != RUNNING:
            raise LabError(f"the VM is not running after {action} (logs under {self.vagrant.log.directory})")
        self._vm_running = True
        self._ssh_config = None  # the address may have changed
        self._deploy = self._admin = self._engine = None
        save_state(
            self.repo_root,
            {
                "fingerprint": current,
                "domain": self.settings.domain,
                "box": self.settings.box,
                "at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            },
        )

    def wait_ssh(self) -> None:
        """Until ``ssh deploy@lab true`` works (sshd may still be starting after a boot)."""
        remote = self.deploy_remote

        def check() -> None:
            result = remote.run("true", timeout=30, record=False)
            if not result.ok:
                raise NotYet(f"ssh {remote.where}: {'timed out' if result.timed_out else result.tail(2)}")

        try:
            eventually(check, timeout=SSH_READY_TIMEOUT, interval=3.0, describe=f"ssh to {remote.where}")
        except WaitTimeout as exc:
            raise LabError(
                f"cannot ssh to the VM as {DEPLOY_USER}: {exc.last_observation} (ssh config "
                f"{self.ssh_config_path()}; serial log {self.config.reports_dir}/vagrant/serial-lab.log)"
            ) from None

    def ensure_tunnels(self) -> None:
        """Every forwarded port listens on 127.0.0.1: ``provision/host/forward-ports.sh`` restarts the
        vagrant-libvirt ssh tunnels that died or never started (vagrant starts them only at boot, all
        at once — sshd's MaxStartups may reset some — and not at all for a VM that already runs)."""
        if self.config.lab_host or not self.settings.forward_ports:
            return
        script = self.repo_root / "provision" / "host" / "forward-ports.sh"
        if not script.is_file():
            return

        def show(line: str) -> None:
            if " up (pid" not in line:
                self.display.detail(line)

        result = run(
            [str(script)], timeout=scaled(TUNNEL_TIMEOUT), cwd=self.repo_root, env=self.env, on_line=show
        )
        if not result.ok:
            raise LabError(
                f"forwarded ports of the VM are not all up (provision/host/forward-ports.sh):\n"
                f"{result.tail(12)}"
            )

    def plan(self) -> deploy.DeployPlan:
        """The docker target's plan; "present" images are the host's (they are sent to the VM)."""
        if self._plan is None:
            try:
                present: set[str] | None = set(local_image_ids())
            except LabError:
                present = None  # no local engine: registry images, pulled in the VM
            self._plan = deploy.plan(self.config, present)
        return self._plan

    def sync_files(self, plan: deploy.DeployPlan) -> None:
        """rsync app/ and stack/ into ~deploy/obslab/ (only changes travel), and the compose
        variables into ~deploy/obslab/lab.env (mode 600: it may hold the Grafana password)."""
        binary = self.repo_root / images.HEALTHCHECK_BINARY
        if not binary.is_file() and any("lab-healthcheck" in f.read_text() for f in plan.files):
            images.build(["healthcheck"], display=self.display, repo_root=self.repo_root)
        env_file = self.repo_root / ENV_FILE
        env_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("# compose variables of the lab in the VM; written by the harness on every deploy\n")
            fh.writelines(f"{k}={shlex.quote(v)}\n" for k, v in sorted(self.vm_compose_env(plan).items()))
        with self.display.phase(
            f"deploy files: rsync app/ stack/ to {self.deploy_remote.where}:{REMOTE_DIR}/"
        ):
            self.deploy_remote.rsync(
                [self.repo_root / "app", self.repo_root / "stack"],
                f"{REMOTE_DIR}/",
                excludes=RSYNC_EXCLUDES,
                on_line=self.display.detail,
            )
            self.deploy_remote.rsync([env_file], f"{REMOTE_DIR}/lab.env", delete=False, chmod="F600")

    def vm_compose_env(self, plan: deploy.DeployPlan) -> dict[str, str]:
        """The variables compose interpolates in the VM: the plan's, the host's values of every other
        variable the compose files name (image versions, …), and the VM's bind address."""
        names: set[str] = set()
        for f in plan.files:
            names |= set(re.findall(r"\$\{([A-Z0-9_]+)", f.read_text()))
        env = {k: self.env[k] for k in sorted(names) if k in self.env and k != "LAB_BIND_ADDRESS"}
        env.update(plan.env)
        env["LAB_BIND_ADDRESS"] = self.settings.bind_address
        return env

    def ensure_images(self, plan: deploy.DeployPlan) -> None:
        """Local image source: build what the host lacks, then send the images whose ID differs in the
        VM (one ``docker save`` of all of them, so shared layers travel once). Registry: compose
        pulls in the VM."""
        if plan.image_source != "local":
            self.display.info("images: the VM pulls them from the registry (compose up)")
            return
        if plan.images.missing:
            images.build(list(plan.images.missing), display=self.display, repo_root=self.repo_root)
        wanted = images.required_local_images(plan.stores)
        local = local_image_ids()
        remote = remote_image_ids(self.deploy_remote)
        send = images_to_send(wanted, local, remote)
        self.timings.facts["images_sent"] = send
        if not send:
            self.display.detail(f"images: all {len(wanted)} lab/*:local images already in the VM (same IDs)")
            self.timings.facts["image_transfer"] = {"bytes": 0, "seconds": 0.0}
            return
        title = f"images: docker save | ssh docker load of {len(send)} image(s): {', '.join(send)}"
        with self.display.phase(title):

            def progress(sent: int, seconds: float) -> None:
                rate = sent / (1 << 20) / seconds if seconds else 0
                self.display.update(
                    escape(f"images: {sent / (1 << 20):.0f} MiB sent in {seconds:.0f}s ({rate:.1f} MiB/s)")
                )
                if self.display.plain and int(seconds) % 15 == 0:
                    self.display.detail(f"{sent / (1 << 20):.0f} MiB in {seconds:.0f}s")

            def sent(total: int, seconds: float) -> None:
                self.display.detail(
                    f"{total / (1 << 20):.0f} MiB sent in {seconds:.0f}s; docker load in the VM"
                )
                self.display.update("images: docker load in the VM (unpacking layers)")

            result = self.deploy_remote.pipe_in(
                ["docker", "save", *send],
                "docker load",
                timeout=TRANSFER_TIMEOUT,
                on_progress=progress,
                on_sent=sent,
            )
        self.display.detail(
            f"images: {result.mib:.0f} MiB in {result.seconds:.0f}s ({result.rate:.1f} MiB/s)"
        )
        self.timings.facts["image_transfer"] = {"bytes": result.bytes, "seconds": round(result.seconds, 1)}
        after = remote_image_ids(self.deploy_remote)
        still = images_to_send(wanted, local, after)
        if still:
            raise LabError(f"after docker load the VM still has other image IDs for: {', '.join(still)}")

    def compose_command(self) -> ComposeCommand:
        """The compose of the VM: ``docker compose`` (v2) when there, else ``docker-compose`` (v1)."""
        if self._compose_cmd is None:
            script = (
                "if docker compose version --short >/dev/null 2>&1; then echo v2 $(docker compose version "
                "--short); else echo v1 $(docker-compose version --short 2>/dev/null); fi"
            )
            result = self.deploy_remote.run(script, timeout=120, check="compose version (in the VM)")
            words = result.output.split()
            version = parse_version_output(" ".join(words[1:])) if len(words) > 1 else None
            if not version:
                raise LabError(
                    f"no Docker Compose in the VM (`docker compose`/`docker-compose`): {result.tail(3)}"
                )
            argv = ("docker", "compose") if words[0] == "v2" else ("docker-compose",)
            self._compose_cmd = ComposeCommand(argv=argv, version=version)
        return self._compose_cmd

    def vm_compose(self, plan: deploy.DeployPlan) -> Compose:
        """The one compose wrapper, for its command lines: files by name, run in ~/obslab/stack."""
        return Compose(plan.project, [f.name for f in plan.files], command=self.compose_command())

    def _compose_run(self, argv: list[str], what: str, timeout: float = COMPOSE_TIMEOUT) -> None:
        script = f"cd {REMOTE_DIR}/stack && set -a && . ../lab.env && set +a && exec {shlex.join(argv)}"
        self.deploy_remote.run(script, timeout=timeout, on_line=self.display.detail, check=what)

    def compose_up(self, plan: deploy.DeployPlan) -> None:
        compose = self.vm_compose(plan)
        files = " ".join(f"-f {f.name}" for f in plan.files)
        with self.display.phase(f"compose up in the VM ({compose.version}, project {plan.project}, {files})"):
            self._compose_run(
                compose.up_args(wait=False, no_build=plan.image_source == "local"), "compose up (in the VM)"
            )

    def expected_services(self, plan: deploy.DeployPlan) -> list[str]:
        """Services of the plan's compose files (read here: compose v1 in a TCG guest is slow)."""
        names: set[str] = set()
        for f in plan.files:
            data = yaml.safe_load(f.read_text()) or {}
            names |= set((data.get("services") or {}).keys())
        return sorted(names)

    def wait_all_healthy(self, plan: deploy.DeployPlan, timeout: float = WAIT_TIMEOUT) -> None:
        """Until every service of the plan has a running container whose healthcheck passes."""
        expected = self.expected_services(plan)

        def check() -> None:
            problems = health_report(self.engine.infos(max_age=0), expected)
            waiting = {p.split(":", 1)[0] for p in problems}
            first = f" — {problems[0]}" if problems else ""
            self.display.update(
                escape(
                    f"waiting: {len(set(expected) - waiting)}/{len(expected)} services healthy{first[:90]}"
                )
            )
            if problems:
                raise NotYet("; ".join(problems))

        with self.display.phase("waiting for every service in the VM to be running and healthy"):
            try:
                eventually(check, timeout=timeout, interval=3.0, describe="services in the VM to be healthy")
            except WaitTimeout as exc:
                raise LabError(
                    f"services in the VM not healthy after {exc.timeout:.0f}s: {exc.last_observation}"
                ) from None

    def down(self, volumes: bool = False) -> None:
        """``volumes``: destroy the VM (its volumes go with it) and the box volume vagrant-libvirt leaves
        in the ``default`` pool, then check with virsh that nothing is left. Without: compose down in
        the VM (volumes kept) and halt the VM (its disk, and so the volumes, stay)."""
        with interrupts_deferred(self.display):
            if volumes:
                self._destroy()
            else:
                self._stop_keep_volumes()

    def _stop_keep_volumes(self) -> None:
        if not self.vm_running(refresh=True):
            self.display.info("the VM is not running: nothing to stop (volumes kept)")
            return
        plan = deploy.DeployPlan(
            project=self.config.project,
            stores=self.config.stores,
            images=deploy.ImageSource("registry", "down"),
            files=deploy.compose_files(self.config.stack_dir, self.config.stores, "registry"),
            env={},
            stack_dir=self.config.stack_dir,
        )
        with self.display.phase(f"compose down in the VM (project {self.config.project}; volumes kept)"):
            self._compose_run(self.vm_compose(plan).down_args(volumes=False), "compose down (in the VM)", 300)
        self._close_masters()
        with self.display.phase("vagrant halt lab (the VM's disk and the volumes on it are kept)"):
            self.vagrant.halt()
        self._vm_running = False

    def _destroy(self) -> None:
        self._close_masters()
        with self.display.phase(f"vagrant destroy -f lab (domain {self.settings.domain})"):
            self.vagrant.destroy()
        save_state(self.repo_root, None)
        self._vm_running = False
        with (
            self.display.phase("removing what vagrant-libvirt leaves in the default pool"),
            self.vagrant.lock("remove the box volume"),  # an `up` elsewhere may be uploading it
        ):
            self.remove_leftovers()
        left = self.leftovers()
        if left:
            raise LabError(
                f"after destroy, still there: {', '.join(left)} (see `virsh list --all`, "
                "`virsh vol-list default`)"
            )
        self.display.info(f"nothing left: no domain or volume of {self.settings.domain}, no box volume")

    def _close_masters(self) -> None:
        for remote in (self._deploy, self._admin):
            if remote is not None:
                remote.close_master()

    # libvirt leftovers -------------------------------------------------------------------------------
    def _virsh(self, *args: str) -> list[str]:
        result = run(["virsh", "-c", "qemu:///system", *args], timeout=scaled(VIRSH_TIMEOUT))
        result.check(f"virsh {' '.join(args)}")
        return [line.strip() for line in result.output.splitlines() if line.strip()]

    def _pool_volumes(self) -> list[str]:
        lines = self._virsh("vol-list", "default")
        # " Name   Path" header, a dashes line, then "name  /path"
        return [line.split()[0] for line in lines[2:] if line.split()]

    def leftovers(self) -> list[str]:
        """Domains and volumes of this lab (prefix) and the box's base volume, as virsh lists them."""
        domains = [d for d in self._virsh("list", "--all", "--name") if d.startswith(self.settings.prefix)]
        box_prefix = box_volume_prefix(self.settings.box)
        volumes = [
            v for v in self._pool_volumes() if v.startswith(self.settings.prefix) or v.startswith(box_prefix)
        ]
        return [f"domain {d}" for d in domains] + [f"volume {v}" for v in volumes]

    def remove_leftovers(self) -> list[str]:
        """Undefine a domain of this lab that vagrant no longer knows (an ``up`` cut short by Ctrl-C
        before vagrant recorded the machine), then delete this lab's volumes and the box's base volume
        from the ``default`` pool — unless another lab (another clone's ``obslab-…`` volume) may still
        use that box volume as its backing file."""
        removed = []
        for domain in self._virsh("list", "--all", "--name"):
            if not domain.startswith(self.settings.prefix):
                continue
            run(["virsh", "-c", "qemu:///system", "destroy", domain], timeout=scaled(VIRSH_TIMEOUT))
            run(
                ["virsh", "-c", "qemu:///system", "undefine", domain, "--remove-all-storage"],
                timeout=scaled(VIRSH_TIMEOUT),
            ).check(f"virsh undefine {domain}")
            removed.append(f"domain {domain}")
        volumes = self._pool_volumes()
        others = [v for v in volumes if v.startswith("obslab-") and not v.startswith(self.settings.prefix)]
        box_prefix = box_volume_prefix(self.settings.box)
        for volume in volumes:
            ours = volume.startswith(self.settings.prefix)
            box = volume.startswith(box_prefix)
            if not (ours or box):
                continue
            if box and others:
                self.display.info(f"keeping {volume}: other labs' disks ({', '.join(others)}) may use it")
                continue
            run(
                ["virsh", "-c", "qemu:///system", "vol-delete", "--pool", "default", volume],
                timeout=scaled(VIRSH_TIMEOUT),
            ).check(f"virsh vol-delete {volume}")
            removed.append(volume)
        if removed:
            self.display.detail(f"removed from pool default: {', '.join(removed)}")
        return removed

    # state ---------------------------------------------------------------------------------------------
    def status(self) -> dict[str, str]:
        """Service -> state in the VM ({} when the VM does not run)."""
        if not self.vm_running():
            return {}
        try:
            return self.engine.status()
        except LabError:
            if not self.vm_running(refresh=True):
                return {}
            self._ssh_config = None
            self._deploy = self._admin = self._engine = None
            return self.engine.status()

    # service control -----------------------------------------------------------------------------------







    def published_address(self) -> str:
        return urlsplit(self.endpoints().frontend).hostname or "127.0.0.1"

    def host_port(self, port: int) -> int:
        """A VM port as the harness reaches it: forwarded with ``LAB_VM_PORT_OFFSET`` unless the VM's
        address is used."""
        if self.config.lab_host or not self.settings.forward_ports:
            return port
        return port + self.settings.port_offset

    def testinfra_host(self, service: str | None = None) -> str:
        """The VM: ``ssh://vagrant@lab?ssh_config=…`` (sudo for sshd -T and the like). A service's
        container: ``ssh-docker://deploy@lab?…&container=<id>`` — testinfra's ssh backend wrapping each
        command in ``docker exec`` in the VM (testinfra's own docker backend runs the local CLI)."""
        from harness import vm_posture

        config = self.ssh_config_path()
        if service is None:
            return vm_posture.vm_hostspec(config)
        return vm_posture.container_hostspec(config, self.engine.container(service).id, user=DEPLOY_USER)

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset({"control", "deploy", "containers", "vm"})

    def close(self) -> None:
        self._close_masters()

    def vm_facts(self) -> dict[str, Any]:
        """For evidence: domain, box, address, forwarded ports."""
        return {
            "domain": self.settings.domain,
            "box": self.settings.box,
            "vm_ip": self.settings.vm_ip,
            "port_offset": self.settings.port_offset,
            "forward_ports": self.settings.forward_ports,
        }
