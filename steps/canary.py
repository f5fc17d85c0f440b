"""The pipeline canary as the scenario's steady state (issue 27, ADR 0020): any scenario may end with
it. The scenario's window begins when pytest-bdd starts the scenario (this module's hook); the work
is in harness/checks/canary.py."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pytest_bdd import then

from harness.bdd.scenario import sentence
from harness.checks import canary
from harness.lab.lifecycle import Lab

SCENARIO_BEGAN = pytest.StashKey[float]()


def pytest_bdd_before_scenario(request: pytest.FixtureRequest, feature: Any, scenario: Any) -> None:
    request.node.stash[SCENARIO_BEGAN] = time.time()


@then(sentence("the pipeline canary lost nothing and its p95 delay stayed under {max_p95:Duration} "
               "during this scenario"))
def canary_steady_state(lab: Lab, request: pytest.FixtureRequest, max_p95: float) -> None:
    canary.steady_state(lab.prometheus, request.node.stash[SCENARIO_BEGAN], max_p95_s=max_p95)
