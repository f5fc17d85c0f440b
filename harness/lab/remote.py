"""SSH, rsync and image transfer to a host the harness deployed (the lab VM), through one ssh
config file.

Everything goes through ``ssh -F <file>``: the file is the block ``vagrant ssh-config`` printed,
plus connection multiplexing (one TCP+key exchange for hundreds of short ``docker`` calls — under
QEMU TCG a fresh handshake costs about a second) and quiet logging (so ``ssh``'s own warnings do
not end up in the output we parse). The Docker SDK is not used over ``ssh://``: it cannot be given
an ssh config file, and the VM's address, user and key exist only in that file.

Every call is bounded (:func:`harness.base.progress.run` or, for the ``docker save | ssh docker load``
pipe, a watchdog that kills both ends) and leaves evidence.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.base import evidence, timeouts
from harness.base.errors import LabError
from harness.base.progress import CommandResult, kill_group, run
from harness.base.waiting import scaled

SSH_TIMEOUT = timeouts.base("exec")
CHUNK = 1 << 20


def control_dir() -> Path:
    """A private directory for ssh control sockets, short enough for the 108-byte socket path limit."""
    path = Path(tempfile.gettempdir()) / f"obslab-ssh-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def ssh_options(persist_seconds: int = 120) -> dict[str, str]:
    """What the harness adds to vagrant's ssh config block (only options the block does not set)."""
    return {
        "ControlMaster": "auto",
        "ControlPath": str(control_dir() / "%C"),
        "ControlPersist": f"{persist_seconds}s",
        "LogLevel": "ERROR",
        "BatchMode": "yes",
        "ConnectTimeout": "20",
        "ServerAliveInterval": "15",
        "ServerAliveCountMax": "4",
    }


def remote_command(command: Sequence[str] | str) -> str:
    """The shell text ssh sends: a list is quoted word by word, a string is taken as shell code."""
    return command if isinstance(command, str) else shlex.join(command)


@dataclass(frozen=True)
class TransferResult:
    bytes: int
    seconds: float
    output: str  # what the receiving end printed (e.g. "Loaded image: lab/backend:local")

    @property
    def mib(self) -> float:
        return self.bytes / (1 << 20)

    @property
    def rate(self) -> float:
        """MiB/s."""
        return self.mib / self.seconds if self.seconds > 0 else 0.0


