"""pytest plugin: what each scenario and step did, with its evidence, written as the lab's reports.

Why not pytest-bdd's own ``--cucumberjson``: it marks the steps after a failed step as failed, marks
a step that called ``pytest.skip`` as passed, leaves the undefined step out and drops scenarios that
never started (skipped by a marker or in a fixture). This plugin keeps its own record per scenario
(:mod:`harness.report.records`) from pytest-bdd's hooks and pytest's reports, and at the end of the
session writes into the reports directory (``--reports-dir``, else ``LAB_REPORTS_DIR``, else
``reports/`` under the rootdir):

- ``results.json``  the full model (:mod:`harness.report.model`), the source of the two below;
- ``cucumber.json`` standard Cucumber JSON for the Jenkins Cucumber Reports plugin;
- ``living-docs/index.html`` the features as readable documentation with outcomes and evidence.

Nothing is written when the run selected no pytest-bdd scenario (``pytest tests`` must not
overwrite the acceptance run's reports), with ``--collect-only``, or with ``--no-lab-report``.
Selected scenarios that never ran (``-x``, ``--maxfail``, Ctrl-C) are reported as skipped with the
reason "not run", never left out. Whatever pytest-bdd object a hook passes is read through
:mod:`harness.bdd.bdd_adapter` only. A problem of the reports (pytest-bdd internals that moved, a
scenario that could not be read) is printed at the end of the run and never changes its outcome.

Evidence (:mod:`harness.base.evidence`): a fresh log is made current for each step (from
``pytest_bdd_before_step`` to ``pytest_bdd_after_step``/``pytest_bdd_step_error``), so fixtures a
step pulls in lazily attach to that step. Evidence attached while pytest sets up the scenario's
fixtures (autouse or session fixtures, the lab itself) is kept as the scenario's ``setup`` hook,
in teardown as its ``teardown`` hook, and anything attached in the call phase outside a step as
its ``call`` hook.

Run information: :func:`harness.bdd.run_info.add_run_info` (any time, from conftest or harness
code), or implement the ``pytest_lab_run_info(config)`` hook returning a dict.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import platform
import socket
import time
from collections.abc import Callable, Generator, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from harness.base import evidence, options
from harness.bdd import bdd_adapter
from harness.bdd.run_info import reports_dir, take_run_info
from harness.report import failures, merge, model
from harness.report.model import FAILED, PASSED, SKIPPED, UNDEFINED
from harness.report.records import NOT_RUN, RUNNING, PhaseReport, ScenarioRecord, iso, relpath

WORKER_RESULTS = "lab_results"  # the key of a worker's results in xdist's workeroutput

_KEY = pytest.StashKey["ReportCollector"]()


# --------------------------------------------------------------------------------------------------
# plugin entry points (module level: registered with -p / pytest_plugins)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from harness.report import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lab-report", "lab reports (results.json, cucumber.json, living docs)")
    for row in options.rows(command=options.REPORT):  # --reports-dir, as the options table says
        group.addoption(row.flag, dest=row.key, default=None, metavar=row.metavar, help=row.described())
    group.addoption(
        "--no-lab-report",
        dest="lab_report",
        action="store_false",
        default=True,
        help="do not write the lab reports",
    )


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("lab_report", True):
        return
    collector = ReportCollector(config)
    config.stash[_KEY] = collector
    config.pluginmanager.register(collector, "harness-report-collector")


def pytest_unconfigure(config: pytest.Config) -> None:
    collector = config.stash.get(_KEY, None)
    if collector is None:
        return
    del config.stash[_KEY]
    config.pluginmanager.unregister(collector)


# --------------------------------------------------------------------------------------------------
# the collector (one per pytest run)


class ReportCollector:
    """Hook implementations with the run's records; registered per config by :func:`pytest_configure`."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.root = Path(config.rootpath)
        self.records: dict[str, ScenarioRecord] = {}
        self.run_info: dict[str, Any] = {}
        self.take_run_info()
        self.started = time.time()
        self.written: Path | None = None
        self.last_results: dict[str, Any] | None = None
        # What went wrong with the reports (said at the end) -> the scenarios it concerns, in order.
        self.problems: dict[str, dict[str, None]] = {p: {} for p in bdd_adapter.problems()}
        # Sharded runs (pytest-xdist, a lab per worker): each worker records its own scenarios and
        # hands its results to the controller, which merges them and writes the one set of reports.
        self.worker = hasattr(config, "workerinput")
        self.parts: list[dict[str, Any]] = []

    # -- collection: every selected scenario gets a record, so none can vanish from the reports ----
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for order, item in enumerate(session.items):
            try:
                facts = bdd_adapter.scenario_of_item(item)
            except Exception as exc:  # recorded when it runs instead (before_scenario)
                self._problem(f"could not read a scenario at collection: {exc!r}", item.nodeid)
                continue
            if facts is not None:
                self.records[item.nodeid] = ScenarioRecord.from_facts(facts, item.nodeid, order, self.root)

    def take_run_info(self) -> None:
        self.run_info.update(take_run_info())

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.started = time.time()

    @contextlib.contextmanager
    def _guard(self, nodeid: str) -> Iterator[None]:
        """A reporting bug must not fail the scenario nor become a pytest INTERNALERROR."""
        try:
            yield
        except Exception as exc:
            self._problem(f"could not record a scenario: {exc!r}", nodeid)

    def _problem(self, text: str, nodeid: str | None = None) -> None:
        nodeids = self.problems.setdefault(text, {})
        if nodeid is not None:
            nodeids[nodeid] = None

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
            with self._guard(item.nodeid):
                record.absorb(_phase_report(report, call))
                if report.when == "teardown":
                    record.finish()
        return report

    # -- pytest-bdd ----------------------------------------------------------------------------------
    def _record(self, request: pytest.FixtureRequest, scenario: Any) -> ScenarioRecord:
        item = request.node
        record = self.records.get(item.nodeid)
        if record is None:  # collection could not read it (see pytest_collection_finish)
            facts = bdd_adapter.scenario_of_item(item, running=scenario)
            assert facts is not None
            record = ScenarioRecord.from_facts(facts, item.nodeid, len(self.records), self.root)
            self.records[item.nodeid] = record
        return record

    @pytest.hookimpl(tryfirst=True)
    def pytest_bdd_before_scenario(self, request: pytest.FixtureRequest, feature: Any, scenario: Any) -> None:
        with self._guard(request.node.nodeid):
            record = self._record(request, scenario)
            record.bind(bdd_adapter.step_keys(scenario), bdd_adapter.steps_of(scenario))

    @pytest.hookimpl(tryfirst=True)
    def pytest_bdd_before_step(
        self,
        request: pytest.FixtureRequest,
        feature: Any,
        scenario: Any,
        step: Any,
        step_func: Callable[..., Any],
    ) -> None:
        with self._guard(request.node.nodeid):
            record = self._record(request, scenario)
            st = record.step_for(bdd_adapter.step_key(step), bdd_adapter.step_facts(step))
            st.status = RUNNING
            st.started = time.perf_counter()
            st.location = _location(step_func, self.root)
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
        with self._guard(request.node.nodeid):
            record = self._record(request, scenario)
            st = record.step_for(bdd_adapter.step_key(step), bdd_adapter.step_facts(step))
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
        with self._guard(request.node.nodeid):
            record = self._record(request, scenario)
            st = record.step_for(bdd_adapter.step_key(step), bdd_adapter.step_facts(step))
            st.status = FAILED
            st.duration = _since(st.started)
            st.error = failures.from_exception(exception)
            record.leave()

    @pytest.hookimpl(trylast=True)
    def pytest_bdd_step_func_lookup_error(
        self, request: pytest.FixtureRequest, feature: Any, scenario: Any, step: Any, exception: BaseException
    ) -> None:
        with self._guard(request.node.nodeid):
            record = self._record(request, scenario)
            facts = bdd_adapter.step_facts(step)
            st = record.step_for(bdd_adapter.step_key(step), facts)
            st.status = UNDEFINED
            st.location = f"{relpath(bdd_adapter.feature_file(scenario), self.root)}:{facts.line}"
            st.error = {"message": failures.message(exception), "traceback": ""}

    @pytest.hookimpl(trylast=True)
    def pytest_bdd_after_scenario(self, request: pytest.FixtureRequest, feature: Any, scenario: Any) -> None:
        with self._guard(request.node.nodeid):
            record = self._record(request, scenario)
            for st in record.steps:
                if st.status == RUNNING:  # left by an outcome exception (pytest.skip, pytest.xfail, exit)
                    st.duration = _since(st.started)
            record.leave()

    # -- the shards -----------------------------------------------------------------------------------
    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object | None) -> None:
        """A worker finished: keep its results (a worker that died sent none: its scenarios are in
        the controller's reports as pytest saw them)."""
        output = getattr(node, "workeroutput", None) or {}
        text = output.get(WORKER_RESULTS)
        if text:
            try:
                self.parts.append(json.loads(text))
            except ValueError as exc:
                self._problem(f"a worker's results could not be read: {exc!r}")
        elif error is not None:
            self._problem(f"worker {getattr(node, 'gateway', node)} went down without results: {error}")

    # -- the end ---------------------------------------------------------------------------------------
    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not (self.records or self.parts) or self.config.option.collectonly:  # keep the last run's reports
            return
        for record in self.records.values():
            if record.outcome == NOT_RUN:
                record.skip_reason = record.skip_reason or "not run: the session stopped before this scenario"
            record.finish()  # idempotent; settles a step left running by an interrupted run
        self.take_run_info()
        for extra in self.config.hook.pytest_lab_run_info(config=self.config):
            if isinstance(extra, dict):
                for key, value in extra.items():
                    self.run_info[str(key)] = evidence._jsonable(value)
        results = self.results(int(exitstatus)) if self.records else None
        if self.worker:
            if results is not None:
                self.config.workeroutput[WORKER_RESULTS] = json.dumps(results)  # type: ignore[attr-defined]
            return
        if self.parts:
            results = merge.combine([*self.parts, *([results] if results else [])],
                                    exit_status=int(exitstatus), info=self.run_info)
        assert results is not None
        self.last_results = results
        out = reports_dir(self.config)
        try:
            from harness.report import render  # here: a broken renderer (Jinja2) must not break pytest

            render.write_all(results, out)
        except Exception as exc:  # a broken report must not hide the run's own outcome
            self._problem(f"could not be written to {out}: {exc!r}")
            return
        self.written = out

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.last_results is not None:
            for line in run_summary(self.last_results, self.written):
                terminalreporter.write_line(line)
        if self.written is not None:
            terminalreporter.write_sep("-", f"lab reports: {self.written} (living-docs/index.html)")
        for text, nodeids in self.problems.items():
            first = next(iter(nodeids), None)
            more = f" and {len(nodeids) - 1} more" if len(nodeids) > 1 else ""
            where = f" ({first}{more})" if first else ""
            terminalreporter.write_sep("!", f"lab reports: {text}{where}", red=True)

    def results(self, exitstatus: int) -> dict[str, Any]:
        """The run as the :mod:`harness.report.model` dict."""
        features: dict[str, dict[str, Any]] = {}
        ordered = sorted(self.records.values(), key=lambda r: (r.feature["file"], r.line, r.order))
        for record in ordered:
            feature = features.setdefault(record.feature["file"], {**record.feature, "scenarios": []})
            feature["scenarios"].append(record.to_dict())
        for feature in features.values():
            feature["status"] = model.rollup([s["status"] for s in feature["scenarios"]])
            feature["duration"] = round(sum(s["duration"] for s in feature["scenarios"]), 6)
        feature_list = merge.features_of(list(features.values()))  # repeats (--repeat) folded
        finished = time.time()
        info = dict(self.run_info)
        return {
            "schema": model.SCHEMA,
            "run": {
                "started": iso(self.started),
                "finished": iso(finished),
                "duration": round(finished - self.started, 3),
                "target": info.get("target") or self.config.getoption("target", None),
                "stores": info.get("stores") or self.config.getoption("stores", None),
                "exit_status": exitstatus,
                "info": info,
                "environment": _environment(self.config, self.root),
            },
            "summary": model.summarize(feature_list),
            "features": feature_list,
        }


