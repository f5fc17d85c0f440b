"""Vagrant, driven from Python with what python-vagrant lacks.

python-vagrant (pinned in requirements/harness.txt) builds the command lines and names the states,
but it runs ``vagrant`` with no timeout, keeps no record and assumes nothing can go wrong twice. A
``vagrant up`` under QEMU TCG can hang for an hour on a bad box, and two runs on one host must not
race on the same libvirt pool. So :class:`Vagrant` here routes every call python-vagrant makes
through :func:`harness.base.progress.run` and adds:

- a timeout on every call (base seconds per subcommand, scaled by ``LAB_TIMEOUT_SCALE``);
- the output of every call appended to ``reports/vagrant/<timestamp>-<command>.log`` as it comes;
- a host-wide file lock around ``up`` (the same file ``provision/box/build.sh`` flocks around
  ``vagrant box add``: ``/var/lock/obslab-vagrant.lock``, ``LAB_VAGRANT_LOCK`` moves it);
- state read from ``vagrant status --machine-readable`` every time it matters, never assumed;
- one retry of a failed ``up``, after a ``destroy -f``;
- a boot watchdog on ``up``/``reload``: from "Starting domain" until the guest is booted, the
  VM's serial console log must keep growing; a guest that prints nothing for a bounded time is
  stopped (:class:`BootStalled`) instead of being waited for until the timeout — on hosts whose
  nested KVM hangs guests, that is minutes instead of hours;
- the SSH config parsed from ``vagrant ssh-config lab`` and written to a file for ``ssh -F``.

Ctrl-C: the running vagrant process group is killed (progress.run), the lock is released (context
manager), and the caller's lifecycle decides whether to destroy what was half made.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shlex
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from harness.base import timeouts
from harness.base.errors import LabError
from harness.base.progress import CommandResult, Display, run
from harness.base.waiting import scaled
from harness.lab.vm.boot import BootStalled, BootWatch, stall_after

VM_NAME = "lab"
DEFAULT_LOCK = Path("/var/lock/obslab-vagrant.lock")

# Base timeouts (seconds, before LAB_TIMEOUT_SCALE) per vagrant subcommand: a few times what each
# takes here under QEMU TCG (measured: `up` 46-76 s with the box present, box import included; the
# shell provisioner is quick because the box has Docker). A hung boot is caught much earlier by the
# boot watchdog; these bound everything else.
TIMEOUTS: dict[str, float] = {
    "up": 300.0,
    "reload": 300.0,
    "provision": 300.0,
    "destroy": 300.0,
    "halt": 300.0,
    "status": 120.0,
    "ssh-config": 120.0,
    "box": 900.0,
    "validate": 120.0,
    "--version": 60.0,
    "plugin": 120.0,
    "global-status": 120.0,
}
DEFAULT_TIMEOUT = timeouts.base("vm")
LOCK_TIMEOUT = 3600.0  # another run's `up` (or box build) may hold the lock that long under TCG

# Which subcommands show their output as progress (the long ones); the others are only logged.
STREAMED = frozenset({"up", "reload", "provision", "destroy", "halt", "box add"})
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_PROGRESS = re.compile(r"^Progress:\s*(\d+)%")

RUNNING = "running"
NOT_CREATED = "not_created"
POWEROFF = "poweroff"  # libvirt "shutoff", normalised the way python-vagrant does
SAVED = "saved"  # libvirt "paused"

_MACHINE_LINE = re.compile(r"^\d+,[^,]*,[^,]+(,|$)")



class VagrantError(LabError):
    """A vagrant call failed or timed out; the message names the log file with its whole output."""

    def __init__(self, message: str, result: CommandResult | None = None, log: Path | None = None):
        super().__init__(message)
        self.result = result
        self.log = log


@dataclass(frozen=True)
class MachineStatus:
    """One machine's line of ``vagrant status``."""

    name: str
    state: str  # running, not_created, poweroff, saved, aborted, …  (libvirt names normalised)
    provider: str | None


