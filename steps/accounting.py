"""Accounting: sustained, bounded traffic through the front with trace ids the harness chose, faults
of every hop done while it runs, and afterwards what each signal lost and at which hop.

``traffic`` (from the Given) runs in the background; a When step acts during it and hands on the
``fault`` it did; "the traffic has ended" waits for the last request, asks the stores until the
pipeline has settled and hands on the ``accounting``, whose table is that step's evidence. The work
is in harness/drive/load.py, harness/faults/network.py and harness/checks/accounting.py.
"""

from __future__ import annotations

import pytest
from pytest_bdd import given, then, when

from harness.bdd.scenario import sentence
from harness.checks import accounting as account
from harness.checks.accounting import Accounting
from harness.drive import load
from harness.drive.load import LoadAction, Traffic
from harness.faults.network import NetworkFaults
from harness.faults.runtime import Delay, Partition, Restart
from harness.lab.lifecycle import Lab


@given("links of the lab's network can be delayed with tc netem", target_fixture="network")
def netem_available(lab: Lab) -> NetworkFaults:
    faults = NetworkFaults(lab.target).prepare()  # looked up before the traffic starts
    reason = faults.can_delay()
    if reason:
        pytest.skip(reason)
    return faults


@given(sentence("steady traffic of {rate:g} requests a second for {duration:Duration}"),
       target_fixture="traffic")
def steady_traffic(lab: Lab, request: pytest.FixtureRequest, rate: float, duration: float) -> Traffic:
    traffic = load.Traffic(lab, load.LoadPlan(rate, duration))
    request.addfinalizer(traffic.stop)  # a scenario that fails early leaves no traffic running
    return traffic.start()


@when(sentence("{what} is restarted during the traffic"), target_fixture="fault")
def restarted_during(lab: Lab, traffic: Traffic, what: str) -> LoadAction:
    return traffic.fault(Restart(load.service_named(lab, what), healthy_within=load.RESTART_HEALTHY_S))


@when(sentence("the link from {source} to {dest} is cut for {seconds:Duration} during the traffic"),
      target_fixture="fault")
def cut_during(lab: Lab, traffic: Traffic, source: str, dest: str, seconds: float) -> LoadAction:
    return traffic.fault(Partition(load.service_named(lab, source), load.service_named(lab, dest),
                                   seconds=seconds))


@when(sentence("the link from {source} to {dest} is cut during the traffic"), target_fixture="fault")
def cut_from_now_on(lab: Lab, traffic: Traffic, source: str, dest: str) -> LoadAction:
    """Cut until the end of the scenario (or until the source's container restarts: a new one has
    a new network namespace)."""
    fault = Partition(load.service_named(lab, source), load.service_named(lab, dest))
    return traffic.fault(fault, until_stopped=True)


@when(sentence("{delay:d} ms are added to the link from {source} to {dest} for {seconds:Duration} "
               "during the traffic"), target_fixture="fault")
def delayed_during(lab: Lab, traffic: Traffic, network: NetworkFaults, delay: int, source: str, dest: str,
                   seconds: float) -> LoadAction:
    """``network``: the Given that skipped where netem is missing."""
    return traffic.fault(Delay(load.service_named(lab, source), load.service_named(lab, dest), ms=delay,
                               seconds=seconds))


@when("a burst of log records above the collector's memory limit is sent to it during the traffic",
      target_fixture="fault")
def burst_during(lab: Lab, traffic: Traffic) -> LoadAction:
    return traffic.during("a burst of log records straight to the collector",
                          lambda: load.otlp_log_burst(lab))


@when("the traffic has ended", target_fixture="accounting")
def traffic_ended(lab: Lab, traffic: Traffic) -> Accounting:
    return account.account(lab, traffic.wait())


@then("every request succeeded")
def every_request_succeeded(accounting: Accounting) -> None:
    account.assert_every_request_succeeded(accounting.run)


@then("every request's trace is in the trace store")
def every_trace(accounting: Accounting) -> None:
    account.assert_missing_at_most(accounting, "traces", 0)


@then("every request's log records are in the log store")
def every_log_record(accounting: Accounting) -> None:
    account.assert_missing_at_most(accounting, "logs", 0)


@then(sentence("no more than {pct:g} % of log records are missing"))
def log_records_within(accounting: Accounting, pct: float) -> None:
    account.assert_missing_at_most(accounting, "logs", pct)


@then("Prometheus counted every request")
def prometheus_counted(accounting: Accounting) -> None:
    account.assert_missing_at_most(accounting, "metrics", 0)


@then("the collector reports no refused or failed items")
def collector_clean(accounting: Accounting) -> None:
    account.assert_collector_clean(accounting)


@then("the collector lost nothing it had accepted")
def collector_kept_what_it_accepted(accounting: Accounting) -> None:
    account.assert_lost_only_before_collector(accounting, "traces", at_most=float("inf"))
    account.assert_lost_only_before_collector(accounting, "logs", at_most=float("inf"))


@then(sentence("no more than {n:d} spans never reached the collector"))
def spans_before_collector(accounting: Accounting, n: int) -> None:
    account.assert_lost_only_before_collector(accounting, "traces", at_most=n)


@then(sentence("the requests whose telemetry is missing were all in flight during the fault "
               "or within {margin:Duration} of it"))
def missing_only_around_the_fault(accounting: Accounting, fault: LoadAction, margin: float) -> None:
    account.assert_missing_only_around(accounting, fault, margin)


@then("the collector counts every record of the burst as accepted or refused, the refused by its "
      "memory_limiter")
def burst_counted(accounting: Accounting, fault: LoadAction) -> None:
    assert isinstance(fault.result, load.Burst), f"the fault {fault.describe!r} sent no burst"
    account.assert_burst_counted(accounting, fault.result)
