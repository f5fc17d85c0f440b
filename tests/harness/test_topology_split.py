"""The split topology without a lab (issue 26, ADR 0018): the agent's counters in the hops, where
the accounting places a loss once there is an agent, its queue's story, the link's fault scripts,
the option and the skip of @topology on a single lab."""

from __future__ import annotations

import pytest

from harness.base.config import LabConfig
from harness.base.errors import ConfigError
from harness.bdd.scenario import static_skip_reason
from harness.checks import accounting
from harness.clients import hops
from harness.clients.hops import (
    ACCEPTED,
    AGENT_ACCEPTED,
    AGENT_QUEUE_SIZE,
    AGENT_SEND_FAILED,
    AGENT_SENT,
    APP_REQUESTS,
    SENT,
    STORE_RECEIVED,
    CollectorView,
    ExporterView,
    PipelineSnapshot,
    QueuePoint,
)
from harness.drive.load import LoadAction
from harness.faults import network
from harness.faults.runtime import CutHosts, LossyHosts, RestartHost, SlowHosts
from harness.lab.targets import validate
from tests.harness.test_load_accounting import make

WHOLE = {APP_REQUESTS: 100, AGENT_ACCEPTED: 400, AGENT_SENT: 400, AGENT_SEND_FAILED: 0, ACCEPTED: 400,
         SENT: 400, STORE_RECEIVED: 400}


def test_the_agent_s_counters_are_hops_of_their_own() -> None:
    exporter = ExporterView("otlp_grpc/gateway", sent=38.0, queue_size=3.0)
    agent = CollectorView("the agent's metrics port", 1.0, accepted={"traces": 40.0},
                          refused={"traces": 2.0}, exporters={"traces": (exporter,)})
    snap = PipelineSnapshot(taken_at=10.0, stores="jaeger-victorialogs", agent=agent)
    traces = snap.hops()["traces"]
    assert traces[AGENT_ACCEPTED] == 40 and traces[hops.AGENT_REFUSED] == 2 and traces[AGENT_SENT] == 38
    assert traces[AGENT_QUEUE_SIZE] == 3
    assert AGENT_ACCEPTED not in PipelineSnapshot(taken_at=1.0, stores="jaeger-victorialogs").hops()["traces"]


def test_with_an_agent_a_loss_is_placed_at_app_to_agent_the_link_or_the_agent() -> None:
    assert make({"traces": WHOLE}).placement("traces") == "nothing lost"
    sdk = make({"traces": {**WHOLE, AGENT_ACCEPTED: 300, AGENT_SENT: 300, ACCEPTED: 300, SENT: 300,
                           STORE_RECEIVED: 300}}, traces_found=75, spans_found=300)
    assert sdk.placement("traces") == ("app → agent: the agent took in 300 of ~400 spans (the app's SDK "
                                       "could not deliver the rest)")
    link = make({"traces": {**WHOLE, ACCEPTED: 300, SENT: 300, STORE_RECEIVED: 300}}, traces_found=75,
                spans_found=300)
    assert link.placement("traces") == ("agent → gateway (the link): the gateway took in 300 of the 400 "
                                        "spans the agent sent")
    assert link.lost_on_link("traces") == 100
    failed = make({"traces": {**WHOLE, AGENT_SENT: 350, AGENT_SEND_FAILED: 50, ACCEPTED: 350, SENT: 350,
                              STORE_RECEIVED: 350}}, traces_found=88, spans_found=350)
    assert failed.placement("traces").startswith("agent → gateway: 50 spans failed after the retries")
    inside = make({"traces": {**WHOLE, AGENT_SENT: 350, ACCEPTED: 350, SENT: 350, STORE_RECEIVED: 350}},
                  traces_found=88, spans_found=350)
    assert inside.placement("traces") == "in the agent: it accepted 400 spans and sent 350"
    store = make({"traces": {**WHOLE, STORE_RECEIVED: 300}}, traces_found=75, spans_found=300)
    assert store.placement("traces") == "gateway → store: the store counted 300 of the 400 spans sent"


def test_the_table_has_the_agent_s_row_and_the_link_line() -> None:
    table = make({"traces": WHOLE, "logs": {}}).table()
    assert "agent (app host)" in table and "gateway (obs host)" in table
    assert "traces, app → agent → link → gateway: the agent accepted 400 spans" in table
    assert "nothing lost on the link" in table
    assert "agent (app host)" not in make({"traces": {APP_REQUESTS: 100, ACCEPTED: 400}}).table()


