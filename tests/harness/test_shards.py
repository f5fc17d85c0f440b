"""The shard split (by recorded durations), the run options that ask for it, and the lab each shard
gets: its own project, address, VM and ports — none shared with another shard."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from harness.base import services
from harness.base.config import SHARD_PORT_BASE, SHARD_PORT_STEP, LabConfig, shard_bind_address
from harness.base.errors import ConfigError
from harness.bdd.scenario import RunOptions
from harness.bdd.shards import (
    MAX_SHARDS,
    Shard,
    durations_of,
    expected_load,
    load_durations,
    parse_shard,
    split,
    update_durations,
)


def test_the_longest_scenarios_spread_first_and_every_shard_carries_about_the_same() -> None:
    known = {"a": 100.0, "b": 90.0, "c": 40.0, "d": 30.0, "e": 30.0, "f": 20.0, "g": 10.0}
    plan = split(list(known), known, 2)
    load = expected_load(list(known), known, 2)
    assert plan["a"] != plan["b"], "the two longest must not share a lab"
    assert sorted(load) == [160.0, 160.0]
    assert set(plan.values()) == {1, 2}


def test_the_split_is_the_same_on_every_worker_and_machine() -> None:
    keys = [f"s{i}" for i in range(30)]
    known = {k: float(i % 7 + 1) for i, k in enumerate(keys)}
    assert split(keys, known, 4) == split(list(keys), dict(known), 4)


def test_unknown_scenarios_weigh_the_median_and_skipped_ones_nothing() -> None:
    known = {"a": 10.0, "b": 20.0, "c": 30.0}
    plan = split(["a", "b", "c", "new"], known, 2)
    assert expected_load(["a", "b", "c", "new"], known, 2) == [40.0, 40.0]  # new weighs 20
    assert plan["c"] != plan["new"]
    # skipped scenarios weigh nothing but still spread (a shard of only skips finishes at once)
    skipped = [f"skip{i}" for i in range(4)]
    plan = split(skipped, {}, 2, skipped=skipped)
    assert sorted(plan.values()) == [1, 1, 2, 2]


def test_repeats_of_one_scenario_stay_on_one_shard_and_weigh_their_count() -> None:
    keys = ["a", "a", "a", "b", "c"]
    plan = split(keys, {"a": 10.0, "b": 10.0, "c": 10.0}, 2)
    assert plan["b"] == plan["c"] != plan["a"]  # a's three runs weigh 30


def test_shard_options_are_checked_in_one_line() -> None:
    assert parse_shard("2/4") == Shard(2, 4) and str(Shard(2, 4)) == "2/4"
    for bad, said in [("5/4", "k must be 1 to 4"), ("0/4", "k must be 1 to 4"), ("two/4", "k/N"),
                      (f"1/{MAX_SHARDS + 1}", f"N must be 1 to {MAX_SHARDS}")]:
        with pytest.raises(ConfigError, match=said):
            parse_shard(bad)
    assert RunOptions.from_sources({}, env={}) == RunOptions()
    assert RunOptions.from_sources({}, env={"LAB_SHARDS": "4", "LAB_REPEAT": "3"}) == RunOptions(4, None, 3)
    assert RunOptions.from_sources({"shards": "2"}, env={"LAB_SHARDS": "4"}).shards == 2  # option wins
    with pytest.raises(ConfigError, match="together"):
        RunOptions.from_sources({"shards": "2", "shard": "1/2"}, env={})
    with pytest.raises(ConfigError, match=r"--repeat='x' is not a whole number"):
        RunOptions.from_sources({"repeat": "x"}, env={})
    with pytest.raises(ConfigError, match="out of range"):
        RunOptions.from_sources({"shards": "0"}, env={})


def test_each_shard_gets_its_own_lab() -> None:
    base = LabConfig.from_sources({"project": "obslab-ci"}, env={})
    labs = [base.for_shard(k) for k in range(1, MAX_SHARDS + 1)]
    assert [lab.project for lab in labs[:2]] == ["obslab-ci-1", "obslab-ci-2"]
    assert [lab.host_address for lab in labs[:3]] == ["127.0.1.1", "127.0.2.1", "127.0.3.1"]
    assert labs[0].vm.domain != labs[1].vm.domain != base.vm.domain
    assert labs[0].vm.vm_ip == "10.77.0.11" and labs[1].vm.vm_ip == "10.77.0.12"
    assert labs[1].lab_env["LAB_PROJECT"] == "obslab-ci-2"
    assert labs[1].lab_env["LAB_VM_PORT_OFFSET"] == str(SHARD_PORT_BASE + 2 * SHARD_PORT_STEP)
    assert labs[1].lab_reports_dir == base.reports_dir / "shard-2"
    assert base.lab_reports_dir == base.reports_dir
    for field in ("project", "host_address"):
        values = [getattr(lab, field) for lab in labs]
        assert len(set(values)) == len(values), f"two shards share a {field}"


def test_no_two_shards_forward_a_port_to_the_same_host_port() -> None:
    """The VMs' forwarded ports all live on 127.0.0.1: every documented port of every shard (and of
    the unsharded lab) must land on its own host port."""
    ports = set(services.all_ports())
    base = LabConfig.from_sources({}, env={})
    taken: dict[int, tuple[int, int]] = {}
    for shard, port in itertools.product(range(MAX_SHARDS + 1), sorted(ports)):
        offset = base.for_shard(shard).vm.port_offset if shard else 0
        host = port + offset
        assert host not in taken, f"shard {shard}'s {port} and shard {taken[host][0]}'s {taken[host][1]} meet"
        assert host < 65536
        taken[host] = (shard, port)


def test_a_wildcard_or_outside_bind_address_still_gives_shards_loopback() -> None:
    assert shard_bind_address("0.0.0.0", 3) == "127.0.3.1"
    assert shard_bind_address("192.168.1.5", 1) == "127.0.1.1"
    assert shard_bind_address("127.0.0.31", 2) == "127.0.2.31"


def test_durations_are_recorded_per_target_from_a_run(tmp_path: Path) -> None:
    results = {"features": [{"scenarios": [
        {"id": "f;a", "status": "passed", "duration": 12.34},
        {"id": "f;b", "status": "skipped", "duration": 0.01},
        {"id": "f;c", "status": "flaky", "duration": 9.0, "runs": [
            {"status": "passed", "duration": 4.0}, {"status": "failed", "duration": 6.0}]},
    ]}]}
    assert durations_of(results) == {"f;a": 12.3, "f;c": 5.0}
    path = tmp_path / "durations.json"
    assert update_durations([results], "docker", path) == 2
    other = {"features": [{"scenarios": [{"id": "f;a", "status": "failed", "duration": 20}]}]}
    update_durations([other], "vagrant", path)
    assert load_durations(path) == {"docker": {"f;a": 12.3, "f;c": 5.0}, "vagrant": {"f;a": 20.0}}
    assert json.loads(path.read_text())["docker"]["f;a"] == 12.3
    update_durations([results, other], "docker", path)  # two runs: their median is their mean
    assert load_durations(path)["docker"] == {"f;a": 16.1, "f;c": 5.0}  # (12.3 + 20) / 2, rounded
    outlier = {"features": [{"scenarios": [{"id": "f;a", "status": "passed", "duration": 67.0}]}]}
    update_durations([results, other, outlier], "docker", path)  # one slow run does not drag it
    assert load_durations(path)["docker"]["f;a"] == 20.0
    assert load_durations(tmp_path / "absent.json") == {}
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigError, match="not readable JSON"):
        load_durations(tmp_path / "bad.json")


def test_the_committed_durations_name_scenarios_that_exist() -> None:
    from harness.bdd.scenario import scenario_steps  # noqa: F401  (the features parse)

    known = load_durations()
    if not known:
        pytest.fail("features/durations.json is missing: record it with `lab durations reports/`")
    ids = _feature_ids()
    for target, table in known.items():
        stale = sorted(set(table) - ids)
        assert not stale, f"durations for {target} name scenarios that no longer exist: {stale[:5]}"


def _feature_ids() -> set[str]:
    from pytest_bdd.feature import get_features

    from harness.bdd.identity import slug

    root = Path(__file__).resolve().parents[2] / "features"
    ids = set()
    for feature in get_features([str(root)]):
        for template in feature.scenarios.values():
            feature_slug = slug(feature.name or feature.rel_filename)
            if not template.examples:
                ids.add(f"{feature_slug};{slug(template.name)}")
            for ex in template.examples:
                for index, context in enumerate(ex.as_contexts()):
                    name = slug(template.render(context).name)
                    ids.add(f"{feature_slug};{name};{slug(ex.name) if ex.name else ''};{index + 2}")
    return ids
