"""Shared helpers of the stack/ config tests (no tests in this module).

Reusable pieces (the acceptance steps can import them too):
  - ``promql_queries(dashboard)``: every PromQL expression of a Grafana dashboard, with its panel;
  - ``substitute_variables(expr, dashboard)``: Grafana's built-in and dashboard variables replaced
    by values a plain Prometheus accepts;
  - ``compose_v1()`` / ``compose_config(...)``: run ``docker-compose config`` on a file combination.
Tools that are missing make the tests that need them skip, with the reason.
Import as ``from tests.stack.test_configs_support import ...`` (the repo root is on pytest's
pythonpath; tests/ needs no __init__.py for that).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.base import services
from harness.checks.dashboards import (  # noqa: F401 - re-exported for the config tests
    BUILTIN_VARIABLES,
    PanelQuery,
    promql_queries,
    substitute_variables,
)
from harness.checks.dashboards import load_dashboards as _load_dashboards

REPO = Path(__file__).resolve().parents[2]
STACK = REPO / "stack"
DASHBOARDS = STACK / "grafana" / "dashboards"
STORE_SETS = services.STORE_SETS
# Only for rendering configs in tests; never a real password.
TEST_GRAFANA_PASSWORD = "config-test-only"


# -- Grafana dashboards: the harness's reader (one way to do it) -----------------------------------
def load_dashboards() -> list[dict[str, Any]]:
    return _load_dashboards(DASHBOARDS)


# -- tools ----------------------------------------------------------------------------------------
def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed on this machine")
    return path


def docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=15).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def docker_image_present(image: str) -> bool:
    try:
        proc = subprocess.run(["docker", "image", "inspect", image], capture_output=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def require_image(image: str, hint: str = "build it with stack/images/build.sh") -> None:
    if not docker_available():
        pytest.skip("no usable Docker engine (docker info failed)")
    if not docker_image_present(image):
        pytest.skip(f"image {image} is not present locally ({hint})")


# -- compose --------------------------------------------------------------------------------------
def compose_files(store_set: str | None, local_images: bool) -> list[str]:
    files = ["compose.yaml"]
    if store_set:
        files.append(f"compose.{store_set}.yaml")
    if local_images:
        files.append("compose.local-images.yaml")
    return files


def compose_env(**extra: str) -> dict[str, str]:
    """A clean environment for rendering: no LAB_* / GF_* leaking in from the caller's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAB_", "GF_", "COMPOSE_"))}
    env.update(extra)
    return env


def compose_v1() -> str:
    return require_tool("docker-compose")


def compose_v2_command() -> list[str] | None:
    """How to call compose v2 here: the `docker compose` plugin, or a standalone v2 binary named by
    LAB_COMPOSE_V2 (e.g. one built from the Go module proxy); None when there is neither."""
    candidates: list[list[str]] = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if os.environ.get("LAB_COMPOSE_V2"):
        candidates.append([os.environ["LAB_COMPOSE_V2"]])
    for cmd in candidates:
        try:
            proc = subprocess.run([*cmd, "version", "--short"], capture_output=True, text=True, timeout=15)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if proc.returncode == 0 and not proc.stdout.strip().startswith("1."):
            return cmd
    return None


def compose_v2_available() -> bool:
    return compose_v2_command() is not None


def run_compose(
    command: list[str], files: list[str], env: dict[str, str], *, v2: bool = False
) -> subprocess.CompletedProcess[str]:
    base = (compose_v2_command() or ["docker", "compose"]) if v2 else [compose_v1()]
    args = [*base, "--project-directory", str(STACK)]
    for f in files:
        args += ["-f", str(STACK / f)]
    return subprocess.run([*args, *command], capture_output=True, text=True, env=env, cwd=STACK, timeout=60)


def compose_config(files: list[str], env: dict[str, str], *, v2: bool = False) -> dict[str, Any]:
    """The merged, interpolated configuration as compose itself renders it, volumes and ports in
    the short form (Compose v1 prints that; v2 — Debian 13's ``docker-compose`` too — the long one)."""
    proc = run_compose(["config"], files, env, v2=v2)
    assert proc.returncode == 0, f"compose config {files} failed:\n{proc.stderr}"
    config = yaml.safe_load(proc.stdout)
    for service in (config.get("services") or {}).values():
        if "volumes" in service:
            service["volumes"] = [short_volume(v) for v in service["volumes"]]
        if "ports" in service:
            service["ports"] = [short_port(p) for p in service["ports"]]
    return config


def short_volume(volume: str | dict[str, Any]) -> str:
    """``{type: volume, source: a, target: /b}`` -> ``a:/b:rw`` (a bind: ``/path:/b:ro``)."""
    if isinstance(volume, str):
        return volume
    mode = "ro" if volume.get("read_only") else "rw"
    return f"{volume['source']}:{volume['target']}:{mode}" if volume.get("source") else str(volume["target"])


def short_port(port: str | dict[str, Any]) -> str:
    """``{host_ip: 127.0.0.1, published: "8080", target: 8080, protocol: tcp}`` ->
    ``127.0.0.1:8080:8080/tcp``."""
    if isinstance(port, str):
        return port
    host = f"{port['host_ip']}:" if port.get("host_ip") else ""
    published = f"{port['published']}:" if port.get("published") else ""
    return f"{host}{published}{port['target']}/{port.get('protocol', 'tcp')}"
