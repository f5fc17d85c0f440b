"""The results model (``results.json``): one place that says what a run did, read by every renderer.

The pytest plugin writes it; ``cucumber.json`` and the living docs are both rendered from it (never
from pytest's objects), so ``python -m harness.report results.json`` can re-render them later and
get the same files. Plain dicts and lists keep it JSON-shaped; this module holds the vocabulary
(statuses), the summary arithmetic and load/save.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

SCHEMA = "obslab-results/1"

# Step statuses are Cucumber's (the Jenkins plugin accepts exactly these plus "pending").
PASSED = "passed"
FAILED = "failed"
SKIPPED = "skipped"
UNDEFINED = "undefined"
STEP_STATUSES = (PASSED, FAILED, SKIPPED, UNDEFINED)
# A scenario run several times (--repeat) that both passed and failed: never a pass
# (:mod:`harness.report.merge`).
FLAKY = "flaky"
STATUSES = (*STEP_STATUSES, FLAKY)
# A scenario's status is the worst of its steps and hooks, in this order (first = worst).
SEVERITY = (FAILED, UNDEFINED, SKIPPED, PASSED)


class ResultsError(ValueError):
    """``results.json`` is missing, not JSON, or not a file this package wrote."""


def worst(statuses: Iterable[str], default: str = PASSED) -> str:
    """The most severe status in ``statuses`` (failed > undefined > skipped > passed)."""
    seen = set(statuses)
    for status in SEVERITY:
        if status in seen:
            return status
    return default


def rollup(statuses: Iterable[str]) -> str:
    """A feature's (or a run's) status from its scenarios: a skipped scenario beside passing ones
    does not make the feature "skipped"; it is skipped only when nothing in it ran."""
    seen = set(statuses)
    for status in (FAILED, UNDEFINED, FLAKY, PASSED):
        if status in seen:
            return status
    return SKIPPED


def count(statuses: Iterable[str]) -> dict[str, int]:
    """Counts for every known status (zeros included, so templates need no defaults)."""
    counter = Counter(statuses)
    return {status: counter.get(status, 0) for status in STATUSES}


def summarize(features: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts by status for features, scenarios and steps, and the summed scenario time."""
    scenarios = [s for f in features for s in f["scenarios"]]
    steps = [st for s in scenarios for st in s["steps"]]
    return {
        "features": count(f["status"] for f in features),
        "scenarios": count(s["status"] for s in scenarios),
        "steps": count(st["status"] for st in steps),
        "totals": {"features": len(features), "scenarios": len(scenarios), "steps": len(steps)},
        "scenario_time": round(sum(s.get("duration", 0.0) for s in scenarios), 6),
    }


def save(results: Mapping[str, Any], path: Path) -> Path:
    """Write ``results.json`` (UTF-8, stable key order as built)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def load(path: Path) -> dict[str, Any]:
    """Read a ``results.json`` and check it is ours, with a one-line error if not."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(
            f"{path} does not exist; run the acceptance suite first (tox -e acceptance)"
        ) from None
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{path} is not readable JSON: {exc}") from None
    ours = isinstance(data, dict) and data.get("schema") == SCHEMA and isinstance(data.get("features"), list)
    if not ours:
        raise ResultsError(f"{path} is not a results file of this harness (expected schema {SCHEMA!r})")
    return data
