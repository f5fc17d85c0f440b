"""The guard on pytest-bdd's internals: what harness/bdd/bdd_adapter.py reads must still be there.

pytest-bdd (pinned in requirements/harness.txt) documents its decorators, parsers and hooks; the
reports also read its scenario registry, its outline parameter, its parser's objects and its Gherkin
parser (see the adapter's docstring). These tests fail, naming what changed and the adapter function
to adapt, when an upgrade moves any of it: first by name (every entry of ``INTERNALS``), then by
behaviour (the facts a real pytest-bdd run gives the adapter, exactly), and they show that the plugin
says so at the end of a run without changing the run's outcome.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from harness.bdd import bdd_adapter

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
ADAPTER = bdd_adapter.HERE


@pytest.mark.parametrize("internal", bdd_adapter.INTERNALS, ids=lambda i: i.what)
def test_pytest_bdd_still_has_what_the_adapter_reads(internal: bdd_adapter.Internal) -> None:
    problem = internal.problem()
    assert problem is None, problem


def test_the_pin_is_the_version_the_adapter_was_checked_with() -> None:
    pins = (REPO / "requirements" / "harness.txt").read_text(encoding="utf-8")
    match = re.search(r"^pytest-bdd==(\S+)", pins, re.MULTILINE)
    assert match, "requirements/harness.txt no longer pins pytest-bdd (pytest-bdd==X.Y.Z)"
    assert match.group(1) == bdd_adapter.VERIFIED_WITH, (
        f"requirements/harness.txt pins pytest-bdd=={match.group(1)} but {ADAPTER} was checked with "
        f"{bdd_adapter.VERIFIED_WITH}: run this file against the new version, adapt {ADAPTER} where it "
        "fails, then set VERIFIED_WITH there"
    )


# ---------------------------------------------------------------------------------------------------
# the facts a real run gives the adapter

FEATURE = """\
@area
Feature: Adapter facts
  What the reports read from pytest-bdd.

  Background:
    Given a feature background

  @plain
  Scenario: Table and docstring
    Given a table
      | job     | health |
      | backend | up     |
    When a docstring
      \"\"\"
      some <n> text
      \"\"\"
    Then nothing

  Scenario Outline: Outline <n>
    When I use <n>
    Then nothing

    Examples: first
      | n |
      | 1 |

    @second_table
    Examples: second
      | n |
      | 2 |
      | 3 |

  @ruled
  Rule: A rule
    Background:
      Given a rule background

    @in_rule
    Scenario: Inside the rule
      Then nothing
"""

CONFTEST = """\
import dataclasses
import json
from pathlib import Path

from pytest_bdd import given, parsers, then, when

from harness.bdd import bdd_adapter

SEEN = {}


def pytest_collection_finish(session):
    for item in session.items:
        seen = SEEN[item.nodeid] = {"errors": [], "hook_keys": []}
        try:
            facts = bdd_adapter.scenario_of_item(item)
            seen["collected"] = dataclasses.asdict(facts) if facts else None
        except Exception as exc:
            seen["errors"].append(f"scenario_of_item(): {exc!r}")


def pytest_bdd_before_scenario(request, feature, scenario):
    seen = SEEN[request.node.nodeid]
    try:
        seen["keys"] = bdd_adapter.step_keys(scenario)
        seen["running"] = [dataclasses.asdict(s) for s in bdd_adapter.steps_of(scenario)]
        seen["feature_file"] = bdd_adapter.feature_file(scenario)
    except Exception as exc:
        seen["errors"].append(f"reading the running scenario: {exc!r}")


def pytest_bdd_before_step(request, feature, scenario, step, step_func):
    SEEN[request.node.nodeid]["hook_keys"].append(bdd_adapter.step_key(step))


def pytest_sessionfinish(session):
    Path("seen.json").write_text(json.dumps(SEEN))


@given("a feature background")
@given("a rule background")
@then("nothing")
def nothing():
    pass


@given("a table")
def table(datatable):
    pass


@when("a docstring")
def docstring(docstring):
    pass


@when(parsers.parse("I use {n:d}"))
def use(n):
    pass
"""

INI = """\
[pytest]
markers =
    area: x
    plain: x
    second_table: x
    ruled: x
    in_rule: x
