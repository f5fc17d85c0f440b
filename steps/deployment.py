"""Deployment: services healthy, the front serves page and API, Prometheus scrapes, redeploys are no-ops."""

from __future__ import annotations

from typing import Any

import requests
from pytest_bdd import then, when

from harness.bdd.scenario import sentence
from harness.checks import frontpage, grafana, metrics, services
from harness.drive.traffic import Redeploy, ok
from harness.lab.lifecycle import Lab


@then("every service of the store set is running and healthy")
def all_services_healthy(lab: Lab) -> None:
    services.services_healthy(lab)


@when("I open the task manager page through the front", target_fixture="front_page")
def open_page(lab: Lab) -> requests.Response:
    return frontpage.open_page(lab)


@then("the page is the task manager and loads no asset from the internet")
def page_is_offline_task_manager(lab: Lab, front_page: requests.Response) -> None:
    frontpage.assert_offline_task_manager(lab, front_page)


@when("I list the tasks through the front", target_fixture="task_list")
def list_tasks(lab: Lab) -> Any:
    return ok(lab.front.list_tasks(), 200)


@then("the answer is a JSON task list")
def answer_is_task_list(task_list: Any) -> None:
    services.task_list(task_list)


@then("every Prometheus scrape target is up")
def scrape_targets_up(lab: Lab) -> None:
    metrics.scrape_targets_up(lab)


@then("no container was recreated")
def no_container_recreated(redeploy: Redeploy) -> None:
    services.none_recreated(redeploy.before, redeploy.after)


@then(sentence("the Grafana datasources {uids:List} are healthy"))
def grafana_datasources(lab: Lab, uids: list[str]) -> None:
    grafana.grafana_datasources_healthy(lab, uids)


@then(sentence("the Grafana dashboards {uids:List} exist"))
def grafana_dashboards(lab: Lab, uids: list[str]) -> None:
    grafana.grafana_dashboards_exist(lab, uids)
