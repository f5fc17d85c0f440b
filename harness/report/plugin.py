"""pytest plugin: what each scenario and step did, with its evidence, written as the lab's reports.

Why not pytest-bdd's own ``--cucumberjson``: it marks the steps after a failed step as failed, marks
a step that called ``pytest.skip`` as passed, leaves the undefined step out and drops scenarios that
never started (skipped by a marker or in a fixture). This plugin keeps its own record per scenario
from pytest-bdd's hooks and pytest's reports, and at the end of the session writes into the reports
directory (``--reports-dir``, else ``LAB_REPORTS_DIR``, else ``reports/`` under the rootdir):

- ``results.json``  the full model (:mod:`harness.report.model`), the source of the two below;
- ``cucumber.json`` standard Cucumber JSON for the Jenkins Cucumber Reports plugin;
- ``living-docs/index.html`` the features as readable documentation with outcomes and evidence.

Nothing is written when the run selected no pytest-bdd scenario (``pytest tests`` must not
overwrite the acceptance run's reports), with ``--collect-only``, or with ``--no-lab-report``.
Selected scenarios that never ran (``-x``, ``--maxfail``, Ctrl-C) are reported as skipped with the
reason "not run", never left out.

Evidence (:mod:`harness.evidence`): a fresh log is made current for each step (from
``pytest_bdd_before_step`` to ``pytest_bdd_after_step``/``pytest_bdd_step_error``), so fixtures a
step pulls in lazily attach to that step. Evidence attached while pytest sets up the scenario's
fixtures (autouse or session fixtures, the lab itself) is kept as the scenario's ``setup`` hook,
in teardown as its ``teardown`` hook, and anything attached in the call phase outside a step as
its ``call`` hook.

Run information: :func:`add_run_info` (any time, from conftest or harness code), or implement the
``pytest_lab_run_info(config)`` hook returning a dict.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import platform
import socket
import time
import traceback
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from harness import evidence
from harness.report import model
from harness.report.model import FAILED, PASSED, SKIPPED, UNDEFINED

REPORTS_ENV = "LAB_REPORTS_DIR"
EXAMPLE_PARAM = "_pytest_bdd_example"  # the parameter pytest-bdd parametrizes outlines with
MESSAGE_LIMIT = 4000
TRACEBACK_LINES = 80
TRACEBACK_CHARS = 8000
INTERNAL_PATHS = (f"{os.sep}_pytest{os.sep}", f"{os.sep}pytest_bdd{os.sep}", f"{os.sep}pluggy{os.sep}")
RUNNING = "running"  # internal: a step between before_step and its outcome

_KEY = pytest.StashKey["ReportCollector"]()
_pending_info: dict[str, Any] = {}


def add_run_info(key: str, value: Any) -> None:
    """Add one line (``key: value``) to the run information shown on top of the reports.

    Safe to call before the session starts (kept until a run picks it up) and outside pytest.
    ``target`` and ``stores`` keys also fill the run's target and store set.
    """
    # Kept aside until the running session collects it (at configure and again at the end), so a
    # conftest can call this at import time, from a hook or from a fixture alike.
    _pending_info[str(key)] = evidence._jsonable(value)


# --------------------------------------------------------------------------------------------------
# plugin entry points (module level: registered with -p / pytest_plugins)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from harness.report import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lab-report", "lab reports (results.json, cucumber.json, living docs)")
    group.addoption(
        "--reports-dir",
        dest="lab_reports_dir",
        default=None,
        metavar="DIR",
        help=f"where to write results.json, cucumber.json and living-docs/ (env {REPORTS_ENV}; "
        "default: reports/ under the rootdir)",
    )
    group.addoption(
        "--no-lab-report",
        dest="lab_report",
        action="store_false",
        default=True,
        help="do not write the lab reports",
    )


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("lab_report", True) or hasattr(config, "workerinput"):
        return  # disabled, or an xdist worker (the records live in the controller only)
    collector = ReportCollector(config)
    config.stash[_KEY] = collector
    config.pluginmanager.register(collector, "harness-report-collector")


def pytest_unconfigure(config: pytest.Config) -> None:
    collector = config.stash.get(_KEY, None)
    if collector is None:
        return
    del config.stash[_KEY]
    config.pluginmanager.unregister(collector)


def reports_dir(config: pytest.Config) -> Path:
    """The reports directory: option, then environment, then ``reports/`` under the rootdir."""
    chosen = config.getoption("lab_reports_dir", None) or os.environ.get(REPORTS_ENV)
    if chosen:
        path = Path(os.path.expanduser(chosen))
        return path if path.is_absolute() else Path(config.invocation_params.dir) / path
    return Path(config.rootpath) / "reports"


# --------------------------------------------------------------------------------------------------
# records


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
    hooks: dict[str, HookRecord] = field(
        default_factory=lambda: {p: HookRecord(p) for p in ("setup", "call", "teardown")}
    )
    outcome: str = "not run"
    skip_reason: str | None = None
    xfail_reason: str | None = None
    started: float | None = None
    duration: float = 0.0
    step_ids: dict[int, int] = field(default_factory=dict)
    token: Any = None

    # -- binding pytest-bdd's objects --------------------------------------------------------------
    def bind(self, scenario: Any) -> None:
        """Remember which rendered step object is which record (pytest-bdd passes those to hooks)."""
        steps = list(scenario.steps)
        if len(steps) != len(self.steps):  # should not happen; trust what is actually run
            self.steps = _step_records(steps, _background_count(scenario))
        self.step_ids = {id(s): i for i, s in enumerate(steps)}

    def step_for(self, step: Any) -> StepRecord:
        index = self.step_ids.get(id(step))
        if index is not None:
            return self.steps[index]
        for record in self.steps:  # fallback: same line, not yet run
            if record.line == step.line_number and record.status is None:
                return record
        [record] = _step_records([step], background=0)
        self.steps.append(record)
        return record

    def enter(self, record: StepRecord) -> None:
        self.leave()
        self.token = evidence.set_current(record.evidence)

    def leave(self) -> None:
        if self.token is not None:
            with contextlib.suppress(ValueError):  # set in another context: nothing to restore
                evidence.reset_current(self.token)
        self.token = None

    # -- pytest reports -----------------------------------------------------------------------------
    def absorb(self, report: pytest.TestReport, call: pytest.CallInfo[Any]) -> None:
        hook = self.hooks[report.when]
        hook.ran = True
        hook.duration = report.duration
        self.duration += report.duration
        if self.started is None:
            self.started = report.start
        if report.skipped:
            reason = _skip_reason(report)
            if hasattr(report, "wasxfail"):
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
        elif report.failed:
            problem = _error_from_call(call, report)
            if report.when == "call":
                self.outcome = "failed"
                running = [s for s in self.steps if s.status == RUNNING]
                if running:
                    running[0].status = FAILED
                    running[0].error = problem
                elif not any(s.status in (FAILED, UNDEFINED) for s in self.steps):
                    hook.status = FAILED
                    hook.error = problem
            else:
                self.outcome = "error"
                hook.status = FAILED
                hook.error = problem
        elif report.when == "call":
            self.outcome = "xpassed" if hasattr(report, "wasxfail") else "passed"
        elif report.when == "setup" and self.outcome == "not run":
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
            "id": _scenario_id(self),
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
            "started": _iso(self.started) if self.started else None,
            "duration": round(self.duration, 6),
            "hooks": hooks,
            "steps": [s.to_dict() for s in self.steps],
        }


# --------------------------------------------------------------------------------------------------
# the collector (one per pytest run)


class ReportCollector:
    """Hook implementations with the run's records; registered per config by :func:`pytest_configure`."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.records: dict[str, ScenarioRecord] = {}
        self.run_info: dict[str, Any] = {}
        self.take_run_info()
        self.started = time.time()
        self.written: Path | None = None
        self.failure: str | None = None

    # -- collection: every selected scenario gets a record, so none can vanish from the reports ----
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for order, item in enumerate(session.items):
            try:
                record = _record_from_item(item, order, Path(self.config.rootpath))
            except Exception as exc:  # recorded when it runs instead (before_scenario)
                self.failure = f"lab reports: could not read scenario {item.nodeid}: {exc!r}"
                continue
            if record is not None:
                self.records[item.nodeid] = record

    def take_run_info(self) -> None:
        self.run_info.update(_pending_info)
        _pending_info.clear()

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.started = time.time()

    # -- evidence outside steps ----------------------------------------------------------------------
    def _phase(self, item: pytest.Item, phase: str) -> Generator[None, Any, Any]:
        __tracebackhide__ = True  # keep this wrapper out of every failure pytest prints
        record = self.records.get(item.nodeid)
        if record is None:
            return (yield)
        token = evidence.set_current(record.hooks[phase].evidence)
        try:
            return (yield)
        finally:
            record.leave()  # a step interrupted by pytest.skip/xfail never reached after_step
            evidence.reset_current(token)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, Any, Any]:
        __tracebackhide__ = True
        return (yield from self._phase(item, "setup"))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, Any, Any]:
        __tracebackhide__ = True
        return (yield from self._phase(item, "call"))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, Any, Any]:
        __tracebackhide__ = True
        return (yield from self._phase(item, "teardown"))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[Any]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        record = self.records.get(item.nodeid)
        if record is not None:
            try:
                record.absorb(report, call)
                if report.when == "teardown":
                    record.finish()
            except Exception as exc:  # a reporting bug must not turn into a pytest INTERNALERROR
                self.failure = f"lab reports: could not record {item.nodeid}: {exc!r}"
        return report

    # -- pytest-bdd ----------------------------------------------------------------------------------
    def _record(self, request: pytest.FixtureRequest, scenario: Any) -> ScenarioRecord:
        item = request.node
        record = self.records.get(item.nodeid)
        if record is None:  # a scenario run some other way than collection (should not happen)
            record = _record_from_item(item, len(self.records), Path(self.config.rootpath), scenario)
            assert record is not None
            self.records[item.nodeid] = record
        return record

    @pytest.hookimpl(tryfirst=True)
    def pytest_bdd_before_scenario(self, request: pytest.FixtureRequest, feature: Any, scenario: Any) -> None:
        self._record(request, scenario).bind(scenario)

    @pytest.hookimpl(tryfirst=True)
    def pytest_bdd_before_step(
        self,
        request: pytest.FixtureRequest,
        feature: Any,
        scenario: Any,
        step: Any,
        step_func: Callable[..., Any],
    ) -> None:
        record = self._record(request, scenario)
        st = record.step_for(step)
        st.status = RUNNING
        st.started = time.perf_counter()
        st.location = _location(step_func, Path(self.config.rootpath))
        record.enter(st)

    @pytest.hookimpl(trylast=True)
    def pytest_bdd_after_step(
        self,
        request: pytest.FixtureRequest,
        feature: Any,
        scenario: Any,
        step: Any,
        step_func: Callable[..., Any],
        step_func_args: dict[str, Any],
    ) -> None:
        record = self._record(request, scenario)
        st = record.step_for(step)
        st.status = PASSED
        st.duration = _since(st.started)
        record.leave()

    @pytest.hookimpl(trylast=True)
    def pytest_bdd_step_error(
        self,
        request: pytest.FixtureRequest,
        feature: Any,
        scenario: Any,
        step: Any,
        step_func: Callable[..., Any],
        step_func_args: dict[str, Any],
        exception: BaseException,
    ) -> None:
        record = self._record(request, scenario)
        st = record.step_for(step)
        st.status = FAILED
        st.duration = _since(st.started)
        st.error = _error_from_exception(exception)
        record.leave()

    @pytest.hookimpl(trylast=True)
    def pytest_bdd_step_func_lookup_error(
        self, request: pytest.FixtureRequest, feature: Any, scenario: Any, step: Any, exception: BaseException
    ) -> None:
        record = self._record(request, scenario)
        st = record.step_for(step)
        st.status = UNDEFINED
        st.location = f"{_relpath(scenario.feature.filename, Path(self.config.rootpath))}:{step.line_number}"
        st.error = {"message": _message(exception), "traceback": ""}

    @pytest.hookimpl(trylast=True)
    def pytest_bdd_after_scenario(self, request: pytest.FixtureRequest, feature: Any, scenario: Any) -> None:
        record = self._record(request, scenario)
        for st in record.steps:
            if st.status == RUNNING:  # left by an outcome exception (pytest.skip, pytest.xfail, exit)
                st.duration = _since(st.started)
        record.leave()

    # -- the end ---------------------------------------------------------------------------------------
    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.records or self.config.option.collectonly:  # keep the last run's reports
            return
        for record in self.records.values():
            if record.outcome == "not run":
                record.skip_reason = record.skip_reason or "not run: the session stopped before this scenario"
            record.finish()  # idempotent; settles a step left running by an interrupted run
        self.take_run_info()
        for extra in self.config.hook.pytest_lab_run_info(config=self.config):
            if isinstance(extra, dict):
                for key, value in extra.items():
                    self.run_info[str(key)] = evidence._jsonable(value)
        results = self.results(int(exitstatus))
        out = reports_dir(self.config)
        try:
            from harness.report import render

            render.write_all(results, out)
        except Exception as exc:  # a broken report must not hide the run's own outcome
            self.failure = f"lab reports could not be written to {out}: {exc!r}"
            traceback.print_exc()
            return
        self.written = out

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.written is not None:
            terminalreporter.write_sep("-", f"lab reports: {self.written} (living-docs/index.html)")
        if self.failure:
            terminalreporter.write_sep("!", self.failure, red=True)

    def results(self, exitstatus: int) -> dict[str, Any]:
        """The run as the :mod:`harness.report.model` dict."""
        root = Path(self.config.rootpath)
        features: dict[str, dict[str, Any]] = {}
        ordered = sorted(self.records.values(), key=lambda r: (r.feature["file"], r.line, r.order))
        for record in ordered:
            feature = features.setdefault(record.feature["file"], {**record.feature, "scenarios": []})
            feature["scenarios"].append(record.to_dict())
        for feature in features.values():
            feature["status"] = model.rollup([s["status"] for s in feature["scenarios"]])
            feature["duration"] = round(sum(s["duration"] for s in feature["scenarios"]), 6)
        feature_list = list(features.values())
        finished = time.time()
        info = dict(self.run_info)
        return {
            "schema": model.SCHEMA,
            "run": {
                "started": _iso(self.started),
                "finished": _iso(finished),
                "duration": round(finished - self.started, 3),
                "target": info.get("target") or _option_or_env(self.config, "target", "LAB_TARGET"),
                "stores": info.get("stores") or _option_or_env(self.config, "stores", "LAB_STORES"),
                "exit_status": exitstatus,
                "info": info,
                "environment": _environment(self.config, root),
            },
            "summary": model.summarize(feature_list),
            "features": feature_list,
        }