"""


def line(text: str, after: int = 0) -> int:
    """Line of the first line of FEATURE below line ``after`` that starts with ``text`` (indent aside)."""
    rows = enumerate(FEATURE.splitlines(), 1)
    return next(i for i, row in rows if i > after and row.strip().startswith(text))


def step(keyword: str, text: str, at: int, background: bool = False, **extra: Any) -> dict[str, Any]:
    return {
        "keyword": keyword,
        "text": text,
        "line": at,
        "background": background,
        "docstring": extra.get("docstring"),
        "datatable": extra.get("datatable"),
    }


def expected_facts(feature_file: str) -> dict[str, dict[str, Any]]:
    """What the adapter must read from each scenario of FEATURE, by test name."""
    feature = {
        "keyword": "Feature",
        "name": "Adapter facts",
        "description": "What the reports read from pytest-bdd.",
        "filename": feature_file,
        "rel_filename": "features/facts.feature",
        "line": line("Feature:"),
        "language": "en",
        "tags": [{"name": "area", "line": line("@area")}],
    }
    background = step("Given", "a feature background", line("Given a feature background"), background=True)

    def outline(n: str, table: str, row_in_table: int, tags: list[dict[str, Any]]) -> dict[str, Any]:
        at = line("Scenario Outline:")
        return {
            "feature": feature,
            "keyword": "Scenario Outline",
            "name": f"Outline {n}",
            "line": line("Scenario Outline:"),
            "description": "",
            "tags": [],
            "rule": None,
            "examples": {
                "name": table,
                "line": line(f"Examples: {table}"),
                "tags": tags,
                "index": row_in_table,
                "row_line": line(f"| {n} |"),
                "row": {"n": n},
            },
            "steps": [
                background,
                step("When", f"I use {n}", line("When I use", at)),
                step("Then", "nothing", line("Then nothing", at)),
            ],
        }

    second_tag = [{"name": "second_table", "line": line("@second_table")}]
    plain, ruled = line("Scenario: Table and docstring"), line("Scenario: Inside the rule")
    table = [["job", "health"], ["backend", "up"]]
    rule = {"keyword": "Rule", "name": "A rule", "tags": [{"name": "ruled", "line": line("@ruled")}]}
    return {
        "test_table_and_docstring": {
            "feature": feature,
            "keyword": "Scenario",
            "name": "Table and docstring",
            "line": plain,
            "description": "",
            "tags": [{"name": "plain", "line": line("@plain")}],
            "rule": None,
            "examples": None,
            "steps": [
                background,
                step("Given", "a table", line("Given a table", plain), datatable=table),
                step("When", "a docstring", line("When a docstring", plain), docstring="some <n> text"),
                step("Then", "nothing", line("Then nothing", plain)),
            ],
        },
        "test_outline_n[1]": outline("1", "first", 0, []),
        "test_outline_n[2]": outline("2", "second", 0, second_tag),
        "test_outline_n[3]": outline("3", "second", 1, second_tag),
        "test_inside_the_rule": {
            "feature": feature,
            "keyword": "Scenario",
            "name": "Inside the rule",
            "line": ruled,
            "description": "",
            "tags": [{"name": "in_rule", "line": line("@in_rule")}],
            "rule": rule,
            "examples": None,
            "steps": [
                background,
                step("Given", "a rule background", line("Given a rule background"), background=True),
                step("Then", "nothing", line("Then nothing", ruled)),
            ],
        },
    }


# What reads each fact, so a difference names the function to adapt.
READ_BY = {
    "feature": "scenario_of_item() (the Feature object), _gherkin_lines() (tag lines)",
    "keyword": "scenario_of_item()",
    "name": "scenario_of_item() (the outline rendered with its row: _template(), _example())",
    "line": "scenario_of_item()",
    "description": "scenario_of_item()",
    "tags": "scenario_of_item(), _gherkin_lines() (tag lines)",
    "rule": "scenario_of_item() (the Rule object), _gherkin_lines() (its tag lines)",
    "examples": "_example() (the outline parameter), _examples(), _gherkin_lines() (row lines)",
    "steps": "steps_of(), step_facts(), _background_count()",
}


@pytest.fixture
def seen(pytester: pytest.Pytester) -> dict[str, dict[str, Any]]:
    pytester.makefile(".ini", pytest=INI)
    pytester.mkdir("features")
    (pytester.path / "features" / "facts.feature").write_text(FEATURE, encoding="utf-8")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_facts='from pytest_bdd import scenarios\n\nscenarios("features/facts.feature")\n\n\n'
        "def test_plain():\n    pass\n"
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    data = json.loads((pytester.path / "seen.json").read_text(encoding="utf-8"))
    errors = [f"{nodeid}: {e}" for nodeid, value in data.items() for e in value["errors"]]
    version = bdd_adapter.installed_version()
    assert not errors, f"the adapter could not read what pytest-bdd {version} gave it:\n" + "\n".join(errors)
    result.assert_outcomes(passed=6)  # pytest-bdd itself ran the feature (tables, docstrings, rules)
    return {nodeid.split("::")[-1]: value for nodeid, value in data.items()}


def test_the_adapter_reads_every_fact_the_reports_need(
    seen: dict[str, dict[str, Any]], pytester: pytest.Pytester
) -> None:
    feature_file = str(pytester.path / "features" / "facts.feature")
    expected = expected_facts(feature_file)
    assert seen["test_plain"]["collected"] is None, "a plain test function was read as a scenario"
    differences = []
    for name, facts in expected.items():
        assert name in seen, f"pytest-bdd no longer collects {name!r}; collected: {sorted(seen)}"
        got = seen[name]["collected"]
        assert got is not None, f"{name}: not read as a scenario; adapt {ADAPTER}: _template()"
        for key, value in facts.items():
            if got.get(key) != value:
                differences.append(
                    f"{name}: {key} is {got.get(key)!r}, expected {value!r}; adapt {ADAPTER}: {READ_BY[key]}"
                )
    version = bdd_adapter.installed_version()
    assert not differences, f"pytest-bdd {version} gives the reports other facts:\n" + "\n".join(differences)


def test_the_steps_hooks_pass_are_the_steps_collection_saw(
    seen: dict[str, dict[str, Any]], pytester: pytest.Pytester
) -> None:
    """Records are bound to step objects by key, and built at collection from a rendering of their own."""
    for name, value in seen.items():
        if name == "test_plain":
            continue
        assert value["hook_keys"] == value["keys"], (
            f"{name}: the step hooks pass other step objects than scenario.steps; adapt {ADAPTER}: "
            "step_key(), step_keys() (the records fall back on line numbers: records.ScenarioRecord.step_for)"
        )
        assert value["running"] == value["collected"]["steps"], (
            f"{name}: the scenario run has other steps than collection rendered; adapt {ADAPTER}: "
            "scenario_of_item() (_template(), _example())"
        )
        assert value["feature_file"] == str(pytester.path / "features" / "facts.feature"), (
            f"{name}: adapt {ADAPTER}: feature_file()"
        )


# ---------------------------------------------------------------------------------------------------
# the plugin says so, and the run's outcome stays the scenarios'

SMALL_FEATURE = """\
Feature: Small
  Scenario: One
    Given a feature background
    Then nothing

  Scenario: Two
    Then nothing
