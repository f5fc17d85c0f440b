"""The records' status rules, driven directly (no pytest run): what each phase report does to a scenario.

The plugin tests (test_report_plugin.py) show the same rules end to end through real pytest-bdd runs;
these pin each rule on its own, including the ones a real run reaches only by accident (a step left
running by Ctrl-C, a step object the hooks never announced).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.bdd.bdd_adapter import ExamplesFacts, FeatureFacts, RuleFacts, ScenarioFacts, StepFacts, Tag
from harness.report import records
from harness.report.records import PhaseReport, ScenarioRecord

ROOT = Path("/lab")
ERROR = {"message": "AssertionError: assert 200 == 500", "traceback": "steps/api.py:12"}


def facts(examples: ExamplesFacts | None = None, rule: RuleFacts | None = None) -> ScenarioFacts:
    steps = [
        StepFacts("Given", "the lab is up", 4, True, None, None),
        StepFacts("When", "I ask for tasks", 8, False, None, [["id"], ["1"]]),
        StepFacts("Then", "the answer is 200", 9, False, "body", None),
    ]
    return ScenarioFacts(
        feature=FeatureFacts(
            keyword="Feature",
            name="Lab demo",
            description="\nWhat the lab does.\n",
            filename="/lab/features/demo.feature",
            rel_filename="features/demo.feature",
            line=2,
            language="en",
            tags=[Tag("demo", 1)],
        ),
        keyword="Scenario Outline" if examples else "Scenario",
        name="Asking for tasks",
        line=7,
        description="",
        tags=[Tag("api", 6), Tag("smoke", None)],
        rule=rule,
        examples=examples,
        steps=steps,
    )


def record() -> ScenarioRecord:
    return ScenarioRecord.from_facts(facts(), "features/test_demo.py::test_asking", 0, ROOT)


def phase(when: str, outcome: str = "passed", **kwargs: Any) -> PhaseReport:
    return PhaseReport(when=when, outcome=outcome, duration=0.5, start=1_700_000_000.0, **kwargs)


def run_steps(rec: ScenarioRecord, passed: int, running: bool = True) -> None:
    """The first ``passed`` steps passed; the next one is running (as between before_step and its end)."""
    for step in rec.steps[:passed]:
        step.status = records.PASSED
    if running:
        rec.steps[passed].status = records.RUNNING


def test_from_facts_gives_the_model_its_ids_paths_and_tags() -> None:
    rec = ScenarioRecord.from_facts(
        facts(
            examples=ExamplesFacts("small batches", 12, [Tag("fast", 11)], 1, 14, {"count": "3"}),
            rule=RuleFacts("Rule", "Scrapes", []),
        ),
        "features/test_demo.py::test_asking[3]",
        5,
        ROOT,
    )
    data = rec.to_dict()
    assert rec.feature == {
        "id": "lab-demo",
        "keyword": "Feature",
        "name": "Lab demo",
        "description": "What the lab does.",
        "file": "features/demo.feature",
        "line": 2,
        "language": "en",
        "tags": [{"name": "demo", "line": 1}],
    }
    assert data["id"] == "lab-demo;asking-for-tasks;small-batches;3"  # Cucumber counts the header as row 1
    assert data["tags"] == [{"name": "api", "line": 6}, {"name": "smoke", "line": None}]
    assert data["rule"] == {"keyword": "Rule", "name": "Scrapes", "tags": []}
    assert data["examples"] == {
        "name": "small batches",
        "line": 12,
        "tags": [{"name": "fast", "line": 11}],
        "index": 1,
        "row_line": 14,
        "row": {"count": "3"},
    }
    assert [s["background"] for s in data["steps"]] == [True, False, False]
    assert data["steps"][1]["datatable"] == [["id"], ["1"]] and data["steps"][2]["docstring"] == "body"


def test_a_failure_in_a_step_fails_that_step_and_skips_the_rest() -> None:
    rec = record()
    rec.absorb(phase("setup"))
    run_steps(rec, passed=1)
    rec.absorb(phase("call", "failed", error=ERROR))
    rec.absorb(phase("teardown"))
    rec.finish()
    assert [s.status for s in rec.steps] == ["passed", "failed", "skipped"]
    assert rec.steps[1].error == ERROR
    assert (rec.status(), rec.outcome) == ("failed", "failed")
    assert rec.hooks["call"].status == "passed"  # the step carries the failure, not the phase


def test_a_failure_outside_the_steps_fails_the_call_phase() -> None:
    rec = record()
    rec.absorb(phase("setup"))
    run_steps(rec, passed=3, running=False)
    rec.absorb(phase("call", "failed", error=ERROR))
    assert rec.hooks["call"].status == "failed" and rec.hooks["call"].error == ERROR
    assert rec.status() == "failed"


def test_an_undefined_step_keeps_the_scenario_undefined() -> None:
    rec = record()
    rec.absorb(phase("setup"))
    rec.steps[0].status = records.PASSED
    rec.steps[1].status = records.UNDEFINED
    rec.absorb(phase("call", "failed", error=ERROR))
    rec.finish()
    assert [s.status for s in rec.steps] == ["passed", "undefined", "skipped"]
    assert rec.hooks["call"].status == "passed"
    assert (rec.status(), rec.outcome) == ("undefined", "failed")


def test_a_skip_inside_a_step_skips_it_and_the_rest_with_the_reason() -> None:
    rec = record()
    rec.absorb(phase("setup"))
    run_steps(rec, passed=1)
    rec.absorb(phase("call", "skipped", reason="the backend image has no shell"))
    rec.finish()
    assert [s.status for s in rec.steps] == ["passed", "skipped", "skipped"]
    assert [s.skip_reason for s in rec.steps] == [None, *["the backend image has no shell"] * 2]
    assert (rec.status(), rec.outcome) == ("skipped", "skipped")


def test_a_skip_at_setup_skips_every_step() -> None:
    rec = record()
    rec.absorb(phase("setup", "skipped", reason="needs a VM"))
    rec.absorb(phase("teardown"))
    rec.finish()
    assert rec.hooks["setup"].status == "skipped"
    assert all(s.status == "skipped" and s.skip_reason == "needs a VM" for s in rec.steps)
    assert rec.status() == "skipped"


def test_errors_in_setup_or_teardown_fail_the_scenario_as_errors() -> None:
    setup = record()
    setup.absorb(phase("setup", "failed", error=ERROR))
    setup.finish()
    assert (setup.status(), setup.outcome, setup.hooks["setup"].error) == ("failed", "error", ERROR)
    teardown = record()
    teardown.absorb(phase("setup"))
    run_steps(teardown, passed=3, running=False)
    teardown.absorb(phase("call"))
    teardown.absorb(phase("teardown", "failed", error=ERROR))
    assert (teardown.status(), teardown.outcome) == ("failed", "error")


def test_an_expected_failure_counts_as_skipped_and_an_unexpected_pass_as_passed() -> None:
    xfail = record()
    xfail.absorb(phase("setup"))
    run_steps(xfail, passed=1)
    xfail.steps[1].status = records.FAILED
    xfail.absorb(phase("call", "skipped", expected_failure=True, reason="bucket boundaries differ"))
    xfail.finish()
    assert (xfail.status(), xfail.outcome) == ("skipped", "xfailed")
    assert xfail.xfail_reason == "bucket boundaries differ"
    assert xfail.steps[1].status == "failed"  # the record says what happened; cucumber.json says "skipped"
    xpass = record()
    xpass.absorb(phase("setup"))
    xpass.absorb(phase("call", expected_failure=True))
    assert xpass.outcome == "xpassed"


def test_a_step_left_running_is_failed_as_interrupted() -> None:
    rec = record()
    rec.absorb(phase("setup"))
    run_steps(rec, passed=1)
    rec.finish()  # the session ended (Ctrl-C) with the step still running
    assert rec.steps[1].status == "failed"
    assert rec.steps[1].error == {"message": "the step never finished (interrupted)", "traceback": ""}
    assert (rec.status(), rec.outcome) == ("failed", "interrupted")


def test_steps_are_found_by_key_then_by_line_then_added() -> None:
    rec = record()
    rec.bind([101, 102, 103], list(facts().steps))
    assert rec.step_for(102, facts().steps[1]) is rec.steps[1]
    unknown_key_same_line = StepFacts("Then", "the answer is 200", 9, False, None, None)
    assert rec.step_for(999, unknown_key_same_line) is rec.steps[2]
    added = rec.step_for(998, StepFacts("And", "one more", 10, False, None, None))
    assert rec.steps[-1] is added and added.text == "one more" and len(rec.steps) == 4


def test_bind_trusts_the_steps_that_run_when_collection_saw_others() -> None:
    rec = record()
    running = [StepFacts("When", "only this", 8, False, None, None)]
    rec.bind([7], running)
    assert [s.text for s in rec.steps] == ["only this"]
    assert rec.step_for(7, running[0]) is rec.steps[0]