def test_the_queue_story_and_its_check() -> None:
    t0 = 1_800_000_000.0
    grew = [QueuePoint(t0 + i, q, 0) for i, q in enumerate([0, 0, 5, 40, 80, 80, 3, 0, 0])]
    assert hops.queue_story(grew, t0) == ("the agent's queue: 0 requests at +0 s, peak 80 at +4 s, empty "
                                          "again at +7 s (9 reads)")
    run = make({"traces": WHOLE})
    run.run.agent_queue = grew
    cut = LoadAction("cut the link app host → obs host for 3 s", 0, t0 + 2, t0 + 5,
                     in_effect=(t0 + 2, t0 + 5))
    accounting.assert_agent_queue_grew_and_drained(run, cut)
    run.run.agent_queue = [QueuePoint(t0 + i, 0, 0) for i in range(9)]
    with pytest.raises(AssertionError, match="did not grow while cut the link"):
        accounting.assert_agent_queue_grew_and_drained(run, cut)


def test_a_stopped_agent_s_loss_must_be_at_app_to_agent_and_within_the_budget() -> None:
    sdk = {**WHOLE, AGENT_ACCEPTED: 300, AGENT_SENT: 300, ACCEPTED: 300, SENT: 300, STORE_RECEIVED: 300}
    ok = make({"traces": sdk, "logs": {}}, traces_found=75, spans_found=300)
    accounting.assert_lost_only_app_to_agent(ok, budget=2048)
    with pytest.raises(AssertionError, match="never reached the agent, more than the SDK's 50"):
        accounting.assert_lost_only_app_to_agent(ok, budget=50)
    link = make({"traces": {**WHOLE, ACCEPTED: 300, SENT: 300, STORE_RECEIVED: 300}, "logs": {}},
                traces_found=75, spans_found=300)
    with pytest.raises(AssertionError, match="not only at app → agent"):
        accounting.assert_lost_only_app_to_agent(link, budget=2048)


def test_the_link_faults_are_rules_in_the_link_s_namespace_on_what_it_forwards() -> None:
    cut, lossy = network.hosts_drop_script(42), network.hosts_drop_script(42, 5)
    assert "nsenter -t 42 -n nft -f -" in cut and "hook forward" in cut and "numgen" not in cut
    assert "numgen random mod 100 < 5 drop" in lossy
    assert "netem delay 300ms" in network.hosts_delay_script(42, 300)
    assert "nft delete table inet lab_netfault" in network.hosts_clear_script(42)
    assert CutHosts(seconds=30).describe() == "cut the link app host → obs host for 30 s"
    assert LossyHosts(percent=5, seconds=20).describe() == \
        "drop 5 % of the packets on the link app host → obs host for 20 s"
    assert SlowHosts(ms=300).describe() == "add 300 ms to the link app host → obs host"
    assert "obs host" in RestartHost("obs").describe()
    with pytest.raises(ValueError, match="out of range"):
        LossyHosts(percent=100)


def test_topology_is_an_option_and_topology_scenarios_skip_on_a_single_lab() -> None:
    single = LabConfig.from_sources({}, {})
    split = LabConfig.from_sources({"topology": "split"}, {"LAB_TARGET": "docker"})
    assert single.topology == "single" and split.split
    assert LabConfig.from_sources({}, {"LAB_TOPOLOGY": "split"}).split
    with pytest.raises(ConfigError, match="LAB_TOPOLOGY"):
        LabConfig.from_sources({}, {"LAB_TOPOLOGY": "three"})
    reason = static_skip_reason(single, {"topology"})
    assert reason is not None and "--topology split" in reason
    assert static_skip_reason(split, {"topology"}) is None
    with pytest.raises(ConfigError, match="docker target only"):
        validate(LabConfig.from_sources({}, {"LAB_TOPOLOGY": "split", "LAB_TARGET": "vagrant",
                                             "LAB_BOX": "x"}))


def test_a_lab_without_the_split_services_is_not_split() -> None:
    from types import SimpleNamespace

    from harness.checks import topology

    empty = SimpleNamespace(target=SimpleNamespace(status=lambda: {}),
                            config=SimpleNamespace(stores="jaeger-victorialogs"))
    with pytest.raises(AssertionError, match=r"not running: .*otel-agent.*link"):
        topology.split_services_run(empty)
