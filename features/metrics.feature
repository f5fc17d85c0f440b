@metrics
Feature: Metrics from the application
  The backend exposes Prometheus metrics itself (prometheus_client at /metrics) and Prometheus
  scrapes them every 2 seconds. Counters of the endpoint named move by exactly the traffic sent;
  the latency histogram counts a slow request in the bucket it must fall in and has a bucket bound
  at every latency SLO threshold (without one, histogram_quantile interpolates across the bucket
  around it and the SLO alert fires by arithmetic, not by latency); the database histogram sees the
  smoke test's operations; the dashboards and SLI rules have data to show.

  Background:
    Given the lab is deployed

  Scenario: Creating tasks moves the request counter by exactly the number of requests
    Given I note the Prometheus value of requests to "create_task"
    When I create 5 tasks through the front
    Then Prometheus shows requests to "create_task" grew by exactly 5

  Scenario: A slow request shows in the latency histogram
    When I call the slow endpoint with a delay of 1.2 seconds
    Then Prometheus counts that request to "simulate_slow" in the latency bucket from 1 second to 2.5 seconds

  Scenario: The latency histogram can judge every latency SLO
    Then the latency histogram has a bucket bound at every latency SLO threshold Prometheus alerts on

  Scenario: Database smoke traffic fills the database latency histogram
    When I run the database smoke test with 50 "rw" operations
    Then Prometheus has new database latency samples for "SELECT", "INSERT", "UPDATE" and "DELETE"

  Scenario: Every dashboard query returns data after traffic
    Given some mixed traffic has been sent to the front
    Then every PromQL query of the provisioned dashboards returns data

  Scenario: The SLI recording rules produce values
    Given some mixed traffic has been sent to the front
    Then the SLI recording rules produce values
