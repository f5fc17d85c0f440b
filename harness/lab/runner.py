"""Where a command line runs: here (:class:`LocalRunner`) or on the lab VM over ssh
(:class:`SshRunner`). Compose runs through one of these, so the compose wrapper does not care
where the engine is; each runner owns its working directory and its environment."""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from harness.base.progress import CommandResult, run
from harness.base.waiting import scaled
from harness.lab.remote import Remote

LineHook = Callable[[str], None]


class Runner(Protocol):
    where: str

    def run(
        self, argv: Sequence[str], *, timeout: float, on_line: LineHook | None = None, record: bool = True
    ) -> CommandResult:
        """Run ``argv`` for at most ``timeout`` base seconds (scaled by the runner)."""
        ...


class LocalRunner:
    """This machine: ``cwd`` and ``env`` (over the caller's environment) for every command."""

    where = "this host"

    def __init__(self, cwd: Path | str | None = None, env: Mapping[str, str] | None = None):
        self.cwd = Path(cwd) if cwd else None
        self.extra_env = dict(env or {})

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, **self.extra_env}

    def run(
        self, argv: Sequence[str], *, timeout: float, on_line: LineHook | None = None, record: bool = True
    ) -> CommandResult:
        return run(argv, timeout=scaled(timeout), cwd=self.cwd, env=self.env, on_line=on_line, record=record)


class SshRunner:
    """A host over ssh: each command runs in ``cwd`` (relative to the user's home) with the variables
    of ``env_file`` exported (written there by the deploy, mode 600: it may hold secrets)."""

    def __init__(self, remote: Remote, cwd: str | None = None, env_file: str | None = None):
        self.remote = remote
        self.cwd = cwd
        self.env_file = env_file
        self.where = remote.where

    def script(self, argv: Sequence[str]) -> str:
        parts = []
        if self.cwd:
            parts.append(f"cd {shlex.quote(self.cwd)}")
        if self.env_file:
            parts.append(f"set -a && . {shlex.quote(self.env_file)} && set +a")
        parts.append(f"exec {shlex.join(argv)}")
        return " && ".join(parts)

    def run(
        self, argv: Sequence[str], *, timeout: float, on_line: LineHook | None = None, record: bool = True
    ) -> CommandResult:
        return self.remote.run(self.script(argv), timeout=timeout, on_line=on_line, record=record)
