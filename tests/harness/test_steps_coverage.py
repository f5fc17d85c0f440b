"""Every step the features use has exactly one definition, every definition is used, and a step
that needs a value an earlier step provides (``target_fixture``) comes after that step.

The check reads the features with pytest-bdd's own parser and the definitions pytest-bdd registered
when conftest.py loaded ``steps.*``; the first tests prove it catches each kind of mistake.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

import steps
from harness.bdd.scenario import item_list, scenario_steps, sentence, step_coverage, step_definitions

REPO = Path(__file__).resolve().parents[2]

BROKEN_FEATURE = """\
Feature: Broken on purpose

  Background:
    Given a lab

  Scenario: Uses a value before it exists
    Then the value is 3
    When I make the value

  Scenario: Says something nobody defined
    When I whistle
    Then twice said twice
"""

BROKEN_STEPS = """\
from pytest_bdd import given, then, when

from harness.bdd.scenario import sentence


@given("a lab")
def a_lab():
    pass


@when("I make the value", target_fixture="value")
def make():
    return 3


@then(sentence("the value is {n:d}"))
def value_is(value, n):
    assert value == n


@then(sentence("twice said {word}"))
def one(word):
    pass


@then(sentence("{word} said twice"))
def other(word):
    pass


@then("nobody says this")
def unused():
    pass
"""


def _line(text: str, decorator: str) -> int:
    return text.splitlines().index(decorator) + 1


def _import(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_the_check_names_each_mistake_with_its_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "broken.feature").write_text(BROKEN_FEATURE)
    (tmp_path / "broken_steps.py").write_text(BROKEN_STEPS)
    module = _import(tmp_path / "broken_steps.py", "broken_steps_for_coverage")
    try:
        problems = step_coverage(
            scenario_steps(tmp_path / "features"), step_definitions([module], root=tmp_path)
        )
    finally:
        del sys.modules[module.__name__]
    make = _line(BROKEN_STEPS, '@when("I make the value", target_fixture="value")')
    one = _line(BROKEN_STEPS, '@then(sentence("twice said {word}"))')
    other = _line(BROKEN_STEPS, '@then(sentence("{word} said twice"))')
    unused = _line(BROKEN_STEPS, '@then("nobody says this")')
    assert problems == [
        "features/broken.feature:7: Then 'the value is 3' needs value, which no earlier step of "
        "'Uses a value before it exists' provides "
        f"(provided by @when('I make the value') at broken_steps.py:{make})",
        "features/broken.feature:11: When 'I whistle' has no step definition",
        "features/broken.feature:12: Then 'twice said twice' matches @then('twice said {word}') at "
        f"broken_steps.py:{one} and @then('{{word}} said twice') at broken_steps.py:{other}",
        f"broken_steps.py:{unused}: @then('nobody says this') is used by no step of the features",
    ]


def test_every_step_of_the_features_has_one_definition_and_every_definition_is_used(
    pytestconfig: pytest.Config,
) -> None:
    modules = [importlib.import_module(f"steps.{m.name}") for m in pkgutil.iter_modules(steps.__path__)]
    unregistered = [m.__name__ for m in modules if not pytestconfig.pluginmanager.has_plugin(m.__name__)]
    assert not unregistered, f"step modules missing from conftest.py's pytest_plugins: {unregistered}"
    definitions = step_definitions(modules, root=REPO)
    scenarios = scenario_steps(REPO / "features", root=REPO)
    assert scenarios, "no scenario found under features/"
    empty = {m.__name__ for m in modules if m.__name__ != "steps.__init__"} - {
        d.func.__module__ for d in definitions
    }
    assert not empty, f"step modules that define no step (pytest-bdd's registry changed?): {empty}"
    problems = step_coverage(scenarios, definitions)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("text", "items"),
    [
        ('"prometheus"', ["prometheus"]),
        ('"a" and "b"', ["a", "b"]),
        ('"prometheus", "tempo" and "loki"', ["prometheus", "tempo", "loki"]),
        ('"SELECT", "INSERT", "UPDATE" and "DELETE"', ["SELECT", "INSERT", "UPDATE", "DELETE"]),
        ('"Incoming request" and "Request completed"', ["Incoming request", "Request completed"]),
    ],
)
def test_a_sentence_lists_any_number_of_items(text: str, items: list[str]) -> None:
    parser = sentence("the datasources {names:List} are healthy")
    assert parser.parse_arguments(f"the datasources {text} are healthy") == {"names": items}
    assert item_list(text) == items


@pytest.mark.parametrize("text", ['"a", "b"', '"a", "b", and "c"', "a, b and c", '""', '"a" "b"'])
def test_a_list_is_written_one_way(text: str) -> None:
    assert not sentence("the datasources {names:List} are healthy").is_matching(
        f"the datasources {text} are healthy"
    )


def test_a_duration_reads_singular_and_plural() -> None:
    parser = sentence("slower than {seconds:Duration}")
    assert parser.parse_arguments("slower than 1 second") == {"seconds": 1.0}
    assert parser.parse_arguments("slower than 2 seconds") == {"seconds": 2.0}
    assert parser.parse_arguments("slower than 2.5 seconds") == {"seconds": 2.5}
    assert not parser.is_matching("slower than 2 minutes")
