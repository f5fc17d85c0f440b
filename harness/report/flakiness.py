"""How often each scenario passes, over several runs and their repeats (``lab flaky``): flaky told
apart from broken. A scenario that passed every time it ran is *stable*, one that failed every time
is *broken* (the lab or the suite has a defect), one that did both is *flaky* (a defect of the suite
or of the lab's timing: it makes a red verdict unreadable, so it is never counted as a pass).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.report.model import FAILED, PASSED, SKIPPED, UNDEFINED

STABLE, BROKEN, FLAKY, NOT_RUN = "stable", "broken", "flaky", "not run"


@dataclass
class Row:
    feature: str
    scenario: str
    id: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)  # the first line of each failure

    @property
    def ran(self) -> int:
        return self.passed + self.failed

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.ran if self.ran else None

    @property
    def verdict(self) -> str:
        if not self.ran:
            return NOT_RUN
        if not self.failed:
            return STABLE
        return FLAKY if self.passed else BROKEN


def _first_error(run: Mapping[str, Any]) -> str:
    for part in [*run.get("hooks", []), *run.get("steps", [])]:
        if part.get("status") in (FAILED, UNDEFINED):
            message = ((part.get("error") or {}).get("message") or part.get("status") or "").strip()
            return message.splitlines()[0][:200] if message else str(part.get("status"))
    return str(run.get("status"))


def _target(results: Mapping[str, Any]) -> str:
    return str((results.get("run") or {}).get("target") or "")


def tally(runs: Sequence[Mapping[str, Any]]) -> list[Row]:
    """One row per scenario over every run and every repeat in ``runs`` (results dicts). Runs on two
    targets are not repeats of one scenario (as in ``lab report merge``): when ``runs`` come from
    several targets, each target's scenario is its own row, "(on <target>)", so a scenario red on
    one target and green on the other reads broken there and stable here, not flaky."""
    rows: dict[str, Row] = {}
    several = len({_target(r) for r in runs}) > 1
    for results in runs:
        target = _target(results)
        own = several and target and ", " not in target  # a merged report's ids carry @target already
        for feature in results.get("features", []):
            for scenario in feature.get("scenarios", []):
                key, name = scenario["id"], scenario["name"]
                if own and not key.endswith(f"@{target}"):
                    key, name = f"{key}@{target}", f"{name} (on {target})"
                row = rows.setdefault(key, Row(feature.get("name") or feature["file"], name, key))
                for run in scenario.get("runs") or [scenario]:
                    status = run.get("status")
                    if status == PASSED:
                        row.passed += 1
                    elif status in (FAILED, UNDEFINED):
                        row.failed += 1
                        row.failures.append(_first_error(run))
                    elif status == SKIPPED:
                        row.skipped += 1
    order = {FLAKY: 0, BROKEN: 1, STABLE: 2, NOT_RUN: 3}
    return sorted(rows.values(), key=lambda r: (order[r.verdict], r.feature, r.scenario))


def counts(rows: Sequence[Row]) -> dict[str, int]:
    out = {STABLE: 0, FLAKY: 0, BROKEN: 0, NOT_RUN: 0}
    for row in rows:
        out[row.verdict] += 1
    return out


def lines(rows: Sequence[Row]) -> list[str]:
    """For the terminal: the counts, then every scenario that is not stable with its failures."""
    c = counts(rows)
    runs = sum(r.ran for r in rows)
    out = [f"{len(rows)} scenarios, {runs} runs: {c[STABLE]} stable, {c[FLAKY]} flaky, {c[BROKEN]} broken, "
           f"{c[NOT_RUN]} never ran (skipped)"]
    for row in rows:
        if row.verdict in (FLAKY, BROKEN):
            out.append(f"  {row.verdict}: {row.feature} / {row.scenario}: passed {row.passed} of {row.ran}")
            out += [f"      {text}" for text in dict.fromkeys(row.failures)]
    return out


def markdown(rows: Sequence[Row], sources: Sequence[str]) -> str:
    c = counts(rows)
    out = [
        "# Flakiness",
        "",
        f"Made by `lab flaky` from {len(sources)} results file(s): " + ", ".join(f"`{s}`" for s in sources),
        "",
        f"**{c[STABLE]} stable, {c[FLAKY]} flaky, {c[BROKEN]} broken**, {c[NOT_RUN]} never ran (skipped "
        "on this target or store set, each with its reason in the run's report).",
        "",
        "| verdict | feature | scenario | passed | ran | pass rate |",
        "|---|---|---|---:|---:|---:|",
    ]
    for row in rows:
        rate = f"{100 * row.pass_rate:.0f} %" if row.pass_rate is not None else "-"
        out.append(f"| {row.verdict} | {row.feature} | {row.scenario} | {row.passed} | {row.ran} | {rate} |")
    failing = [r for r in rows if r.failures]
    if failing:
        out += ["", "## Failures", ""]
        for row in failing:
            out.append(f"- **{row.scenario}** ({row.verdict}): " + "; ".join(dict.fromkeys(row.failures)))
    return "\n".join(out) + "\n"
