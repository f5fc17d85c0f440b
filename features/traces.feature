@traces
Feature: Traces from the application
  Every request to the backend becomes a trace: the Flask server span of the operation (its
  method and route), the manual span of the handler and the SQL spans below it; an error is on
  the server span of the operation that failed, not merely somewhere in the trace. A caller that sends a W3C traceparent chooses the trace id,
  so a test can look up exactly the trace it caused.

  Background:
    Given the lab is deployed

  Scenario: A request with a chosen trace id produces a complete trace
    When I create a task titled "traced task" with a trace id of my choosing
    Then the trace store has that trace within 30 seconds
    And the trace has an HTTP server span for "POST /api/tasks"
    And the server span has the manual span "create_task" as a descendant, with attribute "task.title" = "traced task"
    And the manual span "create_task" has a SQL span as a descendant

  Scenario: The error endpoint's server span and manual span have error status
    When I call the error endpoint with a trace id of my choosing
    Then the trace store has that trace within 30 seconds
    And the trace has an HTTP server span for "GET /api/simulate-error"
    And the server span and its manual span "simulate_error" have error status
