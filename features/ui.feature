@ui
Feature: The task manager in a real browser
  A person uses the page in Chromium, as they would: types, clicks, reads what the page says. The
  page traces itself (service frontend-browser, the OpenTelemetry web SDK bundled into the image),
  so one trace runs from the click in the browser through the Flask server span down to SQL, and
  its spans reach the collector through the front. The page loads nothing from outside the lab.
  At the end of each scenario a screenshot of the page is kept as evidence.

  Background:
    Given the lab is deployed
    And the task manager page is open in a browser

  Scenario: A person adds, completes and deletes a task through the page
    When I add a task titled "water the plants" through the page
    Then the page lists "water the plants" as open and its stats agree with the API
    When I mark "water the plants" as completed through the page
    Then the page lists "water the plants" as completed and its stats agree with the API
    When I delete "water the plants" through the page
    Then the page no longer lists "water the plants" and its stats agree with the API
    When I add a task titled "   " through the page
    Then the page says "A title is required." next to the form

  Scenario: A click in the page is one trace from the browser to the database
    When I add a task titled "traced from the browser" through the page
    Then the trace store has that trace rooted at the browser within 30 seconds
    And the browser's fetch span is the parent of the server span for "POST /api/tasks"
    And the trace has an HTTP server span for "POST /api/tasks"
    And the manual span "create_task" has a SQL span as a descendant
    And the log store has "Incoming request" and "Task created" records with that trace id within 30 seconds

  Scenario: "Simulate error" in the page gives an error span and a readable error
    When I press "Simulate error" in the page
    Then the page says "Simulate error failed: simulated error (HTTP 500)." with that trace id
    And the trace store has that trace rooted at the browser within 30 seconds
    And the trace has an HTTP server span for "GET /api/simulate-error"
    And the server span and its manual span "simulate_error" have error status

  Scenario: The page stays inside the lab and passes an accessibility check
    When I add a task titled "checked for accessibility" through the page
    Then every request the page made went to the front
    And the page showed no script or console error
    And axe-core finds no serious or critical accessibility violation in the page
