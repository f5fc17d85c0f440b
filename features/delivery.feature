@traces @logs
Feature: Telemetry is delivered whole and on time
  The lab promises more than "it arrives eventually": a request's trace and its log records are in
  the stores within 10 seconds (the app exports every 0.5 s, the collector batches for 0.5 s, the
  stores index within a second or two: a few seconds in all, with room for a slow host), and every
  request is traced, whether or not its caller sent trace context. A pipeline that is merely slow,
  or one that samples, breaks that promise while every check of "it arrives within 30 seconds" with
  a caller-chosen trace id stays green.

  Background:
    Given the lab is deployed

  Scenario: A request's trace and log records arrive within the lab's delivery budget
    When I create a task titled "delivered on time" with a trace id of my choosing
    Then the trace store has that trace within 10 seconds
    And the log store has "Incoming request" and "Request completed" records with that trace id within 10 seconds

  Scenario: Requests that bring no trace context are traced too
    When I create 5 tasks through the front without trace context
    Then the trace store has a trace of each of those tasks within 30 seconds

  Scenario: Prometheus holds the app's metrics no older than the lab's scrape budget
    Then Prometheus' newest sample of the app is never older than 15 seconds while watched for 20 seconds