@dataclass(frozen=True)
class SshConfig:
    """The Host block ``vagrant ssh-config`` prints, parsed (keys as printed: HostName, User, …)."""

    host: str
    options: dict[str, str] = field(default_factory=dict)
    text: str = ""

    @property
    def hostname(self) -> str:
        return self.options.get("HostName", self.host)

    @property
    def user(self) -> str:
        return self.options.get("User", "vagrant")

    @property
    def port(self) -> int:
        return int(self.options.get("Port", "22"))

    @property
    def identity_files(self) -> list[str]:
        """Every ``IdentityFile`` line (vagrant may print several), in order."""
        out = []
        for line in self.text.splitlines():
            key, _, value = line.strip().partition(" ")
            if key == "IdentityFile":
                out.append(value.strip().strip('"'))
        return out

    def render(self, extra: Mapping[str, str] | None = None) -> str:
        """An ssh config file: the block as vagrant printed it, plus harness options (multiplexing,
        quiet logging) that the block does not set itself."""
        lines = [f"Host {self.host}"]
        for raw in self.text.splitlines():
            stripped = raw.strip()
            if not stripped or stripped.startswith("#") or stripped.startswith("Host "):
                continue
            lines.append(f"  {stripped}")
        present = {k.lower() for k in self.options}
        for key, value in (extra or {}).items():
            if key.lower() not in present:
                lines.append(f"  {key} {value}")
        return "\n".join(lines) + "\n"


def unescape(value: str) -> str:
    """Vagrant's machine-readable escapes: ``%!(VAGRANT_COMMA)`` and literal ``\\n``."""
    return value.replace("%!(VAGRANT_COMMA)", ",").replace("\\n", "\n").replace("\\r", "")


def parse_machine_readable(output: str) -> list[tuple[str, str, str, str]]:
    """``timestamp,target,kind,data`` lines -> tuples; anything else (warnings, plugin noise that
    vagrant prints on stderr, which our runner interleaves) is ignored."""
    rows = []
    for line in output.splitlines():
        line = line.rstrip("\r")
        if not _MACHINE_LINE.match(line):
            continue
        parts = line.split(",", 3)
        while len(parts) < 4:
            parts.append("")
        rows.append((parts[0], parts[1], parts[2], unescape(parts[3])))
    return rows


def parse_status(output: str) -> list[MachineStatus]:
    """Every machine in ``vagrant status --machine-readable`` output, with libvirt states normalised
    (``shutoff`` -> ``poweroff``, ``paused`` -> ``saved``, as python-vagrant does).

    Raises :class:`VagrantError` when vagrant reported an ``error-exit`` instead.
    """
    rows = [r for r in parse_machine_readable(output) if r[2] not in ("metadata", "ui", "action")]
    errors = [r for r in rows if r[2] == "error-exit"]
    if errors:
        _, _, _, data = errors[0]
        kind, _, text = data.partition(",")
        raise VagrantError(f"vagrant status: {kind}: {' '.join(text.split())[:300]}")
    statuses = []
    order: list[str] = []
    info: dict[str, dict[str, str]] = {}
    for _, target, kind, data in rows:
        if not target:
            continue
        if target not in info:
            info[target] = {}
            order.append(target)
        info[target][kind] = data
    for name in order:
        provider = info[name].get("provider-name")
        state = info[name].get("state", "unknown")
        if provider == "libvirt":
            state = {"shutoff": POWEROFF, "paused": SAVED}.get(state, state)
        statuses.append(MachineStatus(name=name, state=state, provider=provider))
    return statuses


def parse_ssh_config(output: str, host: str | None = None) -> SshConfig:
    """The first ``Host`` block of ``vagrant ssh-config`` output (or the one for ``host``).

    Lines before the block (warnings vagrant prints on stderr) are skipped; ``IdentityFile`` may
    repeat (the last one wins in ``options``, all are kept in ``text``).
    """
    block: list[str] = []
    name: str | None = None
    options: dict[str, str] = {}
    for raw in output.splitlines():
        stripped = raw.strip()
        if stripped.startswith("Host "):
            if name is not None:
                break
            candidate = stripped.split(None, 1)[1].strip()
            if host is not None and candidate != host:
                continue
            name = candidate
            block.append(stripped)
            continue
        if name is None or not stripped or stripped.startswith("#"):
            continue
        if not raw[:1].isspace() and " " not in stripped:
            break  # a line that is not an indented "Key value" pair ends the block
        key, _, value = stripped.partition(" ")
        options[key] = value.strip().strip('"')
        block.append(stripped)
    if name is None:
        raise VagrantError(
            f"no Host block{f' for {host}' if host else ''} in vagrant ssh-config output: "
            f"{' '.join(output.split())[:200]!r}"
        )
    return SshConfig(host=name, options=options, text="\n".join(block))


