@correlation
Feature: One trace id links metrics, traces and logs
  The point of the lab: from any one signal you can reach the other two. A request's trace id is
  in its trace, in its log records, and as an exemplar on the latency histogram in Prometheus — on
  the series of the endpoint the request went to, in the bucket its latency falls in.

  Background:
    Given the lab is deployed

  Scenario: The trace, its logs and an exemplar share one trace id
    When I create a task titled "correlated task" with a trace id of my choosing
    Then the trace store has that trace within 30 seconds
    And the log store has an "Incoming request" record with that trace id within 30 seconds
    And Prometheus has an exemplar pointing at that trace on the "create_task" series of "http_request_duration_seconds" within 30 seconds

  @grafana
  Scenario: Grafana's trace-to-logs and logs-to-trace links resolve
    When I create a task titled "grafana correlated" with a trace id of my choosing
    Then the trace store has that trace within 30 seconds
    And Grafana's trace-to-logs query for that trace returns its log records
    And Grafana's logs-to-trace link for that trace id opens the trace
