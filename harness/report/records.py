"""The run's records: what each scenario, step and pytest phase did, as the plugin learns it.

The hooks (:mod:`harness.report.plugin`) fill them from pytest-bdd's facts
(:mod:`harness.bdd.bdd_adapter`) and from pytest's phase reports (as a :class:`PhaseReport`);
``to_dict`` turns them into the results model (:mod:`harness.report.model`). No pytest or pytest-bdd
object reaches this module, so the status rules here are tested without running pytest.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.base import evidence
from harness.bdd.bdd_adapter import ScenarioFacts, StepFacts, Tag
from harness.bdd.identity import scenario_id, slug
from harness.report import model
from harness.report.model import FAILED, PASSED, SKIPPED, UNDEFINED

RUNNING = "running"  # internal: a step between before_step and its outcome
NOT_RUN = "not run"  # a scenario's outcome until pytest reports on it
PHASES = ("setup", "call", "teardown")


@dataclass
class StepRecord:
    """What one step did; ``status`` stays None until the step starts, so "never ran" is visible."""

    keyword: str
    text: str
    line: int
    background: bool
    docstring: str | None = None
    datatable: list[list[str]] | None = None
    status: str | None = None  # None: never started
    duration: float = 0.0
    started: float | None = None
    location: str | None = None
    error: dict[str, str] | None = None
    skip_reason: str | None = None
    evidence: evidence.EvidenceLog = field(default_factory=evidence.EvidenceLog)

    @classmethod
    def from_facts(cls, step: StepFacts) -> StepRecord:
        return cls(
            keyword=step.keyword,
            text=step.text,
            line=step.line,
            background=step.background,
            docstring=step.docstring,
            datatable=step.datatable,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "keyword": self.keyword,
            "text": self.text,
            "line": self.line,
            "background": self.background,
            "status": self.status or SKIPPED,
            "duration": round(self.duration, 6),
            "location": self.location,
            "error": self.error,
            "skip_reason": self.skip_reason,
            "docstring": self.docstring,
            "datatable": self.datatable,
            "evidence": self.evidence.to_list(),
        }


@dataclass
class HookRecord:
    """One pytest phase of a scenario (setup, call outside steps, teardown) seen as a Cucumber hook."""

    phase: str
    ran: bool = False
    status: str = PASSED
    duration: float = 0.0
    error: dict[str, str] | None = None
    evidence: evidence.EvidenceLog = field(default_factory=evidence.EvidenceLog)

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "status": self.status,
            "duration": round(self.duration, 6),
            "error": self.error,
            "evidence": self.evidence.to_list(),
        }


@dataclass(frozen=True)
class PhaseReport:
    """What pytest reported for one phase of a scenario (the plugin makes it from a ``TestReport``)."""

    when: str  # setup | call | teardown
    outcome: str  # passed | failed | skipped (pytest's words)
    duration: float
    start: float
    expected_failure: bool = False  # pytest's ``wasxfail``: an xfail (skipped) or an xpass (passed)
    reason: str | None = None  # the skip or xfail reason, when skipped
    error: dict[str, str] | None = None  # message and traceback, when failed


@dataclass
class ScenarioRecord:
    """One collected scenario (one outline row), filled from pytest-bdd's hooks and pytest's reports."""

    nodeid: str
    order: int
    feature: dict[str, Any]
    keyword: str
    name: str
    line: int
    description: str
    tags: list[dict[str, Any]]
    rule: dict[str, Any] | None
    examples: dict[str, Any] | None
    steps: list[StepRecord]
    hooks: dict[str, HookRecord] = field(default_factory=lambda: {p: HookRecord(p) for p in PHASES})
    outcome: str = NOT_RUN
    skip_reason: str | None = None
    xfail_reason: str | None = None
    started: float | None = None
    duration: float = 0.0
    step_ids: dict[int, int] = field(default_factory=dict)
    token: Any = None

    @classmethod
    def from_facts(cls, facts: ScenarioFacts, nodeid: str, order: int, root: Path) -> ScenarioRecord:
        """A record before anything ran, paths relative to ``root``."""
        feature = facts.feature
        examples = None
        if facts.examples is not None:
            ex = facts.examples
            examples = {
                "name": ex.name,
                "line": ex.line,
                "tags": _tags(ex.tags),
                "index": ex.index,
                "row_line": ex.row_line,
                "row": ex.row,
            }
        rule = None
        if facts.rule is not None:
            rule = {"keyword": facts.rule.keyword, "name": facts.rule.name, "tags": _tags(facts.rule.tags)}
        return cls(
            nodeid=nodeid,
            order=order,
            feature={
                "id": slug(feature.name or feature.rel_filename),
                "keyword": feature.keyword,
                "name": feature.name,
                "description": feature.description.strip("\n"),
                "file": relpath(feature.filename, root),
                "line": feature.line,
                "language": feature.language,
                "tags": _tags(feature.tags),
            },
            keyword=facts.keyword,
            name=facts.name,
            line=facts.line,
            description=facts.description.strip("\n"),
            tags=_tags(facts.tags),
            rule=rule,
            examples=examples,
            steps=[StepRecord.from_facts(s) for s in facts.steps],
        )

    # -- which record is which step ---------------------------------------------------------------
    def bind(self, keys: list[int], steps: list[StepFacts]) -> None:
        """Remember which step (by :func:`bdd_adapter.step_key`) is which record, as the scenario runs."""
        if len(steps) != len(self.steps):  # collection saw other steps than run: trust what runs
            self.steps = [StepRecord.from_facts(s) for s in steps]
        self.step_ids = {key: i for i, key in enumerate(keys)}

    def step_for(self, key: int, step: StepFacts) -> StepRecord:
        index = self.step_ids.get(key)
        if index is not None:
            return self.steps[index]
        for record in self.steps:  # a step object not seen at bind: the same line, not yet run
            if record.line == step.line and record.status is None:
                return record
        record = StepRecord.from_facts(step)
        self.steps.append(record)
        return record

    # -- the current evidence log -------------------------------------------------------------------
    def enter(self, record: StepRecord) -> None:
        self.leave()
        self.token = evidence.set_current(record.evidence)

    def leave(self) -> None:
        if self.token is not None:
            with contextlib.suppress(ValueError):  # set in another context: nothing to restore
                evidence.reset_current(self.token)
        self.token = None

    # -- pytest's phase reports ---------------------------------------------------------------------
    def absorb(self, report: PhaseReport) -> None:
        hook = self.hooks[report.when]
        hook.ran = True
        hook.duration = report.duration
        self.duration += report.duration
        if self.started is None:
            self.started = report.start
        if report.outcome == "skipped":
            reason = report.reason or "skipped"
            if report.expected_failure:
                self.xfail_reason = reason
                self.outcome = "xfailed"
            else:
                self.skip_reason = reason
                self.outcome = "skipped"
                if report.when == "setup":
                    hook.status = SKIPPED
            for step in self.steps:
                if step.status == RUNNING:
                    step.status = SKIPPED
                    step.skip_reason = reason
        elif report.outcome == "failed":
            if report.when == "call":
                self.outcome = "failed"
                running = [s for s in self.steps if s.status == RUNNING]
                if running:
                    running[0].status = FAILED
                    running[0].error = report.error
                elif not any(s.status in (FAILED, UNDEFINED) for s in self.steps):
                    hook.status = FAILED
                    hook.error = report.error
            else:
                self.outcome = "error"
                hook.status = FAILED
                hook.error = report.error
        elif report.when == "call":
            self.outcome = "xpassed" if report.expected_failure else "passed"
        elif report.when == "setup" and self.outcome == NOT_RUN:
            self.outcome = "passed"

    def finish(self) -> None:
        """After teardown: steps that never ran are skipped (with the scenario's skip reason)."""
        self.leave()
        for step in self.steps:
            if step.status is None:
                step.status = SKIPPED
                if self.skip_reason:
                    step.skip_reason = self.skip_reason
            elif step.status == RUNNING:  # interrupted by something pytest did not report (Ctrl-C)
                step.status = FAILED
                interrupted = {"message": "the step never finished (interrupted)", "traceback": ""}
                step.error = step.error or interrupted
                self.outcome = "interrupted"

    def status(self) -> str:
        """The worst of the steps and phases; an expected failure (xfail) counts as skipped."""
        steps = [s.status or SKIPPED for s in self.steps]
        hooks = {phase: h.status for phase, h in self.hooks.items() if h.ran}
        if self.xfail_reason is not None:  # the failure pytest expected; setup/teardown errors still count
            steps = [SKIPPED if s == FAILED else s for s in steps]
            hooks.pop("call", None)
        return model.worst([*steps, *hooks.values()], default=SKIPPED if self.skip_reason else PASSED)

    def to_dict(self) -> dict[str, Any]:
        status = self.status()
        hooks = [h.to_dict() for h in self.hooks.values() if h.ran]
        return {
            "id": record_id(self),
            "nodeid": self.nodeid,
            "keyword": self.keyword,
            "name": self.name,
            "line": self.line,
            "description": self.description,
            "tags": self.tags,
            "rule": self.rule,
            "examples": self.examples,
            "status": status,
            "outcome": self.outcome,
            "skip_reason": self.skip_reason,
            "xfail_reason": self.xfail_reason,
            "started": iso(self.started) if self.started else None,
            "duration": round(self.duration, 6),
            "hooks": hooks,
            "steps": [s.to_dict() for s in self.steps],
        }


def record_id(record: ScenarioRecord) -> str:
    """The record's scenario as :func:`harness.bdd.identity.scenario_id` names it."""
    examples = record.examples
    return scenario_id(record.feature["name"] or record.feature["file"], record.name,
                       examples["name"] if examples else None, examples["index"] if examples else None)


def relpath(path: str | os.PathLike[str], root: Path) -> str:
    """``path`` relative to ``root`` in POSIX form, or as given when it lies outside."""
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return Path(path).as_posix()


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="milliseconds")


def _tags(tags: list[Tag]) -> list[dict[str, Any]]:
    return [{"name": tag.name, "line": tag.line} for tag in tags]