# --------------------------------------------------------------------------------------------------
# helpers


def _scenario_template(item: pytest.Item) -> Any:
    try:
        from pytest_bdd.scenario import scenario_wrapper_template_registry
    except ImportError:  # pragma: no cover - pytest-bdd moved its internals
        return None
    function = getattr(item, "function", None)
    if function is None:
        return None
    try:
        return scenario_wrapper_template_registry.get(function)
    except TypeError:
        return None


def _record_from_item(
    item: pytest.Item, order: int, root: Path, scenario: Any = None
) -> ScenarioRecord | None:
    """A record for a pytest-bdd scenario item (None for other tests), before anything ran."""
    template = _scenario_template(item)
    if template is None and scenario is None:
        return None
    callspec = getattr(item, "callspec", None)
    example = dict(callspec.params.get(EXAMPLE_PARAM) or {}) if callspec is not None else {}
    if scenario is None:
        scenario = template.render(example)
    feature = scenario.feature
    lines = _gherkin_lines(feature.filename)
    scenario_lines = lines["scenarios"].get(scenario.line_number, {})
    examples = None
    if example and template is not None:
        examples = _examples_info(template, callspec.indices.get(EXAMPLE_PARAM, 0), example, scenario_lines)
    rule = None
    if scenario.rule is not None:
        rule = {
            "keyword": scenario.rule.keyword,
            "name": scenario.rule.name,
            "tags": _tags(scenario.rule.tags, lines["rules"].get(scenario.rule.name, {})),
        }
    return ScenarioRecord(
        nodeid=item.nodeid,
        order=order,
        feature={
            "id": _slug(feature.name or feature.rel_filename),
            "keyword": feature.keyword,
            "name": feature.name,
            "description": (feature.description or "").strip("\n"),
            "file": _relpath(feature.filename, root),
            "line": feature.line_number,
            "language": feature.language,
            "tags": _tags(feature.tags, lines["feature_tags"]),
        },
        keyword=scenario.keyword,
        name=scenario.name,
        line=scenario.line_number,
        description=(scenario.description or "").strip("\n"),
        tags=_tags(scenario.tags, scenario_lines.get("tags", {})),
        rule=rule,
        examples=examples,
        steps=_step_records(scenario.steps, _background_count(scenario)),
    )


