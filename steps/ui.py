"""The page in a real browser (@ui): what a person does and sees, and the trace their click makes.

The page travels as the ``task_page`` fixture (one Chromium per scenario, closed after it, with a
screenshot of the page kept as the scenario's last evidence); ``trace_id`` comes from the
traceparent the browser itself sent, so the trace and log steps of the other features apply.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from pytest_bdd import given, then, when

from harness.base import evidence
from harness.bdd.scenario import sentence
from harness.checks import browser_trace, traces
from harness.drive import browser
from harness.lab.lifecycle import Lab


@pytest.fixture
def task_page(lab: Lab, request: pytest.FixtureRequest) -> Iterator[browser.TaskManagerPage]:
    with browser.task_manager(lab.endpoints.frontend) as page:
        yield page
        name = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name)[:120]
        page.screenshot(lab.config.reports_dir / "living-docs" / "screenshots" / f"{name}.png",
                        "the task manager page at the end of the scenario")


@given("the task manager page is open in a browser")
def page_is_open(task_page: browser.TaskManagerPage) -> None:
    assert task_page.tracing() is not None, "otel-web.js did not start in the page (window.labTracing unset)"


@when(sentence('I add a task titled "{title}" through the page'), target_fixture="trace_id")
def add_task(task_page: browser.TaskManagerPage, title: str) -> str | None:
    call = task_page.add_task(title)
    if call is None:
        return None
    assert call.status == 201, f"adding {title!r} answered {call.status}: {call.body}"
    return _traced(task_page, call)


@when(sentence('I mark "{title}" as completed through the page'), target_fixture="trace_id")
def complete_task(task_page: browser.TaskManagerPage, title: str) -> str:
    call = task_page.complete_task(title)
    assert call.status == 200, f"completing {title!r} answered {call.status}: {call.body}"
    return _traced(task_page, call)


@when(sentence('I delete "{title}" through the page'), target_fixture="trace_id")
def delete_task(task_page: browser.TaskManagerPage, title: str) -> str:
    call = task_page.delete_task(title)
    assert call.status == 200, f"deleting {title!r} answered {call.status}: {call.body}"
    return _traced(task_page, call)


@when(sentence('I press "{button}" in the page'), target_fixture="trace_id")
def press(task_page: browser.TaskManagerPage, button: str) -> str:
    paths = {"Simulate error": "/api/simulate-error"}
    assert button in paths, f"no signal button {button!r} is known here (known: {list(paths)})"
    return _traced(task_page, task_page.press(button, paths[button]))


def _traced(page: browser.TaskManagerPage, call: browser.ApiCall) -> str:
    """The trace id the browser's traceparent carried; the backend must have continued it."""
    assert call.trace_id, f"the page sent {call.method} {call.path} without a traceparent"
    assert call.answered_trace_id == call.trace_id, (
        f"the backend answered X-Trace-Id {call.answered_trace_id}, not the browser's {call.trace_id}")
    page.flush_spans()
    return call.trace_id


@then(sentence('the page lists "{title}" as {state} and its stats agree with the API'))
def listed(lab: Lab, task_page: browser.TaskManagerPage, title: str, state: str) -> None:
    assert state in ("open", "completed"), f"a task is open or completed, not {state!r}"
    item = task_page.item(title)
    assert item.locator(".task-title").inner_text() == title
    assert item.get_by_role("checkbox").is_checked() == (state == "completed"), f"{title!r} is not {state}"
    _stats_agree(lab, task_page)


@then(sentence('the page no longer lists "{title}" and its stats agree with the API'))
def not_listed(lab: Lab, task_page: browser.TaskManagerPage, title: str) -> None:
    assert task_page.item(title).count() == 0, f"{title!r} is still in the list"
    _stats_agree(lab, task_page)


def _stats_agree(lab: Lab, page: browser.TaskManagerPage) -> None:
    def check() -> browser.Stats:
        status, listing = lab.front.list_tasks(limit=200)
        assert status == 200, f"GET /api/tasks answered {status}"
        want, shown = browser.expected_stats(listing), page.stats()
        assert shown == want, f"the page shows {shown}, the API says {want}"
        return shown

    shown = page.wait_for(check, "the page's stats to agree with GET /api/tasks")
    evidence.attach("browser", "the page's stats", total=shown.total, completed=shown.completed,
                    open=shown.open)


@then(sentence('the page says "{text}" next to the form'))
def form_message(task_page: browser.TaskManagerPage, text: str) -> None:
    said = task_page.message("form-error")
    assert said == text, f"the form says {said!r}, not {text!r}"


@then(sentence('the page says "{text}" with that trace id'))
def signal_message(task_page: browser.TaskManagerPage, trace_id: str, text: str) -> None:
    said = task_page.message("signal-result")
    assert said.startswith(text), f"the page says {said!r}, not {text!r}"
    assert trace_id in said, f"the page's message {said!r} does not name the trace {trace_id}"


@then(sentence("the trace store has that trace rooted at the browser within {timeout:Duration}"))
def rooted_at_browser(lab: Lab, trace_id: str, timeout: float) -> None:
    trace = traces.trace_arrives(lab, trace_id, timeout=timeout, require=browser_trace.browser_rooted)
    evidence.attach("trace", f"trace {trace_id} from the browser", tree=browser_trace.span_tree(trace))


@then(sentence('the browser\'s fetch span is the parent of the server span for "{method} {route}"'))
def fetch_is_parent(lab: Lab, trace_id: str, method: str, route: str) -> None:
    fetch, server = traces.trace_satisfies(
        lab, trace_id, lambda t: browser_trace.server_below_fetch(t, method, route),
        what=f"to have the browser's fetch span above the server span of {method} {route}")
    evidence.attach("trace", f"{browser_trace.describe(server)} is a child of "
                    f"{browser_trace.describe(fetch)}", span_id=fetch.span_id)


@then("every request the page made went to the front")
def stays_inside(task_page: browser.TaskManagerPage) -> None:
    foreign = task_page.foreign_requests()
    evidence.attach("browser", f"{len(task_page.requests)} requests from the page",
                    requests=sorted(set(task_page.requests)))
    assert task_page.requests, "the page made no request at all"
    assert not foreign, f"the page made requests outside the lab: {foreign}"


@then("the page showed no script or console error")
def no_page_errors(task_page: browser.TaskManagerPage) -> None:
    assert not task_page.problems, f"the page reported: {task_page.problems}"


@then("axe-core finds no serious or critical accessibility violation in the page")
def accessible(task_page: browser.TaskManagerPage) -> None:
    serious = task_page.axe_violations()
    assert not serious, "axe-core: " + "; ".join(
        f"{v['impact']} {v['id']} ({v['help']}) at {v['nodes'][:3]}" for v in serious)
