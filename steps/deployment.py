"""Deployment: services healthy, the front serves page and API, Prometheus scrapes, redeploys are no-ops."""

from __future__ import annotations

from pytest_bdd import parsers, then, when

from harness import expect, frontpage
from harness.lab import Lab
from harness.scenario import ScenarioContext
from harness.traffic import ok


@then("every service of the store set is running and healthy")
def all_services_healthy(lab: Lab) -> None:
    expect.services_healthy(lab)


@when("I open the task manager page through the front")
def open_page(lab: Lab, ctx: ScenarioContext) -> None:
    lab.front.request("GET", "/")
    ctx.responses.append(lab.front.last_response)


@then("the page is the task manager and loads no asset from the internet")
def page_is_offline_task_manager(lab: Lab, ctx: ScenarioContext) -> None:
    frontpage.assert_offline_task_manager(lab, ctx.responses[-1])


@when("I list the tasks through the front")
def list_tasks(lab: Lab, ctx: ScenarioContext) -> None:
    ctx.responses.append(ok(lab.front.list_tasks(), 200))


@then("the answer is a JSON task list")
def answer_is_task_list(ctx: ScenarioContext) -> None:
    body = ctx.responses[-1]
    assert isinstance(body.get("tasks"), list), f"no 'tasks' list in {body!r}"
    assert isinstance(body.get("count"), int) and body["count"] >= len(body["tasks"]), (
        f"bad count in {body!r}"
    )


@then("every Prometheus scrape target is up")
def scrape_targets_up(lab: Lab) -> None:
    expect.scrape_targets_up(lab)


@then("no container was recreated")
def no_container_recreated(lab: Lab, ctx: ScenarioContext) -> None:
    before = ctx.container_ids["before"]
    after = lab.target.container_ids()
    changed = {
        s: (before.get(s), after.get(s)) for s in set(before) | set(after) if before.get(s) != after.get(s)
    }
    assert not changed, f"containers changed by the second deploy (service: before, after): {changed}"


@then(parsers.parse('the Grafana datasources "{a}", "{b}" and "{c}" are healthy'))
def grafana_datasources(lab: Lab, a: str, b: str, c: str) -> None:
    expect.grafana_datasources_healthy(lab, [a, b, c])


@then(parsers.parse('the Grafana dashboards "{a}" and "{b}" exist'))
def grafana_dashboards(lab: Lab, a: str, b: str) -> None:
    expect.grafana_dashboards_exist(lab, [a, b])
