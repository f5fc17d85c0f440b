@failure @destructive
Feature: The lab under failure
  Observability matters most when something breaks. These scenarios break parts of the lab on
  purpose and check that users are spared and that the signals tell the story. They run after the
  other features and leave every service running again.

  Background:
    Given the lab is deployed

  Scenario: The front recovers within 10 seconds of a backend restart
    When the "backend" service is restarted
    Then the front answers 200 on the task API within 10 seconds
    And the front then answers 20 requests in a row without a 502

  Scenario: Users do not notice a stopped collector, and traces return with it
    When the "otel-collector" service is stopped
    Then 20 requests through the front all succeed
    When the "otel-collector" service is started again
    And I create a task titled "after collector" with a trace id of my choosing
    Then the trace store has that trace within 60 seconds

  Scenario: Errors and slow requests move the SLIs
    Given I note the SLI values
    When I call the error endpoint 10 times
    And I call the slow endpoint 3 times with a delay of 0.8 seconds
    Then the error-rate SLI rises
    And the p95 latency SLI rises

  Scenario: Tasks survive a backend restart and a redeploy
    Given a task titled "durable task" exists
    When the "backend" service is restarted
    And the lab is deployed again
    Then the task titled "durable task" still exists
