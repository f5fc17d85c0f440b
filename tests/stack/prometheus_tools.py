"""The one lookup of ``promtool`` and ``prometheus`` for the unit tests: the release the lab runs.

Where each comes from, first found wins:
  1. ``LAB_PROMTOOL`` / ``LAB_PROMETHEUS``: a path named on purpose (missing or another release fails);
  2. the binary ``stack/images/build.sh`` leaves in its cache (``$LAB_IMAGES_CACHE/bin/NAME``,
     default ``stack/images/.cache/bin/NAME``): the same build as ``lab/prometheus:local``;
  3. ``NAME`` on PATH.
The binary must say ``PROMETHEUS_VERSION`` of ``stack/images/versions.env`` in its ``--version``.
When none is found, or the one found is another release, the test skips with one line saying so and
how to get the right one — except in CI (``CI`` set), where the image build runs before the unit
tests, so a missing binary is a defect of the run and the test fails with the same line.
The variables are read when this module is imported (at collection): tests/conftest.py removes
every ``LAB_*`` variable from each test's environment.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "stack" / "images"
ENV_NAMES = {"promtool": "LAB_PROMTOOL", "prometheus": "LAB_PROMETHEUS"}
CALLER_ENV = {name: os.environ.get(name, "") for name in (*ENV_NAMES.values(), "LAB_IMAGES_CACHE")}
BUILD_HINT = "bash stack/images/build.sh --only prometheus"


def wanted_version() -> str:
    """``PROMETHEUS_VERSION`` of versions.env (the release lab/prometheus:local is built at)."""
    text = (IMAGES / "versions.env").read_text(encoding="utf-8")
    found = re.search(r"^PROMETHEUS_VERSION=(\S+)$", text, re.M)
    if found is None:
        raise AssertionError("stack/images/versions.env has no PROMETHEUS_VERSION")
    return found.group(1)


def build_cache_bin() -> Path:
    return Path(CALLER_ENV["LAB_IMAGES_CACHE"] or IMAGES / ".cache") / "bin"


@dataclass(frozen=True)
class Found:
    path: str
    source: str  # "LAB_PROMTOOL", "build.sh's cache", "PATH"


def locate(name: str) -> Found | None:
    """Where ``name`` is, in the order above; None when nowhere (a named path that does not exist
    is returned as found, so the version check names it)."""
    named = CALLER_ENV[ENV_NAMES[name]]
    if named:
        return Found(named, ENV_NAMES[name])
    cached = build_cache_bin() / name
    if cached.is_file() and os.access(cached, os.X_OK):
        return Found(str(cached), "build.sh's cache")
    on_path = shutil.which(name)
    return Found(on_path, "PATH") if on_path else None


def version_of(path: str) -> str | None:
    """The release ``path --version`` names (``promtool, version 3.16.0 (branch: ...``)."""
    try:
        proc = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"version (\S+)", proc.stdout + proc.stderr)
    return found.group(1) if found else None


def problem(name: str) -> tuple[str | None, str]:
    """``(path, "")`` for the right binary, else ``(None, one line saying why)``."""
    want = wanted_version()
    found = locate(name)
    if found is None:
        return None, (f"{name} {want} not found ({ENV_NAMES[name]} unset, not in {build_cache_bin()}, "
                      f"not on PATH): {BUILD_HINT}")
    have = version_of(found.path)
    if have != want:
        said = f"says version {have}" if have else "does not run or name its version"
        return None, f"{name} from {found.source} ({found.path}) {said}, the lab runs {want}: {BUILD_HINT}"
    return found.path, ""


def require_prometheus_tool(name: str) -> str:
    """The path of ``promtool`` or ``prometheus`` at the lab's release; skips (fails in CI, or when
    named by its variable) with one line otherwise."""
    path, why = problem(name)
    if path is not None:
        return path
    if os.environ.get("CI") or CALLER_ENV[ENV_NAMES[name]]:
        pytest.fail(why, pytrace=False)
    pytest.skip(why)
