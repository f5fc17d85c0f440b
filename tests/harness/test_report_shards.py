"""Shards and repeats in the reports: real pytest-bdd runs (pytester) with pytest-xdist workers and
pytest-repeat, and the one set of reports they leave — every scenario once, a flaky one never a pass.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from harness.cli import main as lab
from harness.report import flakiness, merge
from harness.report.model import FAILED, FLAKY, PASSED, SKIPPED
from tests.harness.test_report_plugin import make_project

pytest_plugins = ["pytester"]

FLAKY_FEATURE = """\
Feature: Sometimes
  Scenario: Passes, then fails, then passes
    When I count this run
    Then this run is not the second

  Scenario: Always passes
    When I count this run

  Scenario: Always fails
    Then it fails
"""

FLAKY_STEPS = """
from pytest_bdd import scenarios, then, when

scenarios("features/sometimes.feature")


@when("I count this run", target_fixture="run_number")
def count(request):
    # pytest-repeat's own index, not a count kept in a file: the second run fails however the
    # workers interleave the repeats (a shared counter file raced once in CI).
    return request.node.callspec.params["__pytest_repeat_step_number"] + 1


@then("this run is not the second")
def not_second(run_number):
    assert run_number != 2, "the second run fails"


@then("it fails")
def fails():
    raise AssertionError("broken")
"""


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "harness.report.plugin", "-p", "no:cacheprovider", *args)


def _statuses(results: dict[str, Any]) -> dict[str, str]:
    return {s["id"]: s["status"] for f in results["features"] for s in f["scenarios"]}


def _results(pytester: pytest.Pytester) -> dict[str, Any]:
    return json.loads((pytester.path / "reports" / "results.json").read_text())


def test_a_run_on_two_workers_reports_every_scenario_once_as_one_run_does(
        pytester: pytest.Pytester) -> None:
    make_project(pytester)
    _run(pytester)
    alone = _results(pytester)
    result = _run(pytester, "-n", "2", "--dist", "loadgroup")
    sharded = _results(pytester)
    assert result.ret == 1  # the demo has a failing scenario
    assert _statuses(sharded) == _statuses(alone)
    assert sharded["summary"]["scenarios"] == alone["summary"]["scenarios"]
    assert len(sharded["run"]["shards"]) == 2, "each worker's own run is kept"
    steps = {s["id"]: [st["status"] for st in s["steps"]]
             for f in sharded["features"] for s in f["scenarios"]}
    steps_alone = {s["id"]: [st["status"] for st in s["steps"]] for f in alone["features"]
                   for s in f["scenarios"]}
    assert steps == steps_alone, "the workers' step records reach the merged report"
    evidence = [e for f in sharded["features"] for s in f["scenarios"] for st in s["steps"]
                for e in st["evidence"]]
    assert any(e["kind"] == "http" for e in evidence), "evidence attached in a worker is in the report"
    junit = ET.parse(pytester.path / "reports" / "junit.xml").getroot()
    assert sum(int(s.get("tests")) for s in junit.iter("testsuite")) == len(_statuses(alone))


def _flaky_project(pytester: pytest.Pytester) -> None:
    make_project(pytester)
    (pytester.path / "features" / "sometimes.feature").write_text(FLAKY_FEATURE, encoding="utf-8")
    pytester.makepyfile(test_sometimes=FLAKY_STEPS)


def test_a_scenario_that_passed_and_failed_is_flaky_never_a_pass(
        pytester: pytest.Pytester) -> None:
    _flaky_project(pytester)
    result = _run(pytester, "test_sometimes.py", "--count", "3")
    assert result.ret == 1
    results = _results(pytester)
    by_name = {s["name"]: s for f in results["features"] for s in f["scenarios"]}
    flaky = by_name["Passes, then fails, then passes"]
    assert flaky["status"] == FLAKY
    assert [r["status"] for r in flaky["runs"]] == [PASSED, FAILED, PASSED]
    assert flaky["pass_rate"] == pytest.approx(2 / 3, abs=1e-3)
    assert flaky["shown_run"] == 2, "the steps shown are the failed run's"
    assert by_name["Always passes"]["status"] == PASSED and len(by_name["Always passes"]["runs"]) == 3
    assert by_name["Always fails"]["status"] == FAILED
    assert results["summary"]["scenarios"][FLAKY] == 1 and results["summary"]["scenarios"][PASSED] == 1
    assert results["features"][0]["status"] == FAILED or FLAKY in {f["status"] for f in results["features"]}

    junit = ET.parse(pytester.path / "reports" / "junit.xml").getroot()
    case = next(c for c in junit.iter("testcase") if c.get("name") == "Passes, then fails, then passes")
    failure = case.find("failure")
    assert failure is not None and failure.get("type") == "flaky", "a flaky scenario is a failure in junit"
    assert "passed 2 of 3 runs" in failure.get("message", "")
    assert [f.get("message", "")[:6] for f in case.findall("flakyFailure")] == ["run 2:"]

    cucumber = json.loads((pytester.path / "reports" / "cucumber.json").read_text())
    names = [e["name"] for f in cucumber for e in f["elements"]]
    assert "Passes, then fails, then passes (run 2 of 3)" in names
    html = (pytester.path / "reports" / "living-docs" / "index.html").read_text()
    assert "badge status-flaky" in html and "Ran 3 times" in html and "pass rate 66.7 %" in html

    rows = {r.scenario: r for r in flakiness.tally([results])}
    assert rows["Passes, then fails, then passes"].verdict == flakiness.FLAKY
    assert rows["Always fails"].verdict == flakiness.BROKEN
    assert rows["Always passes"].verdict == flakiness.STABLE


def test_repeats_on_two_workers_stay_on_one_lab(
        pytester: pytest.Pytester) -> None:
    _flaky_project(pytester)
    conftest = pytester.path / "conftest.py"
    conftest.write_text(conftest.read_text() + """

