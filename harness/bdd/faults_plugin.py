"""pytest plugin of a sensitivity run (``-p harness.bdd.faults_plugin``), loaded only by it:

- ``--lab-scenario TITLE`` (repeatable): run only the scenarios with these Gherkin titles, in this
  order (the quickest to go red first) but, as in every run, the @destructive ones last; a title
  that matches nothing is a usage error;
- ``--lab-fault NAME``: the fault of this run; its runtime actions are done once, right after the
  lab is up and before the first scenario's steps (its edits were made to the copy beforehand).
"""

from __future__ import annotations

import pytest

from harness.base import evidence
from harness.bdd.bdd_adapter import scenario_of_item
from harness.bdd.scenario import run_order

_APPLIED = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lab-fault", "sensitivity run (lab sensitivity)")
    group.addoption("--lab-scenario", action="append", default=[], metavar="TITLE",
                    help="run only the scenario with this title (repeatable; kept in this order)")
    group.addoption("--lab-fault", default=None, metavar="NAME", help="the fault whose runtime actions to do")


def pytest_configure(config: pytest.Config) -> None:
    name = config.getoption("--lab-fault")
    if name:
        from harness.faults import BY_NAME

        if name not in BY_NAME:
            raise pytest.UsageError(f"--lab-fault {name!r} is not in the catalogue "
                                    "(see `lab sensitivity --list`)")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    titles: list[str] = config.getoption("--lab-scenario")
    if not titles:
        return
    chosen: dict[str, list[pytest.Item]] = {t: [] for t in titles}
    other = []
    for item in items:
        facts = scenario_of_item(item)
        if facts is not None and facts.name in chosen:
            chosen[facts.name].append(item)
        else:
            other.append(item)
    unknown = [t for t, found in chosen.items() if not found]
    if unknown:
        raise pytest.UsageError(f"no scenario titled {', '.join(map(repr, unknown))} in the features")
    config.hook.pytest_deselected(items=other)
    items[:] = run_order([item for t in titles for item in chosen[t]])  # as the suite does


@pytest.fixture(autouse=True)
def _lab_fault_actions(request: pytest.FixtureRequest) -> None:
    """Do the fault's runtime actions once, on the lab the run brought up."""
    name = request.config.getoption("--lab-fault")
    if not name or request.config.stash.get(_APPLIED, False):
        return
    from harness.faults import BY_NAME

    fault = BY_NAME[name]
    request.config.stash[_APPLIED] = True
    if not fault.actions:
        return
    lab = request.getfixturevalue("lab_run").get()
    done = [action.apply(lab) for action in fault.actions]
    evidence.attach("note", f"fault {name}: runtime actions done", actions=done)