def _background_count(scenario: Any) -> int:
    count = 0
    if scenario.feature.background is not None:
        count += len(scenario.feature.background.steps)
    rule = getattr(scenario, "rule", None)
    if rule is not None and rule.background is not None:
        count += len(rule.background.steps)
    return count


def _step_records(steps: list[Any], background: int) -> list[StepRecord]:
    records = []
    for index, step in enumerate(steps):
        table = None
        if step.datatable is not None:
            try:
                table = [[str(c) for c in row] for row in step.datatable.raw()]
            except Exception:
                table = None
        records.append(
            StepRecord(
                keyword=step.keyword.strip(),
                text=step.name,
                line=step.line_number,
                background=index < background,
                docstring=step.docstring,
                datatable=table,
            )
        )
    return records


def _examples_info(
    template: Any, index: int, example: dict[str, str], scenario_lines: dict[str, Any]
) -> dict[str, Any]:
    """Which Examples table and row an outline run came from (pytest-bdd numbers rows across tables)."""
    position = 0
    for table_index, table in enumerate(template.examples):
        rows = list(table.as_contexts())
        if position + len(rows) > index:
            row_index = index - position
            table_lines = scenario_lines.get("examples") or []
            row_lines = table_lines[table_index]["rows"] if table_index < len(table_lines) else []
            tag_lines = table_lines[table_index]["tags"] if table_index < len(table_lines) else {}
            return {
                "name": table.name or "",
                "line": table.line_number,
                "tags": _tags(table.tags, tag_lines),
                "index": row_index,
                "row_line": row_lines[row_index] if row_index < len(row_lines) else None,
                "row": example,
            }
        position += len(rows)
    return {"name": "", "line": None, "tags": [], "index": index, "row_line": None, "row": example}