def lock_path(env: Mapping[str, str] | None = None) -> Path:
    """The host-wide lock file: ``LAB_VAGRANT_LOCK``, else ``/var/lock/obslab-vagrant.lock`` (shared
    with provision/box/build.sh), else — when /var/lock is not writable, as for a non-root user —
    ``~/.cache/obslab/vagrant.lock`` (then only runs of that user exclude each other)."""
    env = os.environ if env is None else env
    if env.get("LAB_VAGRANT_LOCK"):
        return Path(env["LAB_VAGRANT_LOCK"])
    if os.access(DEFAULT_LOCK.parent, os.W_OK) or (
        DEFAULT_LOCK.exists() and os.access(DEFAULT_LOCK, os.W_OK)
    ):
        return DEFAULT_LOCK
    return Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "obslab" / "vagrant.lock"


def timeout_for(args: Sequence[str]) -> float:
    """Base timeout of a vagrant command (``args`` without the executable)."""
    return TIMEOUTS.get(args[0] if args else "", DEFAULT_TIMEOUT)


_counter = itertools.count()


class CallLog:
    """One file per vagrant call under ``<reports>/vagrant/``: command, output as it comes, outcome."""

    def __init__(self, directory: Path):
        self.directory = directory

    @contextlib.contextmanager
    def open(self, args: Sequence[str], cwd: Path, timeout: float) -> Iterator[tuple[Path, IO[str]]]:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now().strftime("%Y%m%dT%H%M%S.%f")[:-3]
        sub = next((a for a in args[1:] if a and not a.startswith("-")), args[-1] if args else "vagrant")
        name = re.sub(r"[^\w.-]", "_", sub)
        path = self.directory / f"{stamp}-{next(_counter):03d}-{name}.log"
        with path.open("a", encoding="utf-8") as fh:
            fh.write(f"# {shlex.join(args)}\n# cwd {cwd}\n# timeout {timeout:.0f}s\n")
            fh.flush()
            yield path, fh


class ProgressFilter:
    """Vagrant redraws "Progress: N%" with carriage returns (one line each once split): keep a line
    per 10 % step, drop ANSI escapes, pass everything else."""

    def __init__(self, step: int = 10):
        self.step = step
        self.last = -step

    def __call__(self, line: str) -> str | None:
        text = _ANSI.sub("", line).strip("\r")
        match = _PROGRESS.match(text.strip())
        if match is None:
            return text
        percent = int(match[1])
        if percent < self.last + self.step and percent != 100:
            return None
        if percent == 100 and self.last == 100:
            return None
        self.last = percent
        return text.strip()


class _PythonVagrant:
    """python-vagrant's ``Vagrant`` with its three subprocess methods routed through ``call``.

    Built lazily (importing python-vagrant warns when vagrant is not on PATH).
    """

    def __new__(cls, root: Path, env: Mapping[str, str], call: Callable[[list[str]], CommandResult]) -> Any:
        import logging

        # python-vagrant logs "The Vagrant executable cannot be found" at import when vagrant is
        # missing; the harness says that itself, in one line with what to do.
        logging.getLogger("vagrant").addHandler(logging.NullHandler())
        import vagrant as python_vagrant

        class Timed(python_vagrant.Vagrant):  # type: ignore[misc]
            def _call_vagrant_command(self, args: list[Any]) -> None:
                call(self._make_vagrant_command(args))

            def _run_vagrant_command(self, args: list[Any]) -> str:
                return call(self._make_vagrant_command(args)).output

            def _stream_vagrant_command(self, args: list[Any]) -> Iterator[str]:
                yield from call(self._make_vagrant_command(args)).output.splitlines(keepends=True)

            def _make_vagrant_command(self, args: list[Any]) -> list[str]:
                try:
                    return [str(a) for a in super()._make_vagrant_command(args)]
                except RuntimeError:
                    raise VagrantError(
                        "vagrant is not on PATH; run provision/host/setup.sh (Debian's vagrant and "
                        "vagrant-libvirt) or use --target docker"
                    ) from None

        return Timed(root=str(root), env=dict(env))


