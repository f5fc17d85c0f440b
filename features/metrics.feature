@metrics
Feature: Metrics from the application
  The backend exposes Prometheus metrics itself (prometheus_client at /metrics) and Prometheus
  scrapes them every 2 seconds. Counters move by exactly the traffic sent, histograms see slow
  requests and database work, and the dashboards and SLI rules have data to show.

  Background:
    Given the lab is deployed

  Scenario: Creating tasks moves the request counter by exactly the number of requests
    Given I note the Prometheus value of requests to "create_task"
    When I create 5 tasks through the front
    Then Prometheus shows requests to "create_task" grew by exactly 5

  Scenario: A slow request shows in the latency histogram
    When I call the slow endpoint with a delay of 1.2 seconds
    Then Prometheus counts a request to "simulate_slow" slower than 1 second

  Scenario: Database smoke traffic fills the database latency histogram
    When I run the database smoke test with 50 "rw" operations
    Then Prometheus has database latency samples for "SELECT", "INSERT", "UPDATE" and "DELETE"

  Scenario: Every dashboard query returns data after traffic
    Given some mixed traffic has been sent to the front
    Then every PromQL query of the provisioned dashboards returns data

  Scenario: The SLI recording rules produce values
    Given some mixed traffic has been sent to the front
    Then the SLI recording rules produce values
