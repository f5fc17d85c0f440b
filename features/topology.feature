@topology @failure @destructive @load
Feature: Two hosts, and nothing lost across the link between them
  The split topology (--topology split, ADR 0018): an app host runs the front, the backend and a
  collector agent, which keeps what it accepted in a sending queue on disk; an observability host
  runs the gateway collector, the stores and Prometheus; one link joins them. The app's SDK only
  ever talks to its own host's agent, so the faults of the link — cut, lossy, slow — and a restart
  of the whole observability host must cost nothing: the agent holds what it cannot send and sends
  it once it can. The accounting places a loss at app → agent, in the agent, agent → gateway (the
  link), in the gateway, gateway → store or in the store. On a single-topology lab these scenarios
  are skipped, saying so.

  Background:
    Given the lab is deployed
    And the lab is split into an app host and an observability host

  Scenario: The app host reaches the observability host only through the link
    Then the app host reaches the observability host only through the link

  @traces @logs @metrics
  Scenario: Steady traffic crosses the link whole: every trace, every log record, every request counted
    Given steady traffic of 5 requests a second for 10 seconds
    When the traffic has ended
    Then every request succeeded
    And every request's trace is in the trace store
    And every request's log records are in the log store
    And Prometheus counted every request
    And the agent's pipelines refuse data before it runs out of memory: a memory_limiter first

  @traces @logs @metrics
  Scenario: A 30-second partition between the hosts loses nothing; the agent's queue grows and drains
    Given steady traffic of 2 requests a second for 60 seconds
    When the link between the hosts is cut for 30 seconds during the traffic
    And the traffic has ended
    Then every request succeeded
    And every request's trace is in the trace store
    And every request's log records are in the log store
    And Prometheus counted every request
    And the agent's queue grew during the fault and drained after it

  @traces @logs @metrics
  Scenario: The observability host restarted during the traffic loses nothing
    Given steady traffic of 2 requests a second for 60 seconds
    When every service of the observability host restarts at once during the traffic
    And the traffic has ended
    Then every request succeeded
    And every request's trace is in the trace store
    And every request's log records are in the log store
    And Prometheus counted every request

  @traces @logs
  Scenario: 5 % packet loss on the link loses nothing, and the delivery delay is reported
    Given steady traffic of 5 requests a second for 40 seconds
    When 5 % of the packets on the link between the hosts are dropped for 30 seconds during the traffic
    And the traffic has ended
    Then every request succeeded
    And every request's trace is in the trace store
    And every request's log records are in the log store
    And the delivery delay across the link is reported

  @traces @logs
  Scenario: 300 ms of latency on the link loses nothing, and the delivery delay is reported
    Given the link between the hosts can be delayed with tc netem
    And steady traffic of 5 requests a second for 40 seconds
    When 300 ms are added to the link between the hosts for 30 seconds during the traffic
    And the traffic has ended
    Then every request succeeded
    And every request's trace is in the trace store
    And every request's log records are in the log store
    And the delivery delay across the link is reported

  @traces @logs
  Scenario: The agent restarted while the link is cut loses nothing it had queued
    Given steady traffic of 2 requests a second for 60 seconds
    When the link between the hosts is cut for 30 seconds during the traffic
    And the "otel-agent" service is restarted during the traffic
    And the traffic has ended
    Then every request succeeded
    And the telemetry lost is placed at app → agent, no more than 2048 items a signal
    And the requests whose telemetry is missing were all in flight during the fault or within 5 seconds of it

  @traces @logs
  Scenario: The agent stopped: users unaffected, the loss placed at app → agent within the SDK's budget
    Given steady traffic of 2 requests a second for 45 seconds
    When the agent is stopped for 15 seconds during the traffic
    And the traffic has ended
    Then every request succeeded
    And the telemetry lost is placed at app → agent, no more than 2048 items a signal
    And the requests whose telemetry is missing were all in flight during the fault or within 5 seconds of it