"""


SMALL_MODULE = 'from pytest_bdd import scenarios\n\nscenarios("features/small.feature")\n'
SMALL_CONFTEST = """\
from pytest_bdd import given, then


@given("a feature background")
@then("nothing")
def nothing():
    pass
"""


def small_project(pytester: pytest.Pytester) -> None:
    pytester.makefile(".ini", pytest=INI)
    pytester.mkdir("features")
    (pytester.path / "features" / "small.feature").write_text(SMALL_FEATURE, encoding="utf-8")
    pytester.makeconftest(SMALL_CONFTEST)
    pytester.makepyfile(test_small=SMALL_MODULE)


def run(pytester: pytest.Pytester) -> pytest.RunResult:
    return pytester.runpytest("-p", "harness.report.plugin", "-p", "no:cacheprovider")


def test_a_moved_internal_is_said_at_the_end_and_the_reports_still_written(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    moved = bdd_adapter.Internal("pytest_bdd.scenario.a_registry_that_moved", ("get",), "_template()")
    monkeypatch.setattr(bdd_adapter, "INTERNALS", (*bdd_adapter.INTERNALS, moved))
    small_project(pytester)
    result = run(pytester)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "! lab reports: pytest-bdd * changed an internal the lab reports read: "
            "pytest_bdd.scenario.a_registry_that_moved is gone; adapt harness/bdd/bdd_adapter.py: "
            "_template() (checked with pytest-bdd *) !"
        ]
    )
    results = json.loads((pytester.path / "reports" / "results.json").read_text(encoding="utf-8"))
    assert [s["status"] for s in results["features"][0]["scenarios"]] == ["passed", "passed"]


def test_a_reader_that_breaks_fails_no_scenario_and_is_said_once(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    def renamed(step: Any, background: bool = False) -> bdd_adapter.StepFacts:
        raise AttributeError("'Step' object has no attribute 'line_number'")

    monkeypatch.setattr(bdd_adapter, "step_facts", renamed)
    small_project(pytester)
    result = run(pytester)
    result.assert_outcomes(passed=2)  # the scenarios' outcome, not the reports'
    out = result.stdout.str()
    read = [row for row in out.splitlines() if "could not read a scenario at collection" in row]
    assert len(read) == 1, out
    assert "'Step' object has no attribute 'line_number'" in read[0]
    assert "test_small.py::test_one and 1 more)" in read[0]
    recorded = [row for row in out.splitlines() if "could not record a scenario" in row]
    assert len(recorded) == 1 and "and 1 more)" in recorded[0], out
