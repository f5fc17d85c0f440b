"""The one config object: every option of the CLI and of pytest and every ``LAB_*`` variable,
resolved once, validated with one-line errors (what is wrong and what would be right).

This is the only reader of ``LAB_*`` variables: everything else is handed a :class:`LabConfig`
(the VM's settings are in it, :class:`VmSettings`). The options themselves — variable, default,
what they allow, which commands have them — are the rows of :data:`harness.base.options.OPTIONS`,
resolved here in one loop. Precedence: explicit option > environment variable > default; an empty
variable counts as unset, everywhere. ``target`` may stay ``auto`` here;
:func:`harness.lab.targets.choose` resolves it and says why.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from harness.base import options as table
from harness.base import services
from harness.base.errors import ConfigError
from harness.base.options import AUTO as AUTO  # re-exported: the floors above read them here
from harness.base.options import TARGET_CLASSES as TARGET_CLASSES
from harness.base.options import split_host

REPO_ROOT = Path(__file__).resolve().parents[2]

STORE_SETS = services.STORE_SETS
ACCELS = ("auto", "kvm", "tcg")
DEFAULT_BOX = "lab/debian12"
DEFAULT_VM_IP = "10.77.0.10"
# A shard's VM forwards its ports at +SHARD_PORT_BASE + SHARD_PORT_STEP * k on 127.0.0.1: no
# difference of two documented ports is a multiple of 37 below 16 * 37, so no two shards' ports meet
# (tests/harness/test_shards.py checks it against the catalogue).
SHARD_PORT_BASE = 20000
SHARD_PORT_STEP = 37


def reports_dir(option: str | None, base: Path, env: Mapping[str, str] | None = None) -> Path:
    """Where reports go: the option (``--reports-dir``), else ``LAB_REPORTS_DIR``, else ``reports/``
    under ``base``; a relative path is taken from the current directory."""
    env = os.environ if env is None else env
    row = table.OPTIONS["reports_dir"]
    chosen = row.text({row.key: (option or "").strip() or None}, env)
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


def _default(name: str) -> Any:
    """The default of a row of the options table, as its field holds it."""
    return table.OPTIONS[name].value({}, {})


@dataclass(frozen=True)
class LabConfig:
    """The run's settings: a field per ``lab`` row of :data:`harness.base.options.OPTIONS` (the row
    says the variable, the default and what is allowed; a row without a default is None here), plus
    what the run derives from them."""

    target: str = _default("target")
    stores: str = _default("stores")
    topology: str = _default("topology")
    image_source: str = _default("image_source")
    lab_host: str | None = None
    endpoints_file: Path | None = None
    destroy: str = _default("destroy")
    timeout_scale: float = _default("timeout_scale")
    project: str = _default("project")
    registry_mirror: str | None = None
    docker_host: str | None = None  # the engine that runs an existing lab (control)
    compose_command: str | None = None  # None: detected
    bind_address: str = _default("bind_address")  # where the docker target publishes its ports
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
    def split(self) -> bool:
        """The lab is two hosts (``--topology split``): an app host with a collector agent, an
        observability host with the gateway and the stores, one link between them."""
        return self.topology == "split"

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
        """Build from CLI/pytest options (None = not given) over environment variables: every ``lab``
        row of :data:`harness.base.options.OPTIONS`, checked as the row says."""
        opts = {k: v for k, v in (options or {}).items() if v is not None}
        env = os.environ if env is None else env
        values = {row.name: row.value(opts, env) for row in table.rows(scope=table.LAB)
                  if row.name != "reports_dir"}
        repo_root = Path(str(opts.get("repo_root", REPO_ROOT)))
        given_reports = opts.get("reports_dir")
        reports = reports_dir(str(given_reports) if given_reports is not None else None, repo_root, env)
        lab_env = {k: v for k, v in env.items() if k.startswith("LAB_")}
        lab_env["LAB_REPORTS_DIR"] = str(reports)
        secrets = {row.env: value for row in table.rows(scope=table.SECRET)
                   if (value := row.value(opts, env))}
        return cls(
            **values,
            reports_dir=reports,
            repo_root=repo_root,
            vm=VmSettings.from_env(env, repo_root),
            lab_env=MappingProxyType(lab_env),
            secrets=MappingProxyType(secrets),
        )
