"""Security: no anonymous Grafana admin, non-root containers, only documented ports."""

from __future__ import annotations

import pytest
from pytest_bdd import then

from harness.bdd.scenario import sentence
from harness.checks import posture
from harness.lab.lifecycle import Lab


@then("an anonymous visitor is not a Grafana admin")
def anonymous_not_admin(lab: Lab) -> None:
    posture.grafana_anonymous_not_admin(lab)


@then(sentence('the main process of the "{service}" container runs as a non-root user'))
def non_root(lab: Lab, service: str) -> None:
    if service not in posture.services_of(lab):
        pytest.skip(f"{service} is not part of this lab ({lab.config.stores} store set, "
                    f"{lab.config.topology} topology)")
    posture.main_process_not_root(lab, service)


@then("the lab publishes only its documented ports")
def only_documented_ports(lab: Lab) -> None:
    posture.only_documented_ports(lab)
