"""The one compose wrapper: Docker Compose v2 (``docker compose``) or v1 (``docker-compose``),
run through a :class:`harness.lab.runner.Runner` (here, or in the lab VM over ssh).

Users have v2; Debian has v1 (1.29). Both get the same calls: the command is detected once per
runner (``docker compose version`` first, then ``docker-compose``; ``LAB_COMPOSE``, through
:class:`harness.base.config.LabConfig`, overrides), every call has a scaled timeout and leaves evidence.
"Up and wait until healthy" is compose ``up`` plus :meth:`harness.lab.engine.Engine.wait_all`, the same
on v1 (which has no ``up --wait``) and v2, and the same for every target.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.base import timeouts
from harness.base.errors import LabError
from harness.base.progress import CommandResult
from harness.lab.runner import LocalRunner, Runner

DETECT_TIMEOUT = 20.0
UP_TIMEOUT = timeouts.base("compose")
DOWN_TIMEOUT = timeouts.base("cleanup")
CONFIG_TIMEOUT = timeouts.base("inspect")


@dataclass(frozen=True)
class ComposeCommand:
    """How to call compose on one host: the argv prefix and the version it reported."""

    argv: tuple[str, ...]  # ("docker", "compose") or ("docker-compose",)
    version: str  # "1.29.2", "2.29.7"

    @property
    def major(self) -> int:
        return version_tuple(self.version)[0]

    def at_least(self, *wanted: int) -> bool:
        return version_tuple(self.version) >= wanted

    def __str__(self) -> str:
        return f"v{self.major} {self.version}"


def version_tuple(text: str) -> tuple[int, ...]:
    """ "v2.29.7-desktop.1" -> (2, 29, 7); unparsable parts count as 0."""
    parts = re.findall(r"\d+", text.split("-")[0].split("+")[0])[:3]
    return tuple(int(p) for p in parts) or (0,)


def parse_version_output(output: str) -> str | None:
    """The version from ``version --short`` (or the long form as a fallback)."""
    for line in output.strip().splitlines():  # the long v1 form names docker-py's version later
        match = re.search(r"\bv?(\d+\.\d+\.\d+[^\s,]*)", line)
        if match:
            return match.group(1)
    return None


_detected: dict[tuple[str, str | None], ComposeCommand] = {}


def detect(runner: Runner | None = None, override: str | None = None) -> ComposeCommand:
    """The compose command on ``runner``'s host: ``override`` (``docker compose`` or ``docker-compose``),
    else v2, else v1. Remembered per host for the process."""
    runner = runner or LocalRunner()
    key = (runner.where, override, os.environ.get("PATH", ""))
    if key in _detected:
        return _detected[key]
    candidates = [tuple(shlex.split(override))] if override else [("docker", "compose"), ("docker-compose",)]
    failures = []
    for argv in candidates:
        result = runner.run([*argv, "version", "--short"], timeout=DETECT_TIMEOUT, record=False)
        version = parse_version_output(result.output) if result.ok else None
        if version:
            _detected[key] = ComposeCommand(argv=argv, version=version)
            return _detected[key]
        failures.append(f"`{shlex.join(argv)} version` {_why(result)}")
    hint = (
        "install the compose plugin (`docker compose`, v2) or Debian's docker-compose (v1)"
        if not override
        else "unset LAB_COMPOSE to detect, or install that command"
    )
    raise LabError(f"no Docker Compose on {runner.where}: {'; '.join(failures)}; {hint}")


def _why(result: CommandResult) -> str:
    if result.timed_out:
        return f"timed out after {result.duration:.0f}s"
    first = result.output.strip().splitlines()[:1]
    return f"exited {result.exit_code}" + (f" ({first[0][:120]})" if first else "")


def services_in(files: Sequence[Path]) -> list[str]:
    """The services the compose files define (read here, wherever compose runs: v1 in a TCG guest
    takes seconds for ``config --services``)."""
    names: set[str] = set()
    for f in files:
        data = yaml.safe_load(Path(f).read_text()) or {}
        names |= set((data.get("services") or {}).keys())
    return sorted(names)


class Compose:
    """``docker compose``/``docker-compose`` for one project and its files, through one runner.

    ``files`` are passed as given: paths here, or names relative to the runner's working directory.
    """

    def __init__(
        self,
        project: str,
        files: Sequence[Path | str],
        runner: Runner | None = None,
        *,
        command: ComposeCommand | None = None,
        override: str | None = None,
        on_line: Callable[[str], None] | None = None,
    ):
        if not files:
            raise LabError("Compose needs at least one compose file")
        self.project = project
        self.files = [str(f) for f in files]
        self.runner = runner or LocalRunner(Path(files[0]).parent)
        self._command = command
        self._override = override
        self.on_line = on_line

    @property
    def command(self) -> ComposeCommand:
        if self._command is None:
            self._command = detect(self.runner, self._override)
        return self._command

    @property
    def version(self) -> str:
        """ "v1 1.29.2" or "v2 2.29.7"."""
        return str(self.command)

    def args(self, *sub: str) -> list[str]:
        """The full command line of one compose subcommand (for running and for tests)."""
        argv = [*self.command.argv, "-p", self.project]
        for f in self.files:
            argv += ["-f", f]
        return argv + list(sub)

    def up_args(self, *, no_build: bool = False, services: Sequence[str] = (),
                force_recreate: bool = False) -> list[str]:
        """``up -d --remove-orphans``: creates what is missing, recreates what changed, keeps volumes.
        ``force_recreate`` of named ``services`` (``--no-deps``): a new container for each, as a
        changed image or config makes (an upgrade)."""
        sub = ["up", "-d", "--no-deps" if services and force_recreate else "--remove-orphans"]
        if no_build:
            sub.append("--no-build")
        if force_recreate:
            sub.append("--force-recreate")
        return self.args(*sub, *services)

    def run_detached_args(self, service: str, *, entrypoint: str, command: Sequence[str] = ()) -> list[str]:
        """``run -d --no-deps --entrypoint E SERVICE CMD``: a one-off container of the service's image
        on its networks (no ports published, no network alias: it takes an address, nothing else)."""
        return self.args("run", "-d", "--no-deps", "--entrypoint", entrypoint, service, *command)

    def down_args(self, *, volumes: bool = False) -> list[str]:
        sub = ["down", "--remove-orphans"]
        if volumes:
            sub.append("--volumes")
        return self.args(*sub)

    def _run(self, argv: list[str], timeout: float, what: str, stream: bool = False) -> CommandResult:
        result = self.runner.run(argv, timeout=timeout, on_line=self.on_line if stream else None)
        if not result.ok:
            why = "timed out" if result.timed_out else f"exit {result.exit_code}"
            raise LabError(
                f"compose {what} failed ({self.version}, project {self.project}, on {self.runner.where}): "
                f"{why}\n{result.tail()}"
            )
        return result

    def up(self, *, no_build: bool = False, services: Sequence[str] = (), force_recreate: bool = False,
           timeout: float = UP_TIMEOUT) -> CommandResult:
        argv = self.up_args(no_build=no_build, services=services, force_recreate=force_recreate)
        return self._run(argv, timeout, "up", stream=True)

    def run_detached(self, service: str, *, entrypoint: str, command: Sequence[str] = (),
                     timeout: float = CONFIG_TIMEOUT) -> CommandResult:
        argv = self.run_detached_args(service, entrypoint=entrypoint, command=command)
        return self._run(argv, timeout, "run")

    def down(self, *, volumes: bool = False, timeout: float = DOWN_TIMEOUT) -> CommandResult:
        """Stop and remove the project's containers and networks; volumes only when asked."""
        return self._run(self.down_args(volumes=volumes), timeout, "down", stream=True)

    def config(self) -> dict[str, Any]:
        """The merged, interpolated configuration compose would use."""
        result = self._run(self.args("config"), CONFIG_TIMEOUT, "config")
        data = yaml.safe_load(result.output)
        if not isinstance(data, dict):
            raise LabError(f"compose config printed no mapping: {result.tail(5)}")
        return data
