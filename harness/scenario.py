"""What the acceptance run needs besides the lab: the tag vocabulary, which scenarios a target or
store set cannot serve (and why), run order, and the context one scenario's steps share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from harness.config import LabConfig

FEATURE_TAGS: dict[str, str] = {
    "deployment": "the lab deploys and every service is healthy",
    "metrics": "metrics reach Prometheus",
    "traces": "traces reach the trace store",
    "logs": "logs reach the log store",
    "correlation": "one trace id links metrics, traces and logs",
    "failure": "behaviour when parts of the lab fail",
    "security": "security posture of the lab",
    "vm": "needs a VM (vagrant target)",
    "grafana": "needs Grafana (tempo-loki store set)",
    "destructive": "changes the lab; runs after the others and restores what it changed",
}


def static_skip_reason(config: LabConfig, tags: set[str]) -> str | None:
    """Why a scenario with these tags cannot run with this config (known before the lab is up)."""
    if "grafana" in tags and not config.has_grafana:
        return (
            f"@grafana needs Grafana, which the {config.stores} store set does not have "
            "(use --stores tempo-loki)"
        )
    if "vm" in tags and config.target not in ("vagrant", "auto"):  # auto: decided at run time
        return f"@vm needs a VM: the target is {config.target} (use --target vagrant)"
    return None


def runtime_skip_reason(capabilities: frozenset[str], target: str, tags: set[str]) -> str | None:
    """Why a scenario cannot run on the chosen target (known once the target is chosen)."""
    if "destructive" in tags and "control" not in capabilities:
        return (
            f"@destructive needs a target that can restart and stop services; target {target} cannot "
            "(for an existing lab set LAB_DOCKER_HOST)"
        )
    if "vm" in tags and "vm" not in capabilities:
        return f"@vm needs a VM: target {target} has none"
    return None


T = TypeVar("T")


def order_destructive_last(items: Sequence[T]) -> list[T]:
    """Stable order with @destructive scenarios after all others."""

    def is_destructive(item: Any) -> bool:
        return any(m.name == "destructive" for m in item.iter_markers())

    return sorted(items, key=is_destructive)


@dataclass
class ScenarioContext:
    """Values one step leaves for the next (the trace id it chose, a noted counter, a task id)."""

    markers: set[str] = field(default_factory=set)
    trace_id: str | None = None
    traceparent: str | None = None
    noted: dict[str, Any] = field(default_factory=dict)
    tasks: dict[str, int] = field(default_factory=dict)
    container_ids: dict[str, str] = field(default_factory=dict)
    trace: Any = None
    log_records: list[Any] = field(default_factory=list)
    responses: list[Any] = field(default_factory=list)
