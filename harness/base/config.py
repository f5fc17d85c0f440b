"""The one config object: every option of the CLI and of pytest and every ``LAB_*`` variable,
resolved once, validated with one-line errors (what is wrong and what would be right).

This is the only reader of ``LAB_*`` variables: everything else is handed a :class:`LabConfig`
(the VM's settings are in it, :class:`VmSettings`). Precedence: explicit option > environment
variable > default; an empty variable counts as unset, everywhere. ``target`` may stay ``auto``
here; :func:`harness.lab.targets.choose` resolves it and says why.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

from harness.base import services
from harness.base.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]

TARGETS = ("auto", "docker", "vagrant", "existing")
STORE_SETS = services.STORE_SETS
IMAGE_SOURCES = ("auto", "registry", "local")
DESTROY_POLICIES = ("passing", "always", "never")
COMPOSE_COMMANDS = ("docker compose", "docker-compose")
ACCELS = ("auto", "kvm", "tcg")
MAX_TIMEOUT_SCALE = 100.0  # beyond this a timeout is "forever", which nothing may wait
DEFAULT_BOX = "lab/debian12"
DEFAULT_VM_IP = "10.77.0.10"
# A shard's VM forwards its ports at +SHARD_PORT_BASE + SHARD_PORT_STEP * k on 127.0.0.1: no
# difference of two documented ports is a multiple of 37 below 16 * 37, so no two shards' ports meet
# (tests/harness/test_shards.py checks it against the catalogue).
SHARD_PORT_BASE = 20000
SHARD_PORT_STEP = 37
SECRET_VARS = ("GF_SECURITY_ADMIN_PASSWORD",)


def _choice(name: str, value: str, allowed: tuple[str, ...], env: str, option: str | None = None) -> str:
    if value not in allowed:
        where = f"{env} or {option}" if option else env
        raise ConfigError(f"{name}={value!r} (from {where}) is not valid; use one of: {', '.join(allowed)}")
    return value


def reports_dir(option: str | None, base: Path, env: Mapping[str, str] | None = None) -> Path:
    """Where reports go: the option (``--reports-dir``), else ``LAB_REPORTS_DIR``, else ``reports/``
    under ``base``; a relative path is taken from the current directory."""
    env = os.environ if env is None else env
    chosen = (option or "").strip() or (env.get("LAB_REPORTS_DIR") or "").strip()
    if not chosen:
        return Path(base) / "reports"
    path = Path(os.path.expanduser(chosen))
    return path if path.is_absolute() else Path.cwd() / path


def default_prefix(repo_root: Path) -> str:
    """``obslab-<8 hex of sha1(repo dir)>_`` — the Vagrantfile's default domain prefix (two clones of
    the repository never share a domain name)."""
    return f"obslab-{hashlib.sha1(str(Path(repo_root).resolve()).encode()).hexdigest()[:8]}_"


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() not in ("0", "no", "false", "off")


@dataclass(frozen=True)
class VmSettings:
    """What the harness must know of the lab VM, from the same variables the Vagrantfile reads."""

    box: str = DEFAULT_BOX
    box_given: bool = False
    vm_ip: str = DEFAULT_VM_IP
    port_offset: int = 0
    forward_ports: bool = True
    prefix: str = ""
    bind_address: str = "0.0.0.0"
    deploy_key: str | None = None  # private key for the deploy user, when LAB_DEPLOY_PUBKEY_FILE names one
    accel: str = "auto"  # LAB_VM_ACCEL: auto (the probe decides), kvm, tcg

    @property
    def domain(self) -> str:
        return f"{self.prefix}lab"

    @classmethod
    def from_env(cls, env: Mapping[str, str], repo_root: Path) -> VmSettings:
        def get(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value and value.strip() else None

        raw_offset = get("LAB_VM_PORT_OFFSET") or "0"
        try:
            offset = int(raw_offset)
        except ValueError:
            raise ConfigError(
                f"LAB_VM_PORT_OFFSET={raw_offset!r} is not a whole number; use e.g. 10000"
            ) from None
        if not 0 <= offset <= 50000:
            raise ConfigError(f"LAB_VM_PORT_OFFSET={raw_offset!r} is out of range; use 0 to 50000")
        accel = (get("LAB_VM_ACCEL") or "auto").lower()
        if accel not in ACCELS:
            raise ConfigError(f"LAB_VM_ACCEL={env.get('LAB_VM_ACCEL')!r} is not valid; use one of: "
                              f"{', '.join(ACCELS)} (auto: KVM only when a guest boots under it)")
        pub = get("LAB_DEPLOY_PUBKEY_FILE")
        private = pub[: -len(".pub")] if pub and pub.endswith(".pub") else None
        key = private if private and Path(private).is_file() else None
        box = get("LAB_BOX") or DEFAULT_BOX
        return cls(
            box=box,
            box_given=box != DEFAULT_BOX,
            vm_ip=get("LAB_VM_IP") or DEFAULT_VM_IP,
            port_offset=offset,
            forward_ports=_flag(get("LAB_VM_FORWARD_PORTS"), True),
            prefix=get("LAB_VM_PREFIX") or default_prefix(repo_root),
            bind_address=get("LAB_VM_BIND_ADDRESS") or "0.0.0.0",
            deploy_key=key,
            accel=accel,
        )


def _shift_last_octet(address: str, by: int, name: str) -> str:
    parts = address.split(".")
    if len(parts) != 4 or not all(p.isdigit() for p in parts) or int(parts[3]) + by > 254:
        raise ConfigError(f"{name}={address!r} leaves no room for shard {by}; use an IPv4 address whose "
                          "last number is at most 254 minus the number of shards")
    return ".".join([*parts[:3], str(int(parts[3]) + by)])


def shard_bind_address(base: str, index: int) -> str:
    """Where shard ``index`` of a docker run publishes its ports: the third number of a loopback
    address moved by ``index`` (127.0.0.1 -> 127.0.1.1, 127.0.2.1, …); a wildcard or outside
    address becomes 127.0.k.1 — shards are local labs, never published beyond loopback."""
    parts = base.split(".")
    loopback = len(parts) == 4 and parts[0] == "127" and all(p.isdigit() for p in parts)
    if loopback and int(parts[2]) + index <= 255:
        return ".".join([parts[0], parts[1], str(int(parts[2]) + index), parts[3]])
    return f"127.0.{index}.1"


def split_host(lab_host: str) -> tuple[str, str]:
    """``LAB_HOST`` -> (scheme, host): accepts ``host``, ``http://host``, ``host/``; brackets IPv6."""
    text = lab_host.strip()
    scheme = "http"
    if "://" in text:
        scheme, text = text.split("://", 1)
    host = text.strip("/").split("/")[0]
    if not host:
        raise ConfigError(f"LAB_HOST={lab_host!r} has no host name; use e.g. LAB_HOST=192.168.121.10")
    if host.count(":") > 1 and not host.startswith("["):
        host = f"[{host}]"
    elif ":" in host and not host.startswith("["):
        raise ConfigError(
            f"LAB_HOST={lab_host!r}: give the host only, the lab's documented ports are used "
            "(or a `lab endpoints --json` file via LAB_ENDPOINTS_FILE for other ports)"
        )
    if scheme not in ("http", "https"):
        raise ConfigError(f"LAB_HOST={lab_host!r}: the scheme must be http or https")
    return scheme, host