class Vagrant:
    """The lab's Vagrant environment (the repository's Vagrantfile, machine ``lab``)."""

    def __init__(
        self,
        root: Path,
        *,
        log_dir: Path,
        display: Display | None = None,
        env: Mapping[str, str] | None = None,
        vm: str = VM_NAME,
        lock_file: Path | None = None,
        lock_timeout: float = LOCK_TIMEOUT,
        serial_log: Path | None = None,
    ):
        self.root = Path(root)
        self.serial_log = serial_log  # the VM's serial console (the Vagrantfile writes it), for the watchdog
        self._boot_watch: BootWatch | None = None
        self.vm = vm
        self.display = display if display is not None else Display.silent()
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault("VAGRANT_DEFAULT_PROVIDER", "libvirt")
        self.log = CallLog(Path(log_dir))
        self.lock_file = lock_file if lock_file is not None else lock_path(self.env)
        self.lock_timeout = lock_timeout
        self.logs: list[Path] = []  # every call's log file, in order (for error messages)
        self._pv: Any = None

    # plumbing ----------------------------------------------------------------------------------
    @property
    def python_vagrant(self) -> Any:
        if self._pv is None:
            self._pv = _PythonVagrant(self.root, self.env, self._call)
        return self._pv

    def _call(self, argv: list[str], watch: BootWatch | None = None) -> CommandResult:
        """Run one vagrant command line with its timeout; log it; raise VagrantError unless it worked
        (:class:`BootStalled` when ``watch`` stopped it)."""
        if watch is None and argv[1:2] in (["up"], ["reload"]):
            watch = self._boot_watch
        timeout = scaled(timeout_for(argv[1:]))
        words = [a for a in argv[1:3] if a and not a.startswith("-")]
        stream = bool(words) and (words[0] in STREAMED or " ".join(words) in STREAMED)
        with self.log.open(argv, self.root, timeout) as (path, fh):
            self.logs.append(path)
            shown = ProgressFilter()
            started = time.monotonic()

            def on_line(line: str) -> None:
                text = shown(line)
                if text is None:
                    return
                fh.write(f"[{time.monotonic() - started:7.1f}s] {text}\n")  # when, for the timings
                fh.flush()
                if watch is not None:
                    watch.on_line(text)
                if stream and text.strip():
                    self.display.detail(text.strip())

            try:
                result = run(argv, timeout=timeout, cwd=self.root, env=self.env, on_line=on_line, watch=watch)
            except BaseException:
                fh.write("# interrupted\n")
                raise
            outcome = (
                f"stopped: {result.stopped}" if result.stopped
                else "timed out" if result.timed_out else f"exit {result.exit_code}"
            )
            fh.write(f"# {outcome} after {result.duration:.1f}s\n")
        if result.stopped and watch is not None:
            raise BootStalled(
                f"`vagrant {' '.join(argv[1:3])}` stopped: {result.stopped} (log: {path})",
                last=watch.last_line, result=result, log=path,
            )
        if not result.ok:
            why = (
                f"timed out after {result.duration:.0f}s"
                if result.timed_out
                else f"exited {result.exit_code}"
            )
            raise VagrantError(
                f"`{shlex.join(['vagrant', *argv[1:]])}` {why} (log: {path})\n{result.tail(15)}",
                result=result,
                log=path,
            )
        return result

    @contextlib.contextmanager
    def lock(self, why: str) -> Iterator[None]:
        """The host-wide lock (waits, showing who waits for what, at most ``lock_timeout`` scaled)."""
        import filelock

        self.lock_file.parent.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(self.lock_file), timeout=scaled(self.lock_timeout))
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            self.display.info(
                f"waiting for the vagrant lock {self.lock_file} (another run holds it) to {why}"
            )
            try:
                lock.acquire()
            except filelock.Timeout:
                raise VagrantError(
                    f"the vagrant lock {self.lock_file} was held by another process for "
                    f"{scaled(self.lock_timeout):.0f}s; is a box build or `vagrant up` stuck?"
                ) from None
        try:
            yield
        finally:
            lock.release()

    # state ---------------------------------------------------------------------------------------
    def version(self) -> str:
        return str(self.python_vagrant.version())

    def statuses(self) -> list[MachineStatus]:
        """Every machine of the Vagrantfile as ``vagrant status --machine-readable`` reports it."""
        output = self.python_vagrant._run_vagrant_command(["status", "--machine-readable"])
        return parse_status(output)

    def state(self) -> str:
        """The lab machine's state, read now (``not_created``, ``running``, ``poweroff``, …)."""
        output = self.python_vagrant._run_vagrant_command(["status", "--machine-readable", self.vm])
        for status in parse_status(output):
            if status.name == self.vm:
                return status.state
        raise VagrantError(f"vagrant status does not mention machine {self.vm!r}: {output[-300:]!r}")

    def ssh_config(self) -> SshConfig:
        """``vagrant ssh-config lab``, parsed (the machine must be running)."""
        return parse_ssh_config(self.python_vagrant.ssh_config(vm_name=self.vm), host=self.vm)

    def box_names(self) -> set[str]:
        """Names of the boxes vagrant has (``vagrant box list``)."""
        return {box.name for box in self.python_vagrant.box_list()}

    # actions ---------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _watching(self) -> Iterator[None]:
        self._boot_watch = BootWatch(self.serial_log, stall_after()) if self.serial_log else None
        try:
            yield
        finally:
            self._boot_watch = None

    def up(self, provision: bool | None = None, retry: bool = True) -> None:
        """``vagrant up lab`` under the host lock; on failure ``destroy -f`` and one more ``up``.

        A boot that stalls (:class:`BootStalled`) is not retried here: the same boot would stall
        again; the caller decides (the vagrant target retries once under TCG when it chose KVM
        itself). Afterwards the state is read back: only ``running`` counts as up.
        """
        with self.lock("bring the lab VM up"):
            try:
                self._up(provision)
            except BootStalled:
                raise
            except VagrantError as first:
                if not retry:
                    raise
                self.display.info(
                    f"vagrant up failed ({_first_line(first)}); destroying the machine and trying once more"
                )
                self.destroy()
                try:
                    self._up(None)
                except VagrantError as second:
                    raise VagrantError(
                        f"vagrant up failed twice.\nfirst: {first}\nsecond (after destroy): {second}",
                        result=second.result,
                        log=second.log,
                    ) from None
        state = self.state()
        if state != RUNNING:
            raise VagrantError(
                f"after vagrant up the machine {self.vm} is {state!r}, not running (logs: "
                f"{', '.join(str(p) for p in self.logs[-3:])})"
            )

    def _up(self, provision: bool | None) -> None:
        with self._watching():
            self.python_vagrant.up(
                vm_name=self.vm, provider=self.env.get("VAGRANT_DEFAULT_PROVIDER"), provision=provision
            )

    def set_env(self, name: str, value: str) -> None:
        """Change one variable for the next calls (python-vagrant keeps its own copy: rebuilt)."""
        self.env[name] = value
        self._pv = None

    def provision(self) -> None:
        """Run the provisioners again on the running machine (idempotent bootstrap)."""
        self.python_vagrant.provision(vm_name=self.vm)

    def reload(self, provision: bool = True) -> None:
        """Restart the machine with the Vagrantfile's current settings, under the host lock."""
        with self.lock("reload the lab VM"), self._watching():
            self.python_vagrant.reload(vm_name=self.vm, provision=provision)

    def halt(self) -> None:
        self.python_vagrant.halt(vm_name=self.vm)

    def destroy(self) -> None:
        """``vagrant destroy -f lab`` (a machine that does not exist is fine)."""
        self.python_vagrant.destroy(vm_name=self.vm)


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


@contextlib.contextmanager
def interrupts_deferred(display: Display | None = None) -> Iterator[list[int]]:
    """Hold SIGINT until the block ends (teardown must not be cut in half by a second Ctrl-C);
    does nothing outside the main thread. Yields the list of signals that arrived meanwhile."""
    import signal
    import threading

    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def note(signum: int, _frame: object) -> None:
        received.append(signum)
        if display is not None:
            display.info("interrupt noted: finishing the teardown first (it has its own timeout)")

    previous = signal.signal(signal.SIGINT, note)
    try:
        yield received
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt
