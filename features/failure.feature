@failure @destructive
Feature: The lab under failure
  Observability matters most when something breaks. These scenarios break parts of the lab on
  purpose and check that users are spared and that the signals tell the story. They run after the
  other features and leave every service running again.

  An upgrade does not restart a container, it recreates it: a new container from the new image or
  config, with a new file system and, when the host is busy, a new address. So the scenarios below
  recreate containers as compose does (`up --force-recreate` of one service) and replace one the
  way a rolling upgrade does (the new container starts beside the old one), and check that data
  lives on the volumes and that the front follows the backend to its new address. A backend that
  moved is found again within the front's resolver cache (10 s): the scenarios about data wait for
  the front first, the first two are about that wait.

  Background:
    Given the lab is deployed

  Scenario: The front recovers within 10 seconds of a backend restart
    When the "backend" service is restarted
    Then the front answers 200 on the task API within 10 seconds
    And the front then answers 20 requests in a row without a 502

  Scenario: The front follows the backend to a new container at a new address
    Given a task titled "before the move" exists
    When the "backend" service is replaced by a new container at a new address
    Then within 15 seconds the front answers 20 requests in a row without a 502

  Scenario: The backend comes back by itself when its process ends
    When the main process of the "backend" service ends
    Then the "backend" service is running and healthy again within 60 seconds
    And the front answers 200 on the task API within 10 seconds

  Scenario: Users do not notice a stopped collector, and traces return with it
    When the "otel-collector" service is stopped
    Then 20 requests through the front all succeed
    When the "otel-collector" service is started again
    And I create a task titled "after collector" with a trace id of my choosing
    Then the trace store has that trace within 60 seconds

  @quiet
  Scenario: Errors and slow requests move the SLIs
    Given the SLI window holds none of the earlier scenarios' requests
    And I note the SLI values
    When I call the error endpoint 10 times
    And I call the slow endpoint 3 times with a delay of 0.8 seconds
    Then the error-rate SLI rises
    And the p95 latency SLI rises above 0.5 seconds

  Scenario: Tasks survive a backend restart and a redeploy
    Given a task titled "durable task" exists
    When the "backend" service is restarted
    And the lab is deployed again
    Then the front answers 200 on the task API within 15 seconds
    And the task titled "durable task" still exists

  Scenario: Tasks survive the backend being recreated, as an upgrade does
    Given a task titled "survives recreate" exists
    When the "backend" service is recreated
    Then the front answers 200 on the task API within 15 seconds
    And the task titled "survives recreate" still exists

  Scenario: Log records survive the log store being recreated
    When I create a task titled "logged before recreate" with a trace id of my choosing
    Then the log store has an "Incoming request" record with that trace id within 30 seconds
    When the "victorialogs" service is recreated
    Then the log store has an "Incoming request" record with that trace id within 30 seconds

  Scenario: Prometheus keeps its samples when it is recreated
    Given a task titled "counted before recreate" exists
    And Prometheus has a sample of the requests to "create_task"
    When the "prometheus" service is recreated
    Then Prometheus still has that sample
