"""Steps shared by every feature: the lab, traffic with a chosen trace id, tasks."""

from __future__ import annotations

import pytest
from pytest_bdd import given, parsers, then, when

from harness import evidence, expect
from harness.lab import Lab, LabLifecycle
from harness.scenario import ScenarioContext, runtime_skip_reason
from harness.signals.tracecontext import new_traceparent
from harness.traffic import ok


@pytest.fixture
def lab(lab_run: LabLifecycle, ctx: ScenarioContext, request: pytest.FixtureRequest) -> Lab:
    """The running lab; scenarios the target cannot serve are skipped here with the reason."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if lab_run.lab is None and capture is not None:
        with capture.global_and_fixture_disabled():  # bringing the lab up takes minutes: show progress
            the_lab = lab_run.get()
    else:
        the_lab = lab_run.get()
    reason = runtime_skip_reason(the_lab.target.capabilities, the_lab.target.name, ctx.markers)
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


@when("the lab is deployed again")
def deploy_again(lab: Lab, ctx: ScenarioContext) -> None:
    ctx.container_ids.setdefault("before", lab.target.container_ids())  # type: ignore[arg-type]
    lab.target.up()


@given(parsers.parse('a task titled "{title}" exists'))
def task_exists(lab: Lab, ctx: ScenarioContext, title: str) -> None:
    ctx.container_ids["before"] = lab.target.container_ids()  # type: ignore[assignment]
    ctx.tasks[title] = ok(lab.front.create_task(title), 201)["id"]


@then(parsers.parse('the task titled "{title}" still exists'))
def task_still_exists(lab: Lab, ctx: ScenarioContext, title: str) -> None:
    task = ok(lab.front.get_task(ctx.tasks[title]), 200)
    assert task["title"] == title, f"task {ctx.tasks[title]} is now {task!r}"


@when(parsers.parse('I create a task titled "{title}" with a trace id of my choosing'))
def create_traced_task(lab: Lab, ctx: ScenarioContext, title: str) -> None:
    ctx.traceparent, ctx.trace_id, _ = new_traceparent()
    evidence.attach("note", f"chosen trace id {ctx.trace_id}", traceparent=ctx.traceparent)
    ok(lab.front.create_task(title, traceparent=ctx.traceparent), 201)


@when("I call the error endpoint with a trace id of my choosing")
def call_error_traced(lab: Lab, ctx: ScenarioContext) -> None:
    ctx.traceparent, ctx.trace_id, _ = new_traceparent()
    evidence.attach("note", f"chosen trace id {ctx.trace_id}", traceparent=ctx.traceparent)
    status, _ = lab.front.simulate_error(traceparent=ctx.traceparent)
    assert status == 500, f"the error endpoint answered {status}, expected its deliberate 500"


@then(parsers.parse("the trace store has that trace within {seconds:d} seconds"))
def trace_within(lab: Lab, ctx: ScenarioContext, seconds: int) -> None:
    assert ctx.trace_id, "no trace id was chosen by an earlier step"
    ctx.trace = expect.trace_arrives(lab, ctx.trace_id, timeout=seconds)
