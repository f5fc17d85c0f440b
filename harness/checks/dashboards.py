"""Grafana dashboards as the harness reads them: every PromQL query of every panel, with Grafana's
variables replaced by values a plain Prometheus accepts; and the check that each returns data.
Used by the acceptance step "every PromQL query of the provisioned dashboards returns data" and by
the stack's config tests. No dashboard query at all is a failure, not a pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.base.waiting import NotYet
from harness.checks.expectation import expect_within

if TYPE_CHECKING:  # a vocabulary over a Lab, not a user of the lab's lifecycle
    from harness.lab.lifecycle import Lab


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


def load_dashboards(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.json"))]


def dashboard_queries(dashboards_dir: Path) -> list[tuple[str, str, str]]:
    """(dashboard uid, panel title, concrete PromQL) of every Prometheus query of every panel."""
    return [
        (q.dashboard_uid, q.panel_title, substitute_variables(q.expr, board))
        for board in load_dashboards(dashboards_dir)
        for q in promql_queries(board)
    ]


def queries_return_data(lab: Lab, queries: list[tuple[str, str, str]], *, timeout: float = 60) -> None:
    """Each of ``queries`` (from :func:`dashboard_queries`) returns at least one series."""
    if not queries:
        raise AssertionError("the provisioned dashboards have no PromQL query: none can return data")

    def look() -> int:
        empty = [f"{uid}/{title}: {expr}" for uid, title, expr in queries if not lab.prometheus.query(expr)]
        if empty:
            raise NotYet(f"{len(empty)} of {len(queries)} queries return no data: {empty}")
        return len(queries)

    expect_within(lab, "metrics", look, timeout=timeout, interval=3,
                  what=f"all {len(queries)} dashboard queries to return data",
                  shown=lambda n: {"queries": [f"{u}/{t}" for u, t, _ in queries]})
