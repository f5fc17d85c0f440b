"""Options and fixtures of the acceptance run (the lab session, the scenario context).

Loaded for every pytest run from the repo root; the lab itself is only brought up when a
scenario asks for it, so `pytest tests` never deploys anything.
"""

from __future__ import annotations

import pytest

from harness.config import LabConfig
from harness.errors import ConfigError
from harness.lab import LabLifecycle
from harness.scenario import FEATURE_TAGS, ScenarioContext, order_destructive_last, static_skip_reason

pytest_plugins = [
    "harness.report.plugin",
    "steps.common",
    "steps.deployment",
    "steps.metrics",
    "steps.traces",
    "steps.logs",
    "steps.correlation",
    "steps.failure",
    "steps.security",
    "steps.vm",
]

_RUN_KEY = pytest.StashKey[LabLifecycle]()


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
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_RUN_KEY] = LabLifecycle(lab_config, on_start=add_run_info)
    add_run_info("stores", lab_config.stores)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run = config.stash[_RUN_KEY]
    for item in items:
        reason = static_skip_reason(run.config, {m.name for m in item.iter_markers()})
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
    items[:] = order_destructive_last(items)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    run = session.config.stash.get(_RUN_KEY, None)
    if run is not None:
        run.finish(passed=exitstatus == 0 and session.testsfailed == 0)


@pytest.fixture(scope="session")
def lab_run(pytestconfig: pytest.Config) -> LabLifecycle:
    return pytestconfig.stash[_RUN_KEY]


@pytest.fixture
def ctx(request: pytest.FixtureRequest) -> ScenarioContext:
    """What one scenario's steps hand to each other (trace ids, noted values, tasks)."""
    return ScenarioContext(markers={m.name for m in request.node.iter_markers()})
