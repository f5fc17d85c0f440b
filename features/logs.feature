@logs
Feature: Logs from the application
  The backend writes JSON log lines and sends the same records over OTLP to the collector, which
  forwards them to the log store. Each record carries the trace id and span id of the request
  that wrote it, so logs can be found from a trace. A server error leaves a record of its own, the
  one an error search finds: its message, severity ERROR, the error's type (`error.type`) and the
  exception — the request's "Request completed" record of the 500, also at ERROR, is not it.

  Background:
    Given the lab is deployed

  Scenario: A request's log records carry its trace id and the service name
    When I create a task titled "logged task" with a trace id of my choosing
    Then the log store has "Incoming request" and "Request completed" records with that trace id within 30 seconds
    And those records name the service "flask-backend"

  Scenario: A server error leaves its own ERROR record, with the error's type and exception
    When I call the error endpoint with a trace id of my choosing
    Then the log store has the "Simulated error" record of that trace at ERROR, with error.type "SimulatedError" and its exception, within 30 seconds
