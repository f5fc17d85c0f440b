@security
Feature: The lab's security posture
  A lab is still a deployment: no anonymous administrator, no process running as root where the
  image allows otherwise, and nothing listening beyond the documented ports.

  Background:
    Given the lab is deployed

  @grafana
  Scenario: Grafana has no anonymous administrator
    Then an anonymous visitor is not a Grafana admin

  Scenario Outline: The <service> container does not run as root
    Then the main process of the "<service>" container runs as a non-root user

    Examples:
      | service        |
      | backend        |
      | frontend       |
      | otel-collector |
      | prometheus     |
      | jaeger         |
      | victorialogs   |
      | tempo          |
      | loki           |
      | grafana        |
      | otel-agent     |
      | link           |

  Scenario: Only the documented ports listen on the host
    Then the lab publishes only its documented ports