@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        item.add_marker(pytest.mark.xdist_group(item.originalname))
""")
    _run(pytester, "test_sometimes.py", "--count", "3", "-n", "2",
         "--dist", "loadgroup")
    results = _results(pytester)
    flaky = next(s for f in results["features"] for s in f["scenarios"] if s["name"].startswith("Passes"))
    assert flaky["status"] == FLAKY and len(flaky["runs"]) == 3
    assert len({r["shard"] for r in flaky["runs"]}) == 1, "repeats of a scenario ran on one worker"


def _part(status: str, started: str, shard: str, sid: str = "f;s") -> dict[str, Any]:
    scenario = {"id": sid, "keyword": "Scenario", "name": sid, "line": 3, "description": "", "tags": [],
                "rule": None, "examples": None, "status": status, "outcome": status, "skip_reason": None,
                "xfail_reason": None, "duration": 2.0, "started": started, "steps": [], "hooks": []}
    return {"schema": "obslab-results/1",
            "run": {"started": started, "finished": started, "duration": 1.0, "target": "vagrant",
                    "stores": "jaeger-victorialogs", "exit_status": 0 if status == PASSED else 1,
                    "info": {"shard": shard}},
            "summary": {"scenarios": {status: 1}},
            "features": [{"id": "f", "keyword": "Feature", "file": "features/f.feature", "name": "F",
                          "line": 1,
                          "description": "", "tags": [], "language": "en", "scenarios": [scenario]}]}


def test_machines_reports_merge_into_one_and_a_pass_and_a_fail_of_one_scenario_is_flaky(
        tmp_path: Path) -> None:
    a = _part(PASSED, "2026-12-07T10:00:00+00:00", "1/2")
    b = _part(FAILED, "2026-12-07T10:05:00+00:00", "2/2")
    c = _part(PASSED, "2026-12-07T10:01:00+00:00", "2/2", sid="f;other")
    merged = merge.combine([a, b, c])
    assert _statuses(merged) == {"f;s": FLAKY, "f;other": PASSED}
    assert merged["run"]["exit_status"] == 1 and merged["run"]["duration"] == 300.0
    assert [r["shard"] for r in merged["features"][0]["scenarios"][0]["runs"]] == ["1/2", "2/2"]
    assert merge.fold_status([SKIPPED, SKIPPED]) == SKIPPED and merge.fold_status([FAILED, FAILED]) == FAILED
    again = merge.combine([merged])  # merging a merged report changes nothing
    assert _statuses(again) == _statuses(merged)
    assert len(again["features"][0]["scenarios"][0]["runs"]) == 2

    for i, part in enumerate((a, c), 1):
        (tmp_path / f"shard-{i}").mkdir()
        (tmp_path / f"shard-{i}" / "results.json").write_text(json.dumps(part))
    shards = [str(tmp_path / "shard-1"), str(tmp_path / "shard-2")]
    assert lab(["report", "merge", str(tmp_path / "all"), *shards]) == 0
    written = json.loads((tmp_path / "all" / "results.json").read_text())
    assert _statuses(written) == {"f;s": PASSED, "f;other": PASSED}
    assert (tmp_path / "all" / "living-docs" / "index.html").is_file()
    assert lab(["report", "merge", str(tmp_path / "x"), str(tmp_path / "nothing-here")]) == 2


def test_one_scenario_on_two_targets_is_two_scenarios_not_a_flaky_one() -> None:
    docker = _part(PASSED, "2026-12-07T10:00:00+00:00", "")
    vagrant = _part(FAILED, "2026-12-07T10:20:00+00:00", "")
    docker["run"]["target"] = "docker"
    merged = merge.combine([docker, vagrant])
    assert _statuses(merged) == {"f;s@docker": PASSED, "f;s@vagrant": FAILED}
    names = [s["name"] for s in merged["features"][0]["scenarios"]]
    assert names == ["f;s (on docker)", "f;s (on vagrant)"]
    assert merged["run"]["target"] == "docker, vagrant"


def test_lab_flaky_tallies_each_target_apart() -> None:
    """Green on docker twice and red on vagrant is stable there and broken here, not flaky."""
    docker = [_part(PASSED, f"2026-12-07T10:0{i}:00+00:00", "") for i in (0, 1)]
    for part in docker:
        part["run"]["target"] = "docker"
    vagrant = _part(FAILED, "2026-12-07T10:20:00+00:00", "")
    rows = {r.scenario: r for r in flakiness.tally([*docker, vagrant])}
    assert {name: row.verdict for name, row in rows.items()} == {
        "f;s (on docker)": flakiness.STABLE, "f;s (on vagrant)": flakiness.BROKEN}
    assert rows["f;s (on docker)"].ran == 2
    merged = merge.combine([*docker, vagrant])  # a merged report's ids carry their target already
    assert {r.scenario: r.verdict for r in flakiness.tally([merged, vagrant])} == {
        "f;s (on docker)": flakiness.STABLE, "f;s (on vagrant)": flakiness.BROKEN}
    assert [r.verdict for r in flakiness.tally([vagrant, vagrant])] == [flakiness.BROKEN]
