"""pytest plugin of the acceptance run: its options, the lab session, which scenarios run where and in
which order, and what a failed step leaves behind to debug it. Registered by the root conftest
(``pytest_plugins``) for every pytest run from the repo root; the lab itself is only brought up when
a scenario asks for it (the ``lab_run`` fixture), so ``pytest tests`` never deploys anything.

Options and ``LAB_*`` variables are checked the way `lab` checks them
(:class:`harness.base.config.LabConfig`, :func:`harness.lab.targets.validate`): a bad one is one line
before anything is collected. ``pytest features/metrics.feature`` runs that feature's scenarios (as
``-m TAG`` and ``-k NAME`` select others).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.base import options as table
from harness.base import timeouts, waiting
from harness.base.config import REPO_ROOT, LabConfig
from harness.base.errors import ConfigError
from harness.bdd.run_info import add_run_info, reports_dir
from harness.bdd.scenario import (
    FEATURE_TAGS,
    RunOptions,
    plan_shards,
    run_order,
    runtime_skip_reason,
    static_skip_reason,
)
from harness.lab.lifecycle import LabLifecycle, LabStartFailed
from harness.lab.targets import validate

_RUN_KEY = pytest.StashKey[LabLifecycle]()
_RUN_OPTIONS = pytest.StashKey[RunOptions]()
_BOUND = pytest.StashKey[bool]()
_NEEDS_CHECKED = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Every row of the options table that pytest has (:data:`harness.base.options.OPTIONS`)."""
    group = parser.getgroup("lab", "observability lab")
    for row in table.rows(command=table.PYTEST):
        if row.flag_value is not None:  # a flag without a value (--keep)
            group.addoption(row.flag, dest=row.key, action="store_true", default=None, help=row.described())
        else:
            group.addoption(row.flag, dest=row.key, default=None, metavar=row.metavar, help=row.described())


def _given(config: pytest.Config, scope: str) -> dict[str, object | None]:
    """The pytest options of one scope of the table, by the key the table reads them under."""
    return {row.key: config.getoption(row.key) for row in table.rows(scope=scope, command=table.PYTEST)}


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """``--shards N`` is pytest-xdist with N workers and the groups of :mod:`harness.bdd.shards`;
    ``--repeat N`` is pytest-repeat's count. Runs before xdist's own hook reads its options."""
    if hasattr(config, "workerinput"):
        return
    try:
        run = RunOptions.from_sources(_run_options(config))
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    if run.shards > 1:
        config.option.numprocesses = run.shards
        config.option.dist = "loadgroup"
    if run.repeat > 1:
        config.option.count = run.repeat


def _run_options(config: pytest.Config) -> dict[str, object | None]:
    return _given(config, table.RUN)


def _worker_shard(config: pytest.Config) -> int | None:
    """The lab index of an xdist worker (gw0 -> 1), None in the controller or without xdist."""
    workerinput = getattr(config, "workerinput", None)
    return int(str(workerinput["workerid"]).removeprefix("gw")) + 1 if workerinput else None


def pytest_configure(config: pytest.Config) -> None:
    for tag, text in FEATURE_TAGS.items():
        config.addinivalue_line("markers", f"{tag}: {text}")
    options = _given(config, table.LAB)
    options["reports_dir"] = str(reports_dir(config))
    try:
        lab_config = LabConfig.from_sources(options)
        validate(lab_config)
        run = RunOptions.from_sources(_run_options(config))
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    index = _worker_shard(config) or (run.only.index if run.only else None)
    if _worker_shard(config):  # one lab per worker: its own project, address, VM
        lab_config = lab_config.for_shard(index)
        add_run_info("shard", f"{index}/{run.shards}")
        add_run_info("lab project", lab_config.project)
        add_run_info("lab address", lab_config.host_address)
    elif run.only:
        add_run_info("shard", str(run.only))
    waiting.configure(lab_config.timeout_scale)
    config.stash[_RUN_KEY] = LabLifecycle(lab_config, on_start=add_run_info)
    config.stash[_RUN_OPTIONS] = run
    add_run_info("stores", lab_config.stores)
    add_run_info("topology", lab_config.topology)
    add_run_info("target", lab_config.target)
    add_run_info("timeouts", timeouts.header(lab_config.timeout_scale))


FEATURES = REPO_ROOT / "features"
BINDING = FEATURES / "test_features.py"


