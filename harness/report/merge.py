"""Several runs' results as one: the shards of a run (xdist workers, or machines running
``--shard k/N``) merged into one ``results.json``, and the repeats of a scenario (``--repeat N``)
folded into one scenario with its runs — **flaky** when it both passed and failed.

A flaky scenario is never a pass: it counts under its own status, fails the run and the feature,
shows as ``<failure type="flaky">`` with one ``<flakyFailure>`` per failed run in junit, and as its
runs in cucumber.json. The folded scenario shows the steps of its first failed run (the one to
read), and keeps every run under ``runs``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from harness.report import model
from harness.report.model import FAILED, FLAKY, PASSED, SKIPPED, UNDEFINED

SHARD_KEYS = ("shard", "lab project", "lab address")  # run information of one shard, not of the run
NOT_RUN = "not run"  # harness.report.records.NOT_RUN: the outcome of a scenario pytest never reported on


def fold_status(statuses: Sequence[str]) -> str:
    """The status of a scenario run several times: flaky when it both passed and failed (or was
    undefined), else the worst of its runs."""
    seen = set(statuses)
    if PASSED in seen and seen & {FAILED, UNDEFINED}:
        return FLAKY
    return model.worst(statuses, default=SKIPPED)


def fold(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One scenario from its runs (in the order they ran). A shard's record of a scenario another
    shard ran says "not run": it counts only when no shard ran it (then it is skipped, said so)."""
    ran = [r for r in runs if r.get("outcome") != NOT_RUN]
    runs = ran or list(runs[:1])
    runs = sorted(runs, key=lambda r: (r.get("started") or "", r.get("nodeid") or ""))
    if len(runs) == 1:
        return dict(runs[0])
    status = fold_status([r["status"] for r in runs])
    shown = next((r for r in runs if r["status"] in (FAILED, UNDEFINED)), runs[-1])
    folded = {k: v for k, v in shown.items() if k != "runs"}
    ran = [r for r in runs if r["status"] != SKIPPED]
    folded.update(
        status=status,
        duration=round(sum(float(r.get("duration") or 0.0) for r in runs), 6),
        started=runs[0].get("started"),
        runs=[dict(r) for r in runs],
        pass_rate=round(sum(r["status"] == PASSED for r in ran) / len(ran), 4) if ran else None,
        shown_run=runs.index(shown) + 1,
    )
    return folded


def _by_id(scenarios: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    names: dict[str, str] = {}
    for scenario in scenarios:
        names[scenario["id"]] = scenario["name"]
        for run in scenario.get("runs") or [scenario]:  # already folded: unfold, then fold again
            groups.setdefault(scenario["id"], []).append({k: v for k, v in run.items() if k != "runs"})
    folded = [{**fold(runs), "id": key, "name": names[key]} for key, runs in groups.items()]
    return sorted(folded, key=lambda s: (s.get("line", 0), (s.get("examples") or {}).get("row_line") or 0))


def features_of(features: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Features merged by file, their scenarios folded by id, statuses and times recomputed."""
    merged: dict[str, dict[str, Any]] = {}
    for feature in features:
        into = merged.setdefault(feature["file"], {**feature, "scenarios": []})
        into["scenarios"].extend(feature.get("scenarios", []))
    out = []
    for file in sorted(merged):
        feature = merged[file]
        feature["scenarios"] = _by_id(feature["scenarios"])
        feature["status"] = model.rollup([s["status"] for s in feature["scenarios"]])
        feature["duration"] = round(sum(s["duration"] for s in feature["scenarios"]), 6)
        out.append(feature)
    return out


def fold_repeats(results: Mapping[str, Any]) -> dict[str, Any]:
    """``results`` with each scenario's repeats folded (a run without repeats is unchanged)."""
    features = features_of(results.get("features", []))
    return {**results, "summary": model.summarize(features), "features": features}


def _when(text: str | None) -> float | None:
    try:
        return datetime.fromisoformat(text).timestamp() if text else None
    except ValueError:
        return None


def combine(parts: Sequence[Mapping[str, Any]], *, exit_status: int | None = None,
            info: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The shards' results as one run: every scenario once (repeats folded), the run from the first
    start to the last finish, each shard's own run kept under ``run.shards``."""
    if not parts:
        raise ValueError("nothing to merge")
    starts = [t for p in parts if (t := _when(p["run"].get("started"))) is not None]
    ends = [t for p in parts if (t := _when(p["run"].get("finished"))) is not None]
    started, finished = (min(starts) if starts else time.time()), (max(ends) if ends else time.time())
    first = parts[0]["run"]
    targets = sorted({str(p["run"].get("target")) for p in parts if p["run"].get("target")})
    merged_info: dict[str, Any] = {}
    for part in parts:
        merged_info.update({k: v for k, v in (part["run"].get("info") or {}).items() if k not in SHARD_KEYS})
    merged_info.update({k: v for k, v in (info or {}).items() if k not in SHARD_KEYS})
    shards = []
    for part in parts:
        run = part["run"]
        shard = {k: run.get(k) for k in ("started", "finished", "duration", "target", "exit_status")}
        shard.update({k: v for k, v in (run.get("info") or {}).items() if k in SHARD_KEYS})
        ran = [s for f in part.get("features", []) for s in f.get("scenarios", [])
               if s.get("outcome") != NOT_RUN]  # a shard also records what other shards ran
        shard["scenarios"] = model.count(s["status"] for s in ran)
        shards.append(shard)
    shards.sort(key=lambda s: str(s.get("shard") or ""))
    # Runs of one scenario on two targets are not repeats: each target's run stays its own scenario.
    several = len(targets) > 1
    tagged = []
    for part in parts:
        shard = (part["run"].get("info") or {}).get("shard")
        target = str(part["run"].get("target") or "")
        for feature in part.get("features", []):
            scenarios = []
            for s in feature.get("scenarios", []):
                mine = {**s, "shard": s.get("shard") or shard,
                        "runs": [{**r, "shard": r.get("shard") or shard} for r in s.get("runs") or []]}
                if several and not s["id"].endswith(f"@{target}"):
                    mine.update(id=f"{s['id']}@{target}", name=f"{s['name']} (on {target})",
                                runs=[{**r, "id": f"{s['id']}@{target}"} for r in mine["runs"]])
                scenarios.append(mine)
            tagged.append({**feature, "scenarios": scenarios})
    features = features_of(tagged)
    statuses = [p["run"].get("exit_status") or 0 for p in parts]
    return {
        "schema": model.SCHEMA,
        "run": {
            "started": datetime.fromtimestamp(started).astimezone().isoformat(timespec="milliseconds"),
            "finished": datetime.fromtimestamp(finished).astimezone().isoformat(timespec="milliseconds"),
            "duration": round(finished - started, 3),
            "target": ", ".join(targets) or first.get("target"),
            "stores": first.get("stores"),
            "exit_status": exit_status if exit_status is not None else max(statuses),
            "info": merged_info,
            "environment": first.get("environment", {}),
            "shards": shards,
        },
        "summary": model.summarize(features),
        "features": features,
    }
