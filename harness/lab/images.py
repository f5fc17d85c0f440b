"""Local images: which ones a store set needs, which exist, and building them with progress.

On hosts with no registry the lab runs from ``lab/*:local`` images made by
``stack/images/build.sh`` (debootstrap base, Debian packages, Go module proxy). The script prints one
line per image when that image is done (``name tag status seconds detail``); :func:`build` streams
those lines to the display and says which image is being built in between.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.markup import escape

from harness.base import services
from harness.base.config import REPO_ROOT, STORE_SETS
from harness.base.errors import ConfigError, LabError
from harness.base.progress import CommandResult, Display, run
from harness.base.waiting import scaled

BUILD_TIMEOUT = 5400.0  # a cold build of every image (debootstrap, three Go programs) on 2 cores
LIST_TIMEOUT = 30.0

HEALTHCHECK_BINARY = Path("stack/healthcheck/bin/lab-healthcheck")

STATUSES = ("built", "cached", "skipped", "unavailable", "failed")
_LINE = re.compile(
    r"^(?P<name>[\w.-]+)\s+(?P<tag>\S+)\s+(?P<status>"
    + "|".join(STATUSES)
    + r")\s+(?P<seconds>[\d.]+)s\s*(?P<detail>.*)$"
)


def build_script(repo_root: Path = REPO_ROOT) -> Path:
    return repo_root / "stack" / "images" / "build.sh"


def local_images_for(stores: str, topology: str = "single") -> dict[str, str]:
    """Build-step name (the service) -> ``lab/*:local`` tag for every image the store set runs from
    (:mod:`harness.base.services`); ConfigError for a set whose images cannot all be built here."""
    if stores not in STORE_SETS:
        raise ConfigError(f"stores={stores!r} is not valid; use one of: {', '.join(STORE_SETS)}")
    found = services.local_images(stores, topology)
    if found is None:
        names = ", ".join(n.capitalize() for n in services.unbuildable(stores))
        raise ConfigError(
            f"stores={stores!r} cannot run from local images: {names} cannot be built here "
            "(no registry, AGPL sources not built); use LAB_IMAGE_SOURCE=registry "
            "or --stores jaeger-victorialogs"
        )
    return found


def required_local_images(stores: str) -> tuple[str, ...]:
    """The ``lab/*:local`` tags a store set needs (ConfigError for a set that cannot be built)."""
    return tuple(sorted(local_images_for(stores).values()))



def missing_local_images(stores: str, present: Iterable[str], topology: str = "single") -> dict[str, str]:
    """Build-step name -> tag of the images the store set (in that topology) needs that ``present`` lacks."""
    have = set(present)
    return {name: tag for name, tag in local_images_for(stores, topology).items() if tag not in have}


@dataclass(frozen=True)
class BuildLine:
    """One per-image line of build.sh."""

    name: str
    tag: str
    status: str
    seconds: float
    detail: str

    @classmethod
    def parse(cls, line: str) -> BuildLine | None:
        match = _LINE.match(line.strip())
        if not match:
            return None
        return cls(
            match["name"], match["tag"], match["status"], float(match["seconds"]), match["detail"].strip()
        )


@dataclass(frozen=True)
class ListedImage:
    name: str
    tag: str | None  # None for images that cannot be built here
    needs: tuple[str, ...]
    note: str


def list_images(repo_root: Path = REPO_ROOT) -> list[ListedImage]:
    """What build.sh can build, in build order (``build.sh --list``)."""
    result = run([str(build_script(repo_root)), "--list"], timeout=scaled(LIST_TIMEOUT), cwd=repo_root)
    result.check("stack/images/build.sh --list")
    out = []
    for line in result.output.splitlines():
        parts = line.split(None, 2)
        if len(parts) < 3:
            continue
        name, tag, rest = parts
        if rest.startswith("not buildable here:"):
            out.append(ListedImage(name, None, (), rest.removeprefix("not buildable here:").strip()))
            continue
        match = re.match(r"needs:\s+(?P<needs>.*?)\s+from:\s*(?P<src>.*)$", rest)
        needs = tuple(n for n in (match["needs"] if match else "").split() if n != "-")
        out.append(ListedImage(name, tag, needs, match["src"].strip() if match else rest))
    return out


def build_order(listed: Sequence[ListedImage], only: Sequence[str] | None) -> list[str]:
    """The steps build.sh will run for ``only`` (with their dependencies), in its order."""
    buildable = {i.name: i for i in listed if i.tag}
    if not only:
        return list(buildable)
    want: set[str] = set()

    def add(name: str) -> None:
        if name in want or name not in buildable:
            return
        want.add(name)
        for dep in buildable[name].needs:
            add(dep)

    for raw in only:
        for n in raw.split(","):
            n = n.strip()
            match = next(
                (i.name for i in buildable.values() if n in (i.name, i.tag, (i.tag or "").split(":")[0])),
                None,
            )
            add(match or ("otel-collector" if n in ("collector", "otelcol") else n))
    return [n for n in buildable if n in want]


def build(
    only: Sequence[str] | None = None,
    *,
    display: Display | None = None,
    repo_root: Path = REPO_ROOT,
    timeout: float = BUILD_TIMEOUT,
    extra_args: Sequence[str] = (),
    on_result: Callable[[BuildLine], None] | None = None,
) -> tuple[CommandResult, list[BuildLine]]:
    """Run build.sh (``--only`` a subset), streaming its per-image lines; raise LabError on failure."""
    display = display or Display.silent()
    script = build_script(repo_root)
    if not script.is_file():
        raise LabError(f"{script.relative_to(repo_root)} does not exist; cannot build local images")
    args = [str(script), *extra_args]
    if only:
        args += ["--only", ",".join(only)]
    try:
        order = build_order(list_images(repo_root), only)
    except LabError:
        order = []
    lines: list[BuildLine] = []
    total = len(order)

    def heading() -> str:
        done = {line.name for line in lines}
        pending = [n for n in order if n not in done]
        if pending:
            return f"building {pending[0]} ({len(done) + 1}/{total})"
        return "building images"

    def on_line(text: str) -> None:
        parsed = BuildLine.parse(text)
        if parsed is not None:
            lines.append(parsed)
            if on_result:
                on_result(parsed)
            display.detail(f"{parsed.name:<15} {parsed.status:<11} {parsed.seconds:7.1f}s  {parsed.detail}")
            display.update(escape(heading()))
        elif text.startswith(("build.sh:", "----", "note:")) or "FAILED" in text:
            display.detail(text)
        elif lines and lines[-1].status == "failed":
            display.detail(text)  # the failing step's log tail

    title = f"images: stack/images/build.sh{' --only ' + ','.join(only) if only else ''}"
    with display.phase(title):
        display.update(escape(heading()))
        result = run(args, timeout=scaled(timeout), cwd=repo_root, on_line=on_line)
        if result.exit_code == 2 and not result.timed_out:  # build.sh's usage error, e.g. an unknown name
            raise ConfigError(" ".join(result.tail(1).split()))
        if not result.ok:
            failed = [f"{line.tag} ({line.detail})" for line in lines if line.status == "failed"]
            raise LabError(
                f"image build {'timed out' if result.timed_out else f'failed (exit {result.exit_code})'}"
                + (f": {'; '.join(failed)}" if failed else "")
                + f"\n{result.tail(15)}"
            )
    return result, lines
