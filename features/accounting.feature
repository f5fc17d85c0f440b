@failure @destructive @load
Feature: Nothing lost, and proof of it
  Telemetry accounting per signal. Sustained, bounded traffic goes through the front, each request
  with a trace id the harness chose; afterwards every request's trace (with its server span and SQL
  span), its two log records ("Incoming request", "Request completed") and the request counter in
  Prometheus are looked up, and the collector's own counters for the run are read — so a loss is
  placed at a hop: app → collector, inside the collector, collector → store, or in the store. The
  table of the step "the traffic has ended" shows sent, found and lost per signal and hop. Faults of
  every hop are done during the traffic, each scenario with its budget; users never see an error.

  Background:
    Given the lab is deployed

  @traces @logs @metrics
  Scenario: Steady traffic arrives whole: every trace, every log record, every request counted
    Given steady traffic of 20 requests a second for 10 seconds
    When the traffic has ended
    Then every request succeeded
    And every request's trace is in the trace store
    And every request's log records are in the log store
    And Prometheus counted every request
    And the collector reports no refused or failed items

  @traces
  Scenario: The trace store restarted during the traffic keeps what it had and loses nothing
    Given steady traffic of 20 requests a second for 15 seconds
    When the trace store is restarted during the traffic
    And the traffic has ended
    Then every request succeeded
    And every request's trace is in the trace store
    And the collector reports no refused or failed items

  @logs
  Scenario: The log store restarted during the traffic keeps what it had and loses nothing
    Given steady traffic of 20 requests a second for 15 seconds
    When the log store is restarted during the traffic
    And the traffic has ended
    Then every request succeeded
    And no more than 0 % of log records are missing
    And the collector reports no refused or failed items

  @traces @logs
  Scenario: The collector restarted during the traffic loses nothing it had accepted
    Given steady traffic of 20 requests a second for 15 seconds
    When the "otel-collector" service is restarted during the traffic
    And the traffic has ended
    Then every request succeeded
    And the collector lost nothing it had accepted
    And no more than 2048 spans never reached the collector
    And the requests whose telemetry is missing were all in flight during the fault or within 5 seconds of it

  @traces @logs
  Scenario: The collector restarted while the trace store is cut off keeps what it had queued
    Given steady traffic of 20 requests a second for 20 seconds
    When the link from "otel-collector" to the trace store is cut during the traffic
    And the "otel-collector" service is restarted during the traffic
    And the traffic has ended
    Then every request succeeded
    And the collector lost nothing it had accepted
    And the requests whose telemetry is missing were all in flight during the fault or within 5 seconds of it

  # The network faults (@network) run on the vagrant target too, whose VM (QEMU TCG, Python 12-25
  # times slower than here) serves a few requests a second: hence 2 a second. The scenarios at 20 a
  # second are beyond such a VM (it answers 504 to most of them before any fault): CI runs them on
  # the docker target only.
  @traces @logs @network
  Scenario: A 30-second partition between the collector and the trace store loses nothing
    Given steady traffic of 2 requests a second for 40 seconds
    When the link from "otel-collector" to the trace store is cut for 30 seconds during the traffic
    And the traffic has ended
    Then every request succeeded
    And every request's trace is in the trace store
    And every request's log records are in the log store
    And the collector reports no refused or failed items

  @traces @logs @network
  Scenario: A 30-second partition between the backend and the collector costs only what was sent during it
    Given steady traffic of 2 requests a second for 40 seconds
    When the link from "backend" to "otel-collector" is cut for 30 seconds during the traffic
    And the traffic has ended
    Then every request succeeded
    And the collector lost nothing it had accepted
    And the requests whose telemetry is missing were all in flight during the fault or within 5 seconds of it

  @traces @logs
  Scenario: A burst above the collector's memory limit is refused, visibly, and users are spared
    Given steady traffic of 20 requests a second for 15 seconds
    When a burst of log records above the collector's memory limit is sent to it during the traffic
    And the traffic has ended
    Then every request succeeded
    And the collector counts every record of the burst as accepted or refused, the refused by its memory_limiter
    And the collector lost nothing it had accepted
    And the requests whose telemetry is missing were all in flight during the fault or within 5 seconds of it

  @traces @logs @network
  Scenario Outline: Half a second of latency from <source> to <dest> loses nothing
    Given links of the lab's network can be delayed with tc netem
    And steady traffic of 2 requests a second for 20 seconds
    When 500 ms are added to the link from <source> to <dest> for 10 seconds during the traffic
    And the traffic has ended
    Then every request succeeded
    And every request's trace is in the trace store
    And every request's log records are in the log store
    And the collector reports no refused or failed items

    Examples:
      | source           | dest             |
      | "backend"        | "otel-collector" |
      | "otel-collector" | the trace store  |
