"""The split topology (issue 26, ADR 0018): two hosts and one link, the faults across the link during
traffic, and what they cost. The traffic, the accounting and its Then steps are steps/accounting.py's;
the faults are harness/faults/runtime.py's; the checks harness/checks/accounting.py's and
harness/checks/topology.py's."""

from __future__ import annotations

import pytest
from pytest_bdd import given, then, when

from harness.base import evidence
from harness.bdd.scenario import sentence
from harness.checks import accounting as account
from harness.checks import topology
from harness.checks.accounting import Accounting
from harness.drive.load import LoadAction, Traffic
from harness.faults.network import NetworkFaults
from harness.faults.runtime import CutHosts, LossyHosts, RestartHost, SlowHosts, Stop
from harness.lab.lifecycle import Lab

AGENT = "otel-agent"


@given("the lab is split into an app host and an observability host")
def split_lab(lab: Lab) -> None:
    topology.split_services_run(lab)


@given("the link between the hosts can be delayed with tc netem")
def link_can_be_delayed(lab: Lab) -> None:
    faults = NetworkFaults(lab.target)
    try:
        faults.between_hosts("1 ms delay", delay_ms=1)
    except Exception as exc:  # NotSupported (no sch_netem) or LabError: the reason is the skip's
        pytest.skip(str(exc))
    finally:
        faults.clear_hosts()


@then("the app host reaches the observability host only through the link")
def only_through_the_link(lab: Lab) -> None:
    topology.app_host_reaches_only_the_link(lab)


@then("the agent's pipelines refuse data before it runs out of memory: a memory_limiter first")
def agent_memory_limiter(lab: Lab) -> None:
    topology.agent_has_memory_limiter(lab)


@when(sentence("the link between the hosts is cut for {seconds:Duration} during the traffic"),
      target_fixture="fault")
def hosts_cut(traffic: Traffic, seconds: float) -> LoadAction:
    return traffic.fault(CutHosts(seconds=seconds))


@when(sentence("{percent:d} % of the packets on the link between the hosts are dropped for "
               "{seconds:Duration} during the traffic"), target_fixture="fault")
def hosts_lossy(traffic: Traffic, percent: int, seconds: float) -> LoadAction:
    return traffic.fault(LossyHosts(percent=percent, seconds=seconds))


@when(sentence("{ms:d} ms are added to the link between the hosts for {seconds:Duration} during the "
               "traffic"), target_fixture="fault")
def hosts_slow(traffic: Traffic, ms: int, seconds: float) -> LoadAction:
    return traffic.fault(SlowHosts(ms=ms, seconds=seconds))


@when("every service of the observability host restarts at once during the traffic", target_fixture="fault")
def obs_host_restarted(traffic: Traffic) -> LoadAction:
    return traffic.fault(RestartHost("obs"))


@when(sentence("the agent is stopped for {seconds:Duration} during the traffic"), target_fixture="fault")
def agent_stopped(traffic: Traffic, seconds: float) -> LoadAction:
    return traffic.fault(Stop(AGENT, seconds=seconds))


@then("the agent's queue grew during the fault and drained after it")
def queue_grew_and_drained(accounting: Accounting, fault: LoadAction) -> None:
    account.assert_agent_queue_grew_and_drained(accounting, fault)


@then("the delivery delay across the link is reported")
def delay_reported(accounting: Accounting) -> None:
    text = account.delivery_delay(accounting)
    assert accounting.run.agent_queue, f"the agent's queue was never read: {text}"
    evidence.attach("note", "delivery delay across the link", delay=text)


@then(sentence("the telemetry lost is placed at app → agent, no more than {n:d} items a signal"))
def lost_at_app_to_agent(accounting: Accounting, n: int) -> None:
    account.assert_lost_only_app_to_agent(accounting, budget=n)
