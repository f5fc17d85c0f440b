@logs
Feature: Logs from the application
  The backend writes JSON log lines and sends the same records over OTLP to the collector, which
  forwards them to the log store. Each record carries the trace id and span id of the request
  that wrote it, so logs can be found from a trace.

  Background:
    Given the lab is deployed

  Scenario: A request's log records carry its trace id and the service name
    When I create a task titled "logged task" with a trace id of my choosing
    Then the log store has "Incoming request" and "Request completed" records with that trace id within 30 seconds
    And those records name the service "flask-backend"

  Scenario: An error produces an ERROR record
    When I call the error endpoint with a trace id of my choosing
    Then the log store has an ERROR record with that trace id within 30 seconds