@lru_cache(maxsize=256)
def _gherkin_lines(filename: str) -> dict[str, Any]:
    """Line numbers pytest-bdd's model drops (tags, example rows), from the Gherkin document."""
    lines: dict[str, Any] = {"feature_tags": {}, "rules": {}, "scenarios": {}}
    try:
        from pytest_bdd.gherkin_parser import get_gherkin_document

        doc = get_gherkin_document(filename)
    except Exception:
        return lines

    def tag_lines(tags: list[Any]) -> dict[str, int]:
        return {t.name.lstrip("@"): t.location.line for t in tags}

    def add_scenario(sc: Any) -> None:
        lines["scenarios"][sc.location.line] = {
            "tags": tag_lines(sc.tags),
            "examples": [
                {"tags": tag_lines(ex.tags), "rows": [row.location.line for row in (ex.table_body or [])]}
                for ex in sc.examples
            ],
        }

    lines["feature_tags"] = tag_lines(doc.feature.tags)
    for child in doc.feature.children:
        if child.scenario is not None:
            add_scenario(child.scenario)
        elif child.rule is not None:
            lines["rules"][child.rule.name] = tag_lines(child.rule.tags)
            for grandchild in child.rule.children:
                if grandchild.scenario is not None:
                    add_scenario(grandchild.scenario)
    return lines


