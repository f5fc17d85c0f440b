"""Options and fixtures of the acceptance run (the lab session; the steps hand values on as fixtures).

Loaded for every pytest run from the repo root; the lab itself is only brought up when a
scenario asks for it, so `pytest tests` never deploys anything. Options and ``LAB_*`` variables
are checked the way `lab` checks them (:class:`harness.config.LabConfig`,
:func:`harness.targets.validate`): a bad one is one line before anything is collected.
``pytest features/metrics.feature`` runs that feature's scenarios (as ``-m TAG`` and ``-k NAME``
select others).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import waiting
from harness.config import LabConfig
from harness.errors import ConfigError
from harness.lab import LabLifecycle
from harness.scenario import FEATURE_TAGS, order_destructive_last, static_skip_reason
from harness.targets import validate

pytest_plugins = [
    "harness.report.plugin",
    "steps.common",
    "steps.deployment",
    "steps.metrics",
    "steps.traces",
    "steps.logs",
    "steps.correlation",
    "steps.failure",
    "steps.delivery",
    "steps.accounting",
    "steps.security",
    "steps.vm",
    "steps.ui",
]

_RUN_KEY = pytest.StashKey[LabLifecycle]()
_BOUND = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lab", "observability lab")
    group.addoption("--target", default=None, help="docker | vagrant | existing | auto (env LAB_TARGET)")
    group.addoption("--stores", default=None, help="jaeger-victorialogs | tempo-loki (env LAB_STORES)")
    group.addoption("--image-source", default=None, help="registry | local | auto (env LAB_IMAGE_SOURCE)")
    group.addoption("--lab-host", default=None, help="host of an existing lab (env LAB_HOST)")
    group.addoption(
        "--endpoints-file", default=None, help="`lab endpoints --json` file (env LAB_ENDPOINTS_FILE)"
    )
    group.addoption("--lab-project", default=None, help="compose project name (env LAB_PROJECT)")
    group.addoption(
        "--keep", action="store_true", default=None, help="never destroy the lab (LAB_DESTROY=never)"
    )


def pytest_configure(config: pytest.Config) -> None:
    for tag, text in FEATURE_TAGS.items():
        config.addinivalue_line("markers", f"{tag}: {text}")
    options = {
        "target": config.getoption("--target"),
        "stores": config.getoption("--stores"),
        "image_source": config.getoption("--image-source"),
        "lab_host": config.getoption("--lab-host"),
        "endpoints_file": config.getoption("--endpoints-file"),
        "project": config.getoption("--lab-project"),
        "keep": config.getoption("--keep"),
    }
    from harness.report.plugin import add_run_info, reports_dir

    options["reports_dir"] = str(reports_dir(config))
    try:
        lab_config = LabConfig.from_sources(options)
        validate(lab_config)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    waiting.configure(lab_config.timeout_scale)
    config.stash[_RUN_KEY] = LabLifecycle(lab_config, on_start=add_run_info)
    add_run_info("stores", lab_config.stores)
    add_run_info("target", lab_config.target)


FEATURES = Path(__file__).parent / "features"
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    asked = _feature_files_asked(config)
    if asked:
        from harness.report.bdd_adapter import scenario_of_item

        keep, drop = [], []
        for item in items:
            facts = scenario_of_item(item)
            (keep if facts and Path(facts.feature.filename).resolve() in asked else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
        items[:] = keep
    run = config.stash[_RUN_KEY]
    for item in items:
        reason = static_skip_reason(run.config, {m.name for m in item.iter_markers()})
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
    items[:] = order_destructive_last(items)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    run = session.config.stash.get(_RUN_KEY, None)
    if run is not None and not run.finish(passed=exitstatus == 0 and session.testsfailed == 0):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def lab_run(pytestconfig: pytest.Config) -> LabLifecycle:
    return pytestconfig.stash[_RUN_KEY]