def parse_timeout_scale(raw: str | None) -> float:
    """``LAB_TIMEOUT_SCALE`` as a finite number in (0, 100]; unset or empty is 1."""
    text = (raw or "").strip() or "1"
    hint = "use e.g. 1, 2.5 or 10"
    try:
        scale = float(text)
    except ValueError:
        raise ConfigError(f"LAB_TIMEOUT_SCALE={raw!r} is not a number; {hint}") from None
    if not math.isfinite(scale):
        raise ConfigError(f"LAB_TIMEOUT_SCALE={raw!r} is not a finite number; {hint}")
    if scale <= 0:
        raise ConfigError(f"LAB_TIMEOUT_SCALE={raw!r} must be greater than 0; {hint}")
    if scale > MAX_TIMEOUT_SCALE:
        raise ConfigError(f"LAB_TIMEOUT_SCALE={raw!r} is more than {MAX_TIMEOUT_SCALE:g}; {hint}")
    return scale


@dataclass(frozen=True)
class LabConfig:
    target: str = "auto"
    stores: str = "jaeger-victorialogs"
    image_source: str = "auto"
    lab_host: str | None = None
    endpoints_file: Path | None = None
    destroy: str = "passing"
    timeout_scale: float = 1.0
    project: str = "obslab"
    registry_mirror: str | None = None
    docker_host: str | None = None  # LAB_DOCKER_HOST: the engine that runs an existing lab (control)
    compose_command: str | None = None  # LAB_COMPOSE: "docker compose" or "docker-compose"; None = detect
    bind_address: str = "127.0.0.1"  # LAB_BIND_ADDRESS: where the docker target publishes its ports
    reports_dir: Path = field(default_factory=lambda: REPO_ROOT / "reports")
    repo_root: Path = REPO_ROOT
    vm: VmSettings = field(default_factory=VmSettings)
    # Every LAB_* variable as given (for what only passes them on: the Vagrantfile and the compose
    # files of the VM interpolate some of them), and secrets given in the environment.
    lab_env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    secrets: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    shard: int | None = None  # this lab serves shard k of a sharded run (see for_shard)

    @property
    def lab_state_dir(self) -> Path:
        """The harness's own files of this lab (``.lab/``: ssh config, VM fingerprint): a folder per
        shard, so two shards' VMs never read or write each other's."""
        root = self.repo_root / ".lab"
        return root / f"shard-{self.shard}" if self.shard else root

    @property
    def lab_reports_dir(self) -> Path:
        """Where this lab's own logs go (vagrant calls, serial console): a folder per shard."""
        return self.reports_dir / f"shard-{self.shard}" if self.shard else self.reports_dir

    def for_shard(self, index: int) -> LabConfig:
        """The lab of shard ``index`` (1-based) of a sharded run: its own compose project and bind
        address (docker), its own VM, VM address, forwarded ports and vagrant state (vagrant), so no
        two shards share anything a scenario could disturb. Deterministic: a run's shard k always
        gets the same lab, and `lab down --shards N` finds them all."""
        if index < 1:
            raise ValueError(f"shard index {index} (shards count from 1)")
        vm = replace(
            self.vm,
            prefix=f"{self.vm.prefix}s{index}-",
            vm_ip=_shift_last_octet(self.vm.vm_ip, index, "LAB_VM_IP"),
            port_offset=self.vm.port_offset + SHARD_PORT_BASE + SHARD_PORT_STEP * index,
        )
        project = f"{self.project}-{index}"
        bind = shard_bind_address(self.bind_address, index)
        reports = self.reports_dir / f"shard-{index}"
        env = {**self.lab_env, "LAB_PROJECT": project, "LAB_BIND_ADDRESS": bind, "LAB_VM_PREFIX": vm.prefix,
               "LAB_VM_IP": vm.vm_ip, "LAB_VM_PORT_OFFSET": str(vm.port_offset),
               "LAB_REPORTS_DIR": str(reports)}
        return replace(self, project=project, bind_address=bind, vm=vm, shard=index,
                       lab_env=MappingProxyType(env))

    @property
    def stack_dir(self) -> Path:
        return self.repo_root / "stack"

    @property
    def has_grafana(self) -> bool:
        return "grafana" in services.provides(self.stores)

    @property
    def host_address(self) -> str:
        """Where the docker target's published ports are reached: a wildcard bind on loopback."""
        return "127.0.0.1" if self.bind_address in ("", "0.0.0.0", "::") else self.bind_address

    @property
    def lab_address(self) -> tuple[str, str] | None:
        """(scheme, host) of ``LAB_HOST``, or None."""
        return split_host(self.lab_host) if self.lab_host else None

    def with_(self, **changes: object) -> LabConfig:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_sources(cls, options: Mapping[str, object | None] | None = None,
                     env: Mapping[str, str] | None = None) -> LabConfig:
        """Build from CLI/pytest options (None = not given) over environment variables."""
        opts = {k: v for k, v in (options or {}).items() if v is not None}
        env = os.environ if env is None else env

        def pick(key: str, env_key: str, default: str | None) -> str | None:
            if key in opts:
                return str(opts[key])
            value = env.get(env_key)
            return value.strip() if value and value.strip() else default

        target = _choice("target", pick("target", "LAB_TARGET", "auto"), TARGETS, "LAB_TARGET", "--target")
        stores = _choice("stores", pick("stores", "LAB_STORES", "jaeger-victorialogs"), STORE_SETS,
                         "LAB_STORES", "--stores")
        image_source = _choice("image_source", pick("image_source", "LAB_IMAGE_SOURCE", "auto"),
                               IMAGE_SOURCES, "LAB_IMAGE_SOURCE", "--image-source")
        destroy = pick("destroy", "LAB_DESTROY", "passing")
        if opts.get("keep"):
            destroy = "never"
        destroy = _choice("destroy", str(destroy), DESTROY_POLICIES, "LAB_DESTROY")  # --keep is "never"
        scale = parse_timeout_scale(pick("timeout_scale", "LAB_TIMEOUT_SCALE", None))

        project = pick("project", "LAB_PROJECT", "obslab") or "obslab"
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", project):
            raise ConfigError(f"LAB_PROJECT={project!r} is not a valid compose project name; "
                              "use lowercase letters, digits, '-' or '_'")

        lab_host = pick("lab_host", "LAB_HOST", None)
        if lab_host:
            split_host(lab_host)  # one-line error now, not when a target first uses it
        endpoints = pick("endpoints_file", "LAB_ENDPOINTS_FILE", None)
        endpoints_file = Path(endpoints) if endpoints else None
        if endpoints_file is not None and not endpoints_file.is_file():
            raise ConfigError(f"LAB_ENDPOINTS_FILE={endpoints!r} does not exist; "
                              "give the path of a file written by `lab endpoints --json`")
        if target == "existing" and not (lab_host or endpoints_file):
            raise ConfigError("target 'existing' needs the lab's address: set LAB_HOST (or --lab-host) "
                              "or LAB_ENDPOINTS_FILE (a `lab endpoints --json` file)")

        compose_command = pick("compose_command", "LAB_COMPOSE", None)
        if compose_command is not None:
            compose_command = " ".join(compose_command.split())
            if compose_command not in COMPOSE_COMMANDS:
                raise ConfigError(f"LAB_COMPOSE={compose_command!r} is not valid; use one of: "
                                  f"{', '.join(repr(c) for c in COMPOSE_COMMANDS)} (or unset it to detect)")

        repo_root = Path(str(opts.get("repo_root", REPO_ROOT)))
        reports = reports_dir(str(opts["reports_dir"]) if "reports_dir" in opts else None, repo_root, env)
        lab_env = {k: v for k, v in env.items() if k.startswith("LAB_")}
        lab_env["LAB_REPORTS_DIR"] = str(reports)
        return cls(
            target=target,
            stores=stores,
            image_source=image_source,
            lab_host=lab_host,
            endpoints_file=endpoints_file,
            destroy=destroy,
            timeout_scale=scale,
            project=project,
            registry_mirror=pick("registry_mirror", "LAB_REGISTRY_MIRROR", None),
            docker_host=pick("docker_host", "LAB_DOCKER_HOST", None),
            compose_command=compose_command,
            bind_address=pick("bind_address", "LAB_BIND_ADDRESS", "127.0.0.1") or "127.0.0.1",
            reports_dir=reports,
            repo_root=repo_root,
            vm=VmSettings.from_env(env, repo_root),
            lab_env=MappingProxyType(lab_env),
            secrets=MappingProxyType({k: env[k] for k in SECRET_VARS if env.get(k)}),
        )