def _tags(names: set[str] | list[str], lines: dict[str, int]) -> list[dict[str, Any]]:
    return [{"name": name, "line": lines.get(name)} for name in sorted(names)]


def _skip_reason(report: pytest.TestReport) -> str:
    if hasattr(report, "wasxfail"):
        return str(report.wasxfail or "no reason given")
    longrepr = report.longrepr
    is_location_tuple = isinstance(longrepr, tuple) and len(longrepr) == 3
    reason = str(longrepr[2]) if is_location_tuple else str(longrepr or "")  # type: ignore[index]
    return reason.removeprefix("Skipped: ").strip() or "skipped"


def _message(exc: BaseException) -> str:
    text = str(exc).strip()
    name = type(exc).__name__
    message = f"{name}: {text}" if text else name
    return _trim_text(message, MESSAGE_LIMIT)


def _error_from_exception(exc: BaseException) -> dict[str, str]:
    """Message plus a short traceback, pytest's frames and pytest-bdd's hidden frames filtered out."""
    try:
        info = pytest.ExceptionInfo.from_exception(exc)
        tb = str(info.getrepr(style="short", chain=True, tbfilter=_user_frames))
    except Exception:
        tb = "".join(traceback.format_exception(exc))
    return {"message": _message(exc), "traceback": _trim_traceback(tb)}