class Remote:
    """One host (``host`` as named in the ssh config file), as one user."""

    def __init__(self, ssh_config: Path, host: str, user: str | None = None, identity: str | None = None):
        self.ssh_config = Path(ssh_config)
        self.host = host
        self.user = user
        self.identity = identity  # a private key other than the config's IdentityFile (the deploy user's)

    def __repr__(self) -> str:
        return f"Remote({self.user + '@' if self.user else ''}{self.host} via {self.ssh_config})"

    @property
    def where(self) -> str:
        return f"{self.user + '@' if self.user else ''}{self.host}"

    def ssh_base(self) -> list[str]:
        """``ssh -F file [-l user]`` — also what ``rsync -e`` runs."""
        argv = ["ssh", "-F", str(self.ssh_config)]
        if self.user:
            argv += ["-l", self.user]
        if self.identity:
            argv += ["-i", self.identity]
        return argv

    def argv(self, command: Sequence[str] | str) -> list[str]:
        return [*self.ssh_base(), self.host, "--", remote_command(command)]

    def run(
        self,
        command: Sequence[str] | str,
        *,
        timeout: float = SSH_TIMEOUT,
        on_line: Callable[[str], None] | None = None,
        record: bool = True,
        check: str | None = None,
    ) -> CommandResult:
        """Run ``command`` on the host (``timeout`` in base seconds, scaled here).

        With ``check`` (a description), raise LabError unless it exited 0. Output is stdout and
        stderr interleaved; commands whose stdout is parsed send their stderr elsewhere themselves.
        """
        result = run(self.argv(command), timeout=scaled(timeout), on_line=on_line, record=record)
        if check is not None:
            if result.exit_code == 255 and not result.timed_out:
                raise LabError(f"{check}: ssh to {self.where} failed: {result.tail(5)}")
            result.check(check)
        return result

    def rsync(
        self,
        sources: Sequence[Path],
        dest: str,
        *,
        excludes: Iterable[str] = (),
        delete: bool = True,
        timeout: float = 600.0,
        on_line: Callable[[str], None] | None = None,
        chmod: str | None = None,
    ) -> CommandResult:
        """``rsync -a`` of local ``sources`` into ``dest`` (a path on the host, relative to the
        user's home), over the same ssh; only changed files travel; ``--delete`` keeps it exact."""
        argv = ["rsync", "-a", "--info=stats1", "-e", shlex.join(self.ssh_base())]
        if delete:
            argv.append("--delete")
        if chmod:
            argv.append(f"--chmod={chmod}")
        for pattern in excludes:
            argv += ["--exclude", pattern]
        argv += [str(s) for s in sources]
        argv.append(f"{self.host}:{dest}")
        return run(argv, timeout=scaled(timeout), on_line=on_line).check(f"rsync to {self.where}:{dest}")

    def pipe_in(
        self,
        local: Sequence[str],
        command: Sequence[str] | str,
        *,
        timeout: float,
        on_progress: Callable[[int, float], None] | None = None,
        on_sent: Callable[[int, float], None] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> TransferResult:
        """``local | ssh host command``, counting the bytes that cross (for progress and evidence).

        ``on_progress(bytes, seconds)`` about once a second while bytes flow; ``on_sent`` once when the
        local end is done (the remote end may still be working, e.g. ``docker load`` unpacking).

        Both ends are killed when ``timeout`` (base seconds, scaled here) runs out or on Ctrl-C.
        """
        budget = scaled(timeout)
        started = time.monotonic()
        sender = subprocess.Popen(
            list(local),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=dict(env) if env is not None else None,
        )
        receiver = subprocess.Popen(
            self.argv(command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        timed_out = threading.Event()

        def watchdog() -> None:
            timed_out.set()
            kill_group(sender)
            kill_group(receiver)

        timer = threading.Timer(budget, watchdog)
        timer.daemon = True
        timer.start()
        received: list[bytes] = []
        reader = threading.Thread(
            target=lambda: received.append(receiver.stdout.read() if receiver.stdout else b""), daemon=True
        )
        reader.start()
        sent = 0
        last = 0.0
        broken = False
        try:
            assert sender.stdout is not None and receiver.stdin is not None
            while True:
                chunk = sender.stdout.read(CHUNK)
                if not chunk:
                    break
                try:
                    receiver.stdin.write(chunk)
                except BrokenPipeError:
                    broken = True
                    break
                sent += len(chunk)
                now = time.monotonic()
                if on_progress is not None and now - last >= 1.0:
                    last = now
                    on_progress(sent, now - started)
            try:
                receiver.stdin.close()
            except BrokenPipeError:
                broken = True
            if on_sent is not None:
                on_sent(sent, time.monotonic() - started)
            sender_err = sender.stderr.read().decode("utf-8", "replace") if sender.stderr else ""
            sender.wait(timeout=max(1.0, budget - (time.monotonic() - started)))
            receiver.wait(timeout=max(1.0, budget - (time.monotonic() - started)))
        except BaseException:
            kill_group(sender)
            kill_group(receiver)
            raise
        finally:
            timer.cancel()
        reader.join(timeout=10)
        seconds = time.monotonic() - started
        output = b"".join(received).decode("utf-8", "replace")
        summary = f"{shlex.join(local)} | ssh {self.where} {remote_command(command)}"
        evidence.attach(
            "command",
            summary,
            bytes=sent,
            duration_s=round(seconds, 2),
            exit_codes=[sender.returncode, receiver.returncode],
            timed_out=timed_out.is_set(),
            output=evidence.trim(output[-2000:]),
        )
        if timed_out.is_set():
            raise LabError(f"{summary} timed out after {seconds:.0f}s ({sent / (1 << 20):.0f} MiB sent)")
        if sender.returncode != 0:
            raise LabError(f"{shlex.join(local)} exited {sender.returncode}: {sender_err.strip()[-500:]}")
        if receiver.returncode != 0 or broken:
            raise LabError(
                f"ssh {self.where} {remote_command(command)} exited {receiver.returncode}: "
                f"{output.strip()[-500:]}"
            )
        return TransferResult(bytes=sent, seconds=seconds, output=output)

    def close_master(self, timeout: float = 15.0) -> None:
        """End the multiplexing master of this host/user, if any (before the VM goes away)."""
        run([*self.ssh_base(), "-O", "exit", self.host], timeout=timeout, record=False)


# --- images ---------------------------------------------------------------------------------------
def parse_image_ids(text: str) -> dict[str, str]:
    """``repo:tag id`` lines (``docker images --no-trunc --format …``) -> {tag: id}; ``<none>`` skipped."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 2 or "<none>" in parts[0] or ":" not in parts[0]:
            continue
        out[parts[0]] = parts[1]
    return out
