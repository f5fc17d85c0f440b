"""The ``vagrant`` target: the lab in a libvirt VM made by the repository's Vagrantfile.

Only the VM is this module's: the box (built here by ``provision/box/build.sh`` when it is
missing), the VM (``vagrant up``, or reuse of a running VM whose configuration is unchanged —
:mod:`harness.lab.vm.state`; KVM or TCG — :mod:`harness.lab.vm.accel`; a boot that stalls —
:mod:`harness.lab.vm.boot`), ssh into it, the forwarded ports, and what a destroy leaves in libvirt
(:mod:`harness.lab.vm.libvirt`). The deploy itself is the docker target's
(:class:`harness.lab.targets.base.DeployingTarget`): files and images shipped first
(:mod:`harness.lab.shipping`), then compose and the health wait run in the VM over ssh
(:class:`harness.lab.runner.SshRunner`, :class:`harness.lab.engine.SshEngine`).

The harness reaches the services through the ports the Vagrantfile forwards to 127.0.0.1 (offset
``LAB_VM_PORT_OFFSET``); ``LAB_HOST`` (or ``LAB_VM_FORWARD_PORTS=0``) uses the VM's address.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.base import timeouts
from harness.base.config import LabConfig
from harness.base.errors import LabError
from harness.base.progress import Display, run
from harness.base.statefile import write_private
from harness.base.waiting import NotYet, WaitTimeout, eventually, scaled
from harness.lab import deploy, images, shipping, testinfra_ssh
from harness.lab.engine import SshEngine
from harness.lab.remote import Remote, ssh_options
from harness.lab.runner import SshRunner
from harness.lab.targets.base import VM, DeployingTarget, Endpoints
from harness.lab.targets.shell import RemoteRootShell
from harness.lab.vm import accel
from harness.lab.vm.boot import BootStalled
from harness.lab.vm.libvirt import Libvirt
from harness.lab.vm.state import fingerprint, load_state, save_state, vm_action
from harness.lab.vm.vagrant_cli import RUNNING, Vagrant, interrupts_deferred

DEPLOY_USER = "deploy"
SSH_CONFIG_FILE = Path("vagrant") / "ssh-config"  # under the lab's state dir (.lab/, or .lab/shard-k/)
ENV_FILE = Path("vagrant") / "lab.env"
BOX_BUILD_SCRIPT = Path("provision") / "box" / "build.sh"
BOX_BUILD_TIMEOUT = 3600.0
SSH_READY_TIMEOUT = timeouts.base("ssh")
TUNNEL_TIMEOUT = 180.0
VM_DIAGNOSTICS_TIMEOUT = 30.0  # one short command over the multiplexed ssh, even under QEMU TCG
ACTION_TITLES = {
    "up": "vagrant up lab (boot; first boot provisions Docker, the deploy user, sshd, firewall)",
    "up-provision": "vagrant up lab --provision",
    "provision": "vagrant provision lab",
    "reload": "vagrant reload lab --provision",
    "recreate": "vagrant destroy -f lab, then vagrant up lab",
}


def build_box(repo_root: Path, display: Display, *, name: str | None = None,
              env: Mapping[str, str] | None = None) -> float:
    """Build the libvirt box the VM boots (``provision/box/build.sh``, debootstrap: minutes, once per
    host) — the one place that does, for `lab box build` and for the first `up` on a host without
    the box; its seconds."""
    script = repo_root / BOX_BUILD_SCRIPT
    if not script.is_file():
        raise LabError(f"{BOX_BUILD_SCRIPT} does not exist in {repo_root}: the box cannot be built here")
    started = time.monotonic()
    argv = [str(script), *(["--name", name] if name else [])]
    run(argv, timeout=scaled(BOX_BUILD_TIMEOUT), cwd=repo_root, env=env, on_line=display.detail).check(
        str(BOX_BUILD_SCRIPT))
    return round(time.monotonic() - started, 1)


@dataclass
class Timings:
    """Seconds per phase of the last ``up`` (printed, and written to reports/vagrant/timings.json)."""

    phases: dict[str, float] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.phases[name] = round(self.phases.get(name, 0.0) + seconds, 1)

    @contextlib.contextmanager
    def timed(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.add(name, time.monotonic() - started)


class VagrantTarget(DeployingTarget):
    """The lab in the libvirt VM ``lab`` of the repository's Vagrantfile."""

    name = "vagrant"
    where_suffix = " in the VM"
    CAPABLE_OF = DeployingTarget.CAPABLE_OF | {VM}
    auto_rank = 1

    @classmethod
    def usable(cls, config: LabConfig) -> tuple[bool, str]:
        """Where Vagrant and libvirt answer (:func:`harness.lab.targets.vagrant_usable`)."""
        from harness.lab import targets

        return targets.vagrant_usable()

    def __init__(self, config: LabConfig, display: Display | None = None):
        super().__init__(config, display)
        self.settings = config.vm
        # What vagrant (and the Vagrantfile it evaluates) sees: this process's environment with the
        # run's LAB_* settings; LAB_VM_ACCEL is made explicit before the first boot (see accel()).
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("LAB_")}, **config.lab_env}
        if config.shard:  # each shard's VM keeps its own vagrant state (machine ids, tunnels' pids)
            self.env["VAGRANT_DOTFILE_PATH"] = str(config.repo_root / ".vagrant" / f"shard-{config.shard}")
        self.vagrant = Vagrant(
            config.repo_root,
            log_dir=config.lab_reports_dir / "vagrant",
            display=self.display,
            env=self.env,
            serial_log=self.serial_log,
        )
        self.libvirt = Libvirt(self.settings.prefix, self.settings.box, self.display)
        self.timings = Timings()
        self._accel: tuple[str, str] | None = None
        self._vm_running: bool | None = None
        self._ssh_config: Path | None = None
        self._deploy: Remote | None = None
        self._admin: Remote | None = None
        self._engine: SshEngine | None = None

    # where things are --------------------------------------------------------------------------------
    @property
    def repo_root(self) -> Path:
        return self.config.repo_root

    @property
    def serial_log(self) -> Path:
        """The VM's serial console, where the Vagrantfile has libvirt write it."""
        return self.config.lab_reports_dir / "vagrant" / "serial-lab.log"

    def endpoints(self) -> Endpoints:
        """Forwarded ports on 127.0.0.1 (plus ``LAB_VM_PORT_OFFSET``); ``LAB_HOST`` or
        ``LAB_VM_FORWARD_PORTS=0``: the VM's address with the documented ports."""
        stores = self.config.stores
        if self.config.lab_address:
            scheme, host = self.config.lab_address
            return Endpoints.for_host(host, self.name, stores, scheme=scheme)
        if not self.settings.forward_ports:
            return Endpoints.for_host(self.settings.vm_ip, self.name, stores)
        return Endpoints.for_host("127.0.0.1", self.name, stores, port_offset=self.settings.port_offset)

    def ssh_config_path(self) -> Path:
        """The ssh config file of the running VM (``vagrant ssh-config lab`` + multiplexing), written
        on first use by this process."""
        if self._ssh_config is None:
            path = self.config.lab_state_dir / SSH_CONFIG_FILE
            write_private(path, self.vagrant.ssh_config().render(ssh_options()))
            self._ssh_config = path
        return self._ssh_config

    @property
    def deploy_remote(self) -> Remote:
        """ssh as the ``deploy`` user (group docker): deploy, compose and service control."""
        if self._deploy is None:
            self._deploy = Remote(self.ssh_config_path(), "lab", user=DEPLOY_USER,
                                  identity=self.settings.deploy_key)
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

    def runner(self, plan: deploy.DeployPlan) -> SshRunner:
        return SshRunner(self.deploy_remote, cwd=f"{shipping.REMOTE_DIR}/stack",
                         env_file=f"../{shipping.ENV_FILE_NAME}")

    def compose_files(self, plan: deploy.DeployPlan) -> list[str]:
        return [f.name for f in plan.files]  # in ~/obslab/stack of the VM

    def vm_running(self, refresh: bool = False) -> bool:
        """Whether the VM runs — read from ``vagrant status`` (once per process unless ``refresh``)."""
        if self._vm_running is None or refresh:
            self._vm_running = self.vagrant.state() == RUNNING
        return self._vm_running

    def _forget_connections(self) -> None:
        self._ssh_config = None  # the address may have changed
        self._deploy = self._admin = self._engine = None

    # the VM's accelerator ------------------------------------------------------------------------------
    def accel(self) -> tuple[str, str]:
        """The accelerator a new VM boots with and why (:func:`harness.lab.vm.accel.decide`); passed to
        the Vagrantfile as LAB_VM_ACCEL, so both agree, and so does the fingerprint."""
        if self._accel is None:
            self._use_accel(*accel.decide(self.settings.accel, self.repo_root, self.env))
        assert self._accel is not None
        return self._accel

    def _use_accel(self, which: str, why: str) -> None:
        self._accel = (which, why)
        self.env["LAB_VM_ACCEL"] = which
        self.vagrant.set_env("LAB_VM_ACCEL", which)

    def _boot(self, action: str) -> None:
        """One vagrant action that boots the VM. A boot that stalls under KVM chosen automatically
        (KVM that hangs guests) is recorded for this host and retried once under TCG; any other
        stall is one line saying what was seen and what to do."""
        calls = {
            "up": lambda: self.vagrant.up(),
            "up-provision": lambda: self.vagrant.up(provision=True),
            "provision": lambda: self.vagrant.provision(),
            "reload": lambda: self.vagrant.reload(provision=True),
            "recreate": lambda: (self.vagrant.destroy(), self.vagrant.up()),
        }
        which, why = self.accel()
        try:
            calls[action]()
            return
        except BootStalled as stalled:
            failure = stalled
            if which == "kvm" and self.settings.accel == "auto":
                self.display.info(
                    f"the VM hung at boot under KVM ({stalled.last or 'no output'}); KVM on this host hangs "
                    "guests: recording that and retrying once under TCG (LAB_VM_ACCEL=tcg skips KVM)"
                )
                accel.record_no_kvm(self.repo_root, self.env,
                                    f"a lab VM hung at boot under KVM: {stalled.last}")
                self.vagrant.destroy()
                self._use_accel("tcg", "a KVM guest hung at boot; TCG from now on (kvm-works.sh cache)")
                self.timings.facts["accel_fallback"] = stalled.last
                try:
                    self.vagrant.up()
                    return
                except BootStalled as again:
                    failure = again
        current = self.env["LAB_VM_ACCEL"]
        advice = ("set LAB_VM_ACCEL=tcg if KVM hangs guests on this host" if current == "kvm"
                  else "rebuild the box with `lab box build`")
        raise LabError(f"the VM did not boot under {current.upper()} ({why}): {failure} — "
                       f"see {self.serial_log}; {advice}") from None

    # lifecycle -----------------------------------------------------------------------------------------
    def up(self, wait_timeout: float = deploy.WAIT_TIMEOUT) -> None:
        """Box, VM, ssh, tunnels, then the shared deploy (files and images shipped first)."""
        started = time.monotonic()
        self.timings = Timings()
        with self.timings.timed("box"):
            self.ensure_box()
        with self.timings.timed("vm"):
            self.ensure_vm()
        with self.timings.timed("ssh"):
            self.wait_ssh()
            self.ensure_tunnels()
        super().up(wait_timeout=wait_timeout)
        for name, seconds in (self.deployment.timings if self.deployment else {}).items():
            self.timings.add(name, seconds)
        self.timings.add("total", time.monotonic() - started)
        self._write_timings()
        self.display.info(
            "vagrant timings: " + ", ".join(f"{k} {v:.0f}s" for k, v in self.timings.phases.items())
        )

    def prepare(self, plan: deploy.DeployPlan) -> None:
        """Files and images into the VM (only what changed)."""
        with self.timings.timed("deploy-files"):
            binary = self.repo_root / images.HEALTHCHECK_BINARY
            if not binary.is_file() and plan.needs_healthcheck_binary():
                images.build(["healthcheck"], display=self.display, repo_root=self.repo_root)
            env = shipping.remote_env(plan, self.config.lab_env, self.settings.bind_address)
            shipping.sync_files(self.deploy_remote, self.repo_root, env, self.config.lab_state_dir / ENV_FILE,
                                self.display)
        with self.timings.timed("images"):
            self.ship_images(plan)

    def ship_images(self, plan: deploy.DeployPlan) -> None:
        if plan.image_source != "local":
            self.display.info("images: the VM pulls them from the registry (compose up)")
            return
        deploy.ensure_local_images(plan, self.local_engine, self.display, self.repo_root)
        wanted = images.required_local_images(plan.stores)
        sent, result = shipping.send_images(wanted, self.local_engine, self.engine, self.deploy_remote,
                                            self.display)
        self.timings.facts["images_sent"] = sent
        self.timings.facts["image_transfer"] = {
            "bytes": result.bytes if result else 0,
            "seconds": round(result.seconds, 1) if result else 0.0,
        }

    def _write_timings(self) -> None:
        """``timings.json`` (the last ``up``) and one line per ``up`` in ``timings.jsonl``."""
        directory = self.config.lab_reports_dir / "vagrant"
        record = {"at": time.strftime("%Y-%m-%dT%H:%M:%S"), "phases_s": self.timings.phases,
                  **self.timings.facts}
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
        with self.display.phase(f"box {box}: building it ({BOX_BUILD_SCRIPT}; minutes, once per host)"):
            seconds = build_box(self.repo_root, self.display, name=box, env=self.env)
            self.timings.facts["box_build_s"] = seconds
        if box not in self.vagrant.box_names():
            raise LabError(f"{BOX_BUILD_SCRIPT} finished but vagrant has no box {box}")

    def ensure_vm(self) -> None:
        """``vagrant up`` / reuse / provision / reload / recreate, decided from the state vagrant reports
        and the configuration fingerprint of the running VM (``vagrant-state.json``, lab state dir)."""
        which, why = self.accel()  # first: LAB_VM_ACCEL is part of the fingerprint
        state = self.vagrant.state()
        current = fingerprint(self.repo_root, self.env)
        saved_all = load_state(self.config.lab_state_dir)
        saved = saved_all.get("fingerprint") if saved_all.get("domain") == self.settings.domain else None
        action, reason = vm_action(state, saved, current)
        self.display.info(f"VM {self.settings.domain}: {state}; {reason}")
        self.timings.facts.update(accel=which, vm_action=action)
        if action != "reuse":
            self.display.info(f"VM accelerator: {which.upper()} ({why})")
            save_state(self.config.lab_state_dir, None)  # the VM's config is unknown until the action ends
            with self.display.phase(ACTION_TITLES[action]):
                self._boot(action)
            current = fingerprint(self.repo_root, self.env)  # after a fallback to TCG
        if self.vagrant.state() != RUNNING:
            raise LabError(f"the VM is not running after {action} (logs under {self.vagrant.log.directory})")
        self._vm_running = True
        self._forget_connections()
        save_state(self.config.lab_state_dir, {"fingerprint": current, "domain": self.settings.domain,
                                    "box": self.settings.box, "at": time.strftime("%Y-%m-%dT%H:%M:%S")})

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
                f"{self.ssh_config_path()}; serial log {self.serial_log})"
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

        result = run([str(script)], timeout=scaled(TUNNEL_TIMEOUT), cwd=self.repo_root, env=self.env,
                     on_line=show)
        if not result.ok:
            raise LabError(
                "forwarded ports of the VM are not all up (provision/host/forward-ports.sh):\n"
                + result.tail(12)
            )

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
        super().down(volumes=False)
        self._close_masters()
        with self.display.phase("vagrant halt lab (the VM's disk and the volumes on it are kept)"):
            self.vagrant.halt()
        self._vm_running = False

    def _destroy(self) -> None:
        self._close_masters()
        with self.display.phase(f"vagrant destroy -f lab (domain {self.settings.domain})"):
            self.vagrant.destroy()
        save_state(self.config.lab_state_dir, None)
        self._vm_running = False
        with (
            self.display.phase("removing what vagrant-libvirt leaves in the default pool"),
            self.vagrant.lock("remove the box volume"),  # an `up` elsewhere may be uploading it
        ):
            self.libvirt.remove_leftovers()
        left = self.libvirt.leftovers()
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

    # state ---------------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Service -> state in the VM ({} when the VM does not run)."""
        if not self.vm_running():
            return {}
        try:
            return self.engine.states()
        except LabError:
            if not self.vm_running(refresh=True):
                return {}
            self._forget_connections()
            return self.engine.states()

    def host_port(self, port: int) -> int:
        """A VM port as the harness reaches it: forwarded with ``LAB_VM_PORT_OFFSET`` unless the VM's
        address is used."""
        if self.config.lab_host or not self.settings.forward_ports:
            return port
        return port + self.settings.port_offset

    def testinfra_host(self, service: str | None = None) -> str:
        """The VM as the ``vagrant`` user (sudo for sshd -T and the like), or a service's container
        through ``docker exec`` in the VM (:mod:`harness.lab.testinfra_ssh`)."""
        config = self.ssh_config_path()
        if service is None:
            return testinfra_ssh.vm_hostspec(config)
        return testinfra_ssh.container_hostspec(config, self.engine.container(service).id, user=DEPLOY_USER)

    def host_shell(self) -> RemoteRootShell:
        """The VM runs the containers: the ``vagrant`` user's passwordless sudo over ssh."""
        return RemoteRootShell(self.admin_remote)

    def close(self) -> None:
        self._close_masters()
        super().close()

    def vm_facts(self) -> dict[str, Any]:
        """For evidence: domain, box, address, forwarded ports."""
        return {"domain": self.settings.domain, "box": self.settings.box, "vm_ip": self.settings.vm_ip,
                "port_offset": self.settings.port_offset, "forward_ports": self.settings.forward_ports}

    def vm_diagnostics(self, tail: int = 50) -> dict[str, str]:
        """What the VM itself says after a failed scenario: its failed systemd units and the end of
        its kernel log (OOM kills, disk errors), read as the admin user (Debian restricts dmesg to
        root). A command that fails is one line saying so, so that it does not hide the other."""
        commands = {
            "systemctl --failed": "systemctl --failed --no-pager",
            "dmesg": f"sudo -n dmesg --ctime 2>&1 | tail -n {int(tail)}",
        }
        out = {}
        for name, command in commands.items():
            result = self.admin_remote.run(command, timeout=VM_DIAGNOSTICS_TIMEOUT, record=False)
            try:
                out[name] = result.check(f"{name} in the VM").output
            except LabError as exc:
                out[name] = " ".join(str(exc).split())
        return out
