"""Steps shared by every feature: the lab, traffic with a chosen trace id, tasks, a redeploy.

Values travel between steps as fixtures (pytest-bdd's ``target_fixture``): ``trace_id`` from the
steps that choose one, ``task`` from the step that creates it, ``redeploy`` from the redeploy.
"""

from __future__ import annotations

import time
import traceback
from typing import Any

import pytest
from pytest_bdd import given, then, when

from harness.base import evidence
from harness.base.errors import LabError
from harness.bdd.scenario import runtime_skip_reason, sentence
from harness.bdd.shards import LAB_START
from harness.checks import traces
from harness.drive import traffic
from harness.drive.traffic import Redeploy, ok
from harness.lab.lifecycle import Lab, LabLifecycle, LabStartFailed


def _started(lab_run: LabLifecycle, request: pytest.FixtureRequest) -> Lab:
    """The lab; when it cannot come up, the first scenario says why (the traceback goes to the
    report, not the terminal) and every later one says so in one line."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    try:
        if lab_run.lab is None:
            started = time.monotonic()
            if capture is not None:
                with capture.global_and_fixture_disabled():  # the lab takes minutes: show progress
                    lab = lab_run.get()
            else:
                lab = lab_run.get()
            took = time.monotonic() - started  # the shard split leaves this out of the scenario's weight
            evidence.attach(LAB_START, f"the lab came up in {took:.1f} s", seconds=round(took, 3))
            return lab
        return lab_run.get()
    except LabStartFailed as exc:
        message = str(exc)
    except LabError as exc:
        evidence.attach("error", lab_run.failure_line(), traceback=traceback.format_exc())
        message = f"the lab could not be started: {exc}"
    pytest.fail(message, pytrace=False)  # outside the except: no "during handling" chain


@pytest.fixture
def lab(lab_run: LabLifecycle, request: pytest.FixtureRequest) -> Lab:
    """The running lab; scenarios the target cannot serve are skipped here with the reason."""
    the_lab = _started(lab_run, request)
    tags = {m.name for m in request.node.iter_markers()}
    reason = runtime_skip_reason(the_lab.target.capabilities, the_lab.target.name, tags)
    if reason:
        pytest.skip(reason)
    return the_lab


@given("the lab is deployed")
def lab_is_deployed(lab: Lab) -> None:
    evidence.attach(
        "note",
        f"lab on target {lab.target.name} with stores {lab.config.stores}",
        endpoints=lab.endpoints.to_dict(),
    )


@when("the lab is deployed again", target_fixture="redeploy")
def deploy_again(lab: Lab) -> Redeploy:
    return traffic.redeploy(lab)


@given(sentence('a task titled "{title}" exists'), target_fixture="task")
def task_exists(lab: Lab, title: str) -> dict[str, Any]:
    return ok(lab.front.create_task(title), 201)


@then(sentence('the task titled "{title}" still exists'))
def task_still_exists(lab: Lab, task: dict[str, Any], title: str) -> None:
    assert task["title"] == title, f"the task created earlier is titled {task['title']!r}, not {title!r}"
    now = ok(lab.front.get_task(task["id"]), 200)
    assert now["title"] == title, f"task {task['id']} is now {now!r}"


@when(sentence('I create a task titled "{title}" with a trace id of my choosing'), target_fixture="trace_id")
def create_traced_task(lab: Lab, title: str) -> str:
    traceparent, trace_id = traffic.chosen_trace()
    ok(lab.front.create_task(title, traceparent=traceparent), 201)
    return trace_id


@when("I call the error endpoint with a trace id of my choosing", target_fixture="trace_id")
def call_error_traced(lab: Lab) -> str:
    traceparent, trace_id = traffic.chosen_trace()
    ok(lab.front.simulate_error(traceparent=traceparent), 500)
    return trace_id


@then(sentence("the trace store has that trace within {timeout:Duration}"))
def trace_within(lab: Lab, trace_id: str, timeout: float) -> None:
    traces.trace_arrives(lab, trace_id, timeout=timeout)
