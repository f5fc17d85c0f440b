@deployment
Feature: Deploying the lab
  The lab is one Flask task manager behind nginx, an OpenTelemetry Collector, Prometheus, a trace
  store and a log store (and Grafana with the Tempo + Loki set). Deploying it must leave every
  service healthy and reachable on its documented port, and deploying again must change nothing:
  no container is recreated and no task is lost.

  Background:
    Given the lab is deployed

  Scenario: Every service of the store set reports healthy
    Then every service of the store set is running and healthy

  Scenario: The task manager page loads through nginx
    When I open the task manager page through the front
    Then the page is the task manager and loads no asset from the internet

  Scenario: The task API answers through nginx
    When I list the tasks through the front
    Then the answer is a JSON task list

  Scenario: Prometheus scrapes every target successfully
    Then every Prometheus scrape target is up

  Scenario: Deploying a second time changes nothing
    Given a task titled "survives redeploy" exists
    When the lab is deployed again
    Then no container was recreated
    And the task titled "survives redeploy" still exists

  @grafana
  Scenario: Grafana has its datasources and dashboards
    Then the Grafana datasources "prometheus", "tempo" and "loki" are healthy
    And the Grafana dashboards "task-manager-sli-slo" and "end-to-end-tracing" exist
