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

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
STACK = REPO / "stack"
DASHBOARDS = STACK / "grafana" / "dashboards"
STORE_SETS = ("jaeger-victorialogs", "tempo-loki")
# Only for rendering configs in tests; never a real password.
TEST_GRAFANA_PASSWORD = "config-test-only"


# -- Grafana dashboards -------------------------------------------------------------------------
@dataclass(frozen=True)
class PanelQuery:
    dashboard_uid: str
    panel_title: str
    ref_id: str
    expr: str


def _iter_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        # Collapsed rows keep their panels inside the row.
        yield from _iter_panels(panel.get("panels") or [])


def _datasource_uid(ds: Any) -> str | None:
    if isinstance(ds, dict):
        return ds.get("uid")
    if isinstance(ds, str):
        return ds
    return None


def promql_queries(dashboard: dict[str, Any], prometheus_uid: str = "prometheus") -> list[PanelQuery]:
    """Every Prometheus expression of the dashboard (targets whose data source, or whose panel's data
    source when the target names none, is the Prometheus data source), in panel order."""
    found: list[PanelQuery] = []
    for panel in _iter_panels(dashboard.get("panels") or []):
        panel_ds = _datasource_uid(panel.get("datasource"))
        for target in panel.get("targets") or []:
            ds = _datasource_uid(target.get("datasource")) or panel_ds
            expr = target.get("expr")
            if ds == prometheus_uid and isinstance(expr, str) and expr.strip():
                found.append(
                    PanelQuery(
                        dashboard_uid=dashboard.get("uid", "?"),
                        panel_title=panel.get("title", "?"),
                        ref_id=target.get("refId", "?"),
                        expr=expr,
                    )
                )
    return found


# Grafana's built-in interval variables, replaced by fixed values a plain Prometheus query accepts.
BUILTIN_VARIABLES = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__interval_ms": "15000",
    "__range": "5m",
    "__range_s": "300",
    "__range_ms": "300000",
    "__auto": "1m",
}


def _variable_value(var: dict[str, Any]) -> str:
    """The value a dashboard variable stands for in a test query: "All" -> its allValue (or .*)."""
    current = var.get("current") or {}
    value = current.get("value")
    if isinstance(value, list):
        value = value[0] if len(value) == 1 else "|".join(value)
    if var.get("includeAll") and (value in (None, "", "$__all") or value == ["$__all"]):
        return var.get("allValue") or ".*"
    if value in (None, ""):
        return ".*"
    return str(value)


def substitute_variables(expr: str, dashboard: dict[str, Any] | None = None) -> str:
    """Replace $var, ${var} and ${var:format} of the dashboard's variables and Grafana's built-ins."""
    values = dict(BUILTIN_VARIABLES)
    for var in ((dashboard or {}).get("templating") or {}).get("list") or []:
        if var.get("name"):
            values[var["name"]] = _variable_value(var)

    def repl(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return values.get(name, match.group(0))

    # Longest names first is implicit: \w+ is greedy, so $__interval_ms is not read as $__interval.
    return re.sub(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)", repl, expr)


def load_dashboards() -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(DASHBOARDS.glob("*.json"))]


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
    """The merged, interpolated configuration as compose itself renders it."""
    proc = run_compose(["config"], files, env, v2=v2)
    assert proc.returncode == 0, f"compose config {files} failed:\n{proc.stderr}"
    return yaml.safe_load(proc.stdout)