def _user_frames(info: pytest.ExceptionInfo[BaseException]) -> Any:
    """The traceback without hidden frames and without pytest's, pytest-bdd's and pluggy's own."""
    visible = info.traceback.filter(info)
    own = visible.filter(lambda entry: not any(part in str(entry.path) for part in INTERNAL_PATHS))
    return own if len(own) else visible


def _error_from_call(call: pytest.CallInfo[Any], report: pytest.TestReport) -> dict[str, str]:
    if call.excinfo is not None:
        return {"message": _message(call.excinfo.value), "traceback": _trim_traceback(report.longreprtext)}
    lines = report.longreprtext.strip().splitlines()
    return {
        "message": _trim_text(lines[-1] if lines else "failed", MESSAGE_LIMIT),
        "traceback": _trim_traceback(report.longreprtext),
    }


def _trim_traceback(text: str) -> str:
    lines = text.rstrip().splitlines()
    if len(lines) > TRACEBACK_LINES:
        dropped = len(lines) - TRACEBACK_LINES
        lines = [f"… ({dropped} lines above left out)", *lines[-TRACEBACK_LINES:]]
    out = "\n".join(lines)
    if len(out) > TRACEBACK_CHARS:
        out = "… " + out[-TRACEBACK_CHARS:]
    return out


def _trim_text(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more chars)"


def _location(func: Callable[..., Any], root: Path) -> str | None:
    try:
        target = inspect.unwrap(func)
        source = inspect.getsourcefile(target) or target.__code__.co_filename
        return f"{_relpath(source, root)}:{target.__code__.co_firstlineno}"
    except (TypeError, AttributeError, ValueError):
        return getattr(func, "__qualname__", None)


def _relpath(path: str | os.PathLike[str], root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return Path(path).as_posix()


def _slug(text: str) -> str:
    out = "".join(ch if ch.isalnum() else "-" for ch in text.lower())
    return "-".join(part for part in out.split("-") if part) or "unnamed"


def _scenario_id(record: ScenarioRecord) -> str:
    """Cucumber-JVM style id: ``feature;scenario`` (``;examples;row`` for outline rows)."""
    base = f"{_slug(record.feature['name'] or record.feature['file'])};{_slug(record.name)}"
    if record.examples is not None:
        # Cucumber counts the header as row 1, so the first example row is 2.
        name = _slug(record.examples["name"]) if record.examples["name"] else ""
        base += f";{name};{record.examples['index'] + 2}"
    return base


def _since(started: float | None) -> float:
    return 0.0 if started is None else max(0.0, time.perf_counter() - started)


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="milliseconds")


def _option_or_env(config: pytest.Config, option: str, env: str) -> str | None:
    value = config.getoption(option, None)
    return str(value) if value else os.environ.get(env) or None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _environment(config: pytest.Config, root: Path) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "pytest": _version("pytest"),
        "pytest_bdd": _version("pytest-bdd"),
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "rootdir": str(root),
        "args": " ".join(config.invocation_params.args),
    }