class FeatureFile(pytest.File):
    """A .feature file named on the command line: its scenarios come from the module that binds
    every feature (:func:`pytest_collection_modifyitems` keeps only this file's)."""

    def collect(self) -> list[pytest.Module]:
        if self.session.stash.get(_BOUND, False):  # several .feature files: bind them once
            return []
        self.session.stash[_BOUND] = True
        return [pytest.Module.from_parent(self, path=BINDING, name=BINDING.name)]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix == ".feature" and parent.session.isinitpath(file_path):
        return FeatureFile.from_parent(parent, path=file_path)
    return None


def _feature_files_asked(config: pytest.Config) -> set[Path]:
    root = Path(config.invocation_params.dir)
    asked = {(root / a.split("::")[0]).resolve() for a in config.args}
    return {p for p in asked if p.suffix == ".feature"}


@pytest.hookimpl(tryfirst=True)  # before xdist's worker reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    asked = _feature_files_asked(config)
    if asked:
        from harness.bdd.bdd_adapter import scenario_of_item

        keep, drop = [], []
        for item in items:
            facts = scenario_of_item(item)
            (keep if facts and Path(facts.feature.filename).resolve() in asked else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
        items[:] = keep
    run = config.stash[_RUN_KEY]
    for item in items:
        reason = static_skip_reason(run.config, _tags(item), _steps(item))
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
    items[:] = run_order(items)
    options = config.stash[_RUN_OPTIONS]
    if options.shards > 1 or options.only:
        count = options.shards if options.shards > 1 else options.only.count
        plan = plan_shards(items, count, run.config.target)
        sizes = [list(plan.values()).count(k) for k in range(1, count + 1)]
        add_run_info("shard split", f"{count} shards of {', '.join(map(str, sizes))} scenarios, balanced "
                     "by features/durations.json")
        if options.only:
            keep = [item for item in items if plan[item] == options.only.index]
            config.hook.pytest_deselected(items=[item for item in items if plan[item] != options.only.index])
            items[:] = keep
        else:
            for item in items:
                item.add_marker(pytest.mark.xdist_group(f"shard-{plan[item]}"))


def _tags(item: pytest.Item) -> set[str]:
    return {m.name for m in item.iter_markers()}


def _steps(item: pytest.Item, running: object = None) -> list[str]:
    """The texts of the steps a scenario item runs (Background's first); [] for another item."""
    from harness.bdd.bdd_adapter import scenario_of_item

    facts = scenario_of_item(item, running)
    return [step.text for step in facts.steps] if facts else []


@pytest.hookimpl(tryfirst=True)
def pytest_bdd_before_step_call(request: pytest.FixtureRequest, scenario: object) -> None:
    """Once per scenario, at its first step with the lab up: what its tags and steps need of the
    target, against what the target can do now (an existing lab's engine may not answer), before
    any step has done anything to the lab. A need it cannot meet is a skip with the reason."""
    lab = request.config.stash[_RUN_KEY].lab
    if lab is None or request.node.stash.get(_NEEDS_CHECKED, False):
        return
    request.node.stash[_NEEDS_CHECKED] = True
    target = lab.target
    reason = runtime_skip_reason(target.capabilities, target.name, _tags(request.node),
                                 _steps(request.node, scenario), target.why_not)
    if reason:
        pytest.skip(reason)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    run = session.config.stash.get(_RUN_KEY, None)
    interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
    if run is not None and not run.finish(passed=exitstatus == 0 and session.testsfailed == 0,
                                          interrupted=interrupted):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(tryfirst=True)  # while the failed step's evidence log is still the current one
def pytest_bdd_step_error(request: pytest.FixtureRequest, exception: BaseException) -> None:
    """Once per failed scenario (its first failed step): what a person needs to debug it — the
    containers as the engine sees them, each service's last log lines, the collector's counters
    and, on a VM, its failed units and kernel messages (:mod:`harness.lab.diagnostics`)."""
    lab = request.config.stash[_RUN_KEY].lab
    if lab is not None and not isinstance(exception, LabStartFailed):
        from harness.lab import diagnostics

        diagnostics.attach(lab)


@pytest.fixture(scope="session")
def lab_run(pytestconfig: pytest.Config) -> LabLifecycle:
    return pytestconfig.stash[_RUN_KEY]
