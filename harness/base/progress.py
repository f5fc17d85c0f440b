"""Long steps made visible, and every command bounded and recorded.

Deploys and image builds take minutes; a user should see which phase runs and how long each took.
On a terminal this is a ``rich`` spinner per phase; in CI (``CI=true``) or when the output is not a
TTY it is plain, timestamped lines that read well in a log. :func:`run` is the one way the harness
runs a subprocess: always with a timeout, its output optionally streamed line by line to the
display, and its command line, exit code, duration and trimmed output attached as evidence.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from harness.base import evidence
from harness.base.errors import LabError

OUTPUT_LIMIT = 4000


def _plain_wanted(stream: IO[str]) -> bool:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        return True
    try:
        return not stream.isatty()
    except (AttributeError, ValueError):
        return True


class Display:
    """Where progress goes. ``plain`` = one line per event (CI, pipes); else rich spinners."""

    def __init__(self, stream: IO[str] | None = None, plain: bool | None = None, quiet: bool = False):
        self.stream = stream if stream is not None else sys.stderr
        self.plain = _plain_wanted(self.stream) if plain is None else plain
        self.quiet = quiet
        self._console: Any = None
        self._status: Any = None  # (rich Progress, task id) while a phase runs
        if not self.plain and not quiet:
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False)

    @classmethod
    def silent(cls) -> Display:
        return cls(quiet=True, plain=True)

    def info(self, text: str) -> None:
        """One line that stays (the target line, a result)."""
        if self.quiet:
            return
        if self._console is not None:
            self._console.print(text, markup=False)
        else:
            print(text, file=self.stream, flush=True)

    def update(self, text: str) -> None:
        """Change what the running phase's spinner says (nothing in plain mode: lines are enough)."""
        if self._status is not None:
            progress, task = self._status
            progress.update(task, description=text)

    def detail(self, text: str) -> None:
        """A line of a running phase (e.g. a build's per-image line): shown above the spinner."""
        if self.quiet:
            return
        text = text.rstrip()
        if not text:
            return
        if self._console is not None:
            self._console.print(f"  {text}", markup=False, style="dim")
        else:
            print(f"  {text}", file=self.stream, flush=True)

    def _end(self, ok: bool, title: str, started: float) -> None:
        mark, style = ("✓", "green") if ok else ("✗", "red")
        line = f"{mark} {title} ({time.monotonic() - started:.1f}s)"
        if self._console is not None:
            self._console.print(line, markup=False, style=style)
        else:
            print(line, file=self.stream, flush=True)

    @contextmanager
    def phase(self, title: str) -> Iterator[None]:
        """Show ``title`` (with a spinner and the time so far) while the block runs, then how it
        ended and how long it took."""
        started = time.monotonic()
        if self.quiet:
            yield
            return
        if self._console is None:
            print(f"… {title}", file=self.stream, flush=True)
            try:
                yield
            except BaseException:
                self._end(False, title, started)
                raise
            self._end(True, title, started)
            return
        from rich.markup import escape
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=self._console,
            transient=True,
        )
        with progress:
            self._status = (progress, progress.add_task(escape(title)))
            try:
                yield
            except BaseException:
                self._status = None
                progress.stop()
                self._end(False, title, started)
                raise
            finally:
                self._status = None
        self._end(True, title, started)


@dataclass(frozen=True)
class CommandResult:
    args: tuple[str, ...]
    exit_code: int
    output: str  # stdout and stderr, interleaved as produced
    duration: float
    timed_out: bool = False
    stopped: str | None = None  # why a watch stopped it early (e.g. a guest that makes no progress)

    @property
    def command_line(self) -> str:
        return shlex.join(self.args)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and self.stopped is None

    def tail(self, lines: int = 25) -> str:
        return "\n".join(self.output.rstrip().splitlines()[-lines:])

    def check(self, what: str | None = None) -> CommandResult:
        """Raise :class:`LabError` with the output's tail unless the command succeeded."""
        if self.ok:
            return self
        why = (
            f"stopped after {self.duration:.0f}s: {self.stopped}" if self.stopped
            else f"timed out after {self.duration:.0f}s" if self.timed_out
            else f"exited {self.exit_code}"
        )
        raise LabError(f"{what or self.command_line} {why}: `{self.command_line}`\n{self.tail()}")


def run(
    args: Sequence[str],
    *,
    timeout: float,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    on_line: Callable[[str], None] | None = None,
    record: bool = True,
    stdin_devnull: bool = True,
    watch: Callable[[], str | None] | None = None,
) -> CommandResult:
    """Run ``args`` (no shell) for at most ``timeout`` seconds (already scaled by the caller).

    Output lines go to ``on_line`` as they come. On timeout the whole process group is killed
    (a build script's children too). A missing executable is an exit code 127, not an exception.
    ``watch`` is asked about once a second while the command runs; when it returns a reason, the
    command is stopped the same way and the result carries that reason (``stopped``).
    """
    args = tuple(str(a) for a in args)
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL if stdin_devnull else None,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except (FileNotFoundError, PermissionError) as exc:
        result = CommandResult(args, 127, f"{type(exc).__name__}: {exc}", time.monotonic() - started)
        _record(result, record)
        return result

    chunks: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            chunks.append(line)
            if on_line is not None:
                with contextlib.suppress(Exception):  # a display problem must not break the command
                    on_line(line.rstrip("\n"))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    timed_out = False
    stopped: str | None = None
    deadline = started + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                kill_group(proc)
                break
            try:
                proc.wait(timeout=min(left, 1.0) if watch is not None else left)
                break
            except subprocess.TimeoutExpired:
                stopped = watch() if watch is not None else None
                if stopped:
                    kill_group(proc)
                    break
    except BaseException:  # Ctrl-C: do not leave the child running
        kill_group(proc)
        raise
    reader.join(timeout=5)
    result = CommandResult(
        args,
        proc.returncode if proc.returncode is not None else -9,
        "".join(chunks),
        time.monotonic() - started,
        timed_out,
        stopped,
    )
    _record(result, record)
    return result


def kill_group(proc: subprocess.Popen[Any]) -> None:
    """End a process started with ``start_new_session=True`` and all its children (TERM, then KILL)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


def _record(result: CommandResult, record: bool) -> None:
    if not record:
        return
    evidence.attach(
        "command",
        result.command_line,
        exit_code=result.exit_code,
        duration_s=round(result.duration, 2),
        timed_out=result.timed_out,
        output=evidence.trim(_tail_chars(result.output, OUTPUT_LIMIT), OUTPUT_LIMIT + 100),
    )


def _tail_chars(text: str, limit: int) -> str:
    """The end of a long output matters most (the error is at the bottom)."""
    return text if len(text) <= limit else f"…({len(text) - limit} chars before)\n" + text[-limit:]