# --------------------------------------------------------------------------------------------------
# helpers


def _phase_report(report: pytest.TestReport, call: pytest.CallInfo[Any]) -> PhaseReport:
    """pytest's report of one phase, as the records take it."""
    outcome = SKIPPED if report.skipped else FAILED if report.failed else PASSED
    return PhaseReport(
        when=report.when,
        outcome=outcome,
        duration=report.duration,
        start=report.start,
        expected_failure=hasattr(report, "wasxfail"),
        reason=failures.skip_reason(report) if report.skipped else None,
        error=failures.from_call(call, report) if report.failed else None,
    )


def _location(func: Callable[..., Any], root: Path) -> str | None:
    """``file:line`` of a step function (the ``step_func`` pytest-bdd's step hooks pass)."""
    try:
        target = inspect.unwrap(func)
        source = inspect.getsourcefile(target) or target.__code__.co_filename
        return f"{relpath(source, root)}:{target.__code__.co_firstlineno}"
    except (TypeError, AttributeError, ValueError):
        return getattr(func, "__qualname__", None)


def run_summary(results: dict[str, Any], written: Path | None) -> list[str]:
    """The end of every acceptance run on one screen: counts, the first failure's one-line cause,
    and where the living docs are."""
    counts = results["summary"]["scenarios"]
    total = results["summary"]["totals"]["scenarios"]
    parts = [f"{counts[s]} {s}" for s in (PASSED, FAILED, UNDEFINED, SKIPPED) if counts.get(s)]
    run = results["run"]
    lines = ["", f"lab run: {', '.join(parts) or 'nothing ran'} of {total} scenarios "
                 f"(target {run.get('target') or '?'}, stores {run.get('stores') or '?'}, topology "
                 f"{(run.get('info') or {}).get('topology') or 'single'})"]
    failed = sorted(
        ((s.get("started") or "", f, s) for f in results["features"] for s in f["scenarios"]
         if s["status"] in (FAILED, UNDEFINED)),
        key=lambda t: t[0],
    )
    for _, feature, scenario in failed[:1]:  # the first to fail, in the order they ran
        for part in [*scenario.get("hooks", []), *scenario["steps"]]:
            if part.get("status") in (FAILED, UNDEFINED):
                message = ((part.get("error") or {}).get("message") or part["status"]).splitlines()
                where = f"{part.get('keyword', '')} {part.get('text', part.get('phase', ''))}".strip()
                lines.append(f"first failure: {feature['name']} / {scenario['name']} — {where}: "
                             f"{message[0][:300] if message else ''}")
                break
    if written is not None:
        lines.append(f"living docs: {written / 'living-docs' / 'index.html'} "
                     "(results.json, cucumber.json, junit.xml beside it)")
    return lines


def _since(started: float | None) -> float:
    return 0.0 if started is None else max(0.0, time.perf_counter() - started)


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
