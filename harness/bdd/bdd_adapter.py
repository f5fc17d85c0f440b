"""The one module that reads pytest-bdd's internals; the rest of the report sees plain facts.

pytest-bdd's public API is its decorators (``given``/``when``/``then``/``step``, ``scenario``,
``scenarios``), ``pytest_bdd.parsers`` and its hooks (``pytest_bdd_before_scenario`` …
``pytest_bdd_step_func_lookup_error``, listed in its README). The reports need more than that:

- which scenario, and which outline row, a collected item will run, before it runs, so that a
  scenario skipped by a marker or never reached (``-x``) is still in the reports: only the registry
  behind ``scenario()`` and the parameter outlines are parametrized with say so (pytest-bdd's
  changelog calls that registry "internal use"; it replaced a ``__scenario__`` attribute);
- what a feature, rule, scenario and step say (names, lines, tags, tables, backgrounds): attributes
  of the ``pytest_bdd.parser`` objects the hooks pass, which pytest-bdd types but does not document;
- the lines of tags and example rows, which that model drops: pytest-bdd's Gherkin parser.

Everything read here is listed in :data:`INTERNALS` and checked by :func:`problems`: the plugin checks
when pytest starts and says what changed at the end of the run, and
tests/harness/test_report_bdd_adapter.py fails on it (and on a real run's facts), so an upgrade of
pytest-bdd past :data:`VERIFIED_WITH` that moves them fails loudly, naming the function here to adapt.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from typing import Any

import pytest

VERIFIED_WITH = "9.0.1"  # the pytest-bdd this module was checked against (requirements/harness.txt)
EXAMPLE_PARAM = "_pytest_bdd_example"  # the parameter pytest-bdd parametrizes outlines with
HERE = "harness/bdd/bdd_adapter.py"


class InternalsChanged(RuntimeError):
    """pytest-bdd no longer has something this module reads (the message says what and where)."""


# --------------------------------------------------------------------------------------------------
# the facts the rest of the report works with


@dataclass(frozen=True)
class Tag:
    name: str  # without the "@"
    line: int | None


@dataclass(frozen=True)
class StepFacts:
    keyword: str  # "Given", "And", … (as written, stripped)
    text: str  # rendered with the outline row's values
    line: int
    background: bool
    docstring: str | None
    datatable: list[list[str]] | None


@dataclass(frozen=True)
class FeatureFacts:
    keyword: str
    name: str
    description: str
    filename: str  # absolute
    rel_filename: str
    line: int
    language: str
    tags: list[Tag]


@dataclass(frozen=True)
class RuleFacts:
    keyword: str
    name: str
    tags: list[Tag]


@dataclass(frozen=True)
class ExamplesFacts:
    """Which Examples table and row an outline run came from."""

    name: str
    line: int | None
    tags: list[Tag]
    index: int  # the row within its table
    row_line: int | None
    row: dict[str, str]


@dataclass(frozen=True)
class ScenarioFacts:
    feature: FeatureFacts
    keyword: str
    name: str
    line: int
    description: str
    tags: list[Tag]
    rule: RuleFacts | None
    examples: ExamplesFacts | None
    steps: list[StepFacts]


# --------------------------------------------------------------------------------------------------
# reading pytest-bdd's objects


def scenario_of_item(item: pytest.Item, running: Any = None) -> ScenarioFacts | None:
    """What a collected item runs, before it runs; None when the item is not a pytest-bdd scenario.

    ``running`` is the scenario object a pytest-bdd hook passed, for an item first seen at run time;
    with it, a registry that moved costs only the outline row's details, not the scenario.
    """
    try:
        template = _template(item)
    except InternalsChanged:
        if running is None:
            raise
        template = None
    if template is None and running is None:
        return None
    example, index = _example(item)
    scenario = running if running is not None else template.render(example)
    lines = _gherkin_lines(scenario.feature.filename)
    scenario_lines = lines["scenarios"].get(scenario.line_number, {})
    examples = None
    if example and template is not None:
        examples = _examples(template, index, example, scenario_lines)
    rule = None
    if scenario.rule is not None:
        rule = RuleFacts(
            keyword=scenario.rule.keyword,
            name=scenario.rule.name,
            tags=_tags(scenario.rule.tags, lines["rules"].get(scenario.rule.name, {})),
        )
    feature = scenario.feature
    return ScenarioFacts(
        feature=FeatureFacts(
            keyword=feature.keyword,
            name=feature.name,
            description=feature.description or "",
            filename=feature.filename,
            rel_filename=feature.rel_filename,
            line=feature.line_number,
            language=feature.language,
            tags=_tags(feature.tags, lines["feature_tags"]),
        ),
        keyword=scenario.keyword,
        name=scenario.name,
        line=scenario.line_number,
        description=scenario.description or "",
        tags=_tags(scenario.tags, scenario_lines.get("tags", {})),
        rule=rule,
        examples=examples,
        steps=steps_of(scenario),
    )


def steps_of(scenario: Any) -> list[StepFacts]:
    """A scenario's steps as pytest-bdd runs them: the feature's and the rule's Background first."""
    background = _background_count(scenario)
    return [step_facts(step, index < background) for index, step in enumerate(scenario.steps)]


def step_keys(scenario: Any) -> list[int]:
    """One key per step of ``scenario``, in order; a step hook's ``step`` has the same :func:`step_key`."""
    return [step_key(step) for step in scenario.steps]


def step_key(step: Any) -> int:
    """The step objects the hooks pass are the ones in ``scenario.steps`` (pytest-bdd renders once)."""
    return id(step)


def step_facts(step: Any, background: bool = False) -> StepFacts:
    table = None
    if step.datatable is not None:
        table = [[str(cell) for cell in row] for row in step.datatable.raw()]
    return StepFacts(
        keyword=step.keyword.strip(),
        text=step.name,
        line=step.line_number,
        background=background,
        docstring=step.docstring,
        datatable=table,
    )


def feature_file(scenario: Any) -> str:
    """The absolute path of the feature file a scenario object comes from."""
    return str(scenario.feature.filename)


def _template(item: pytest.Item) -> Any:
    """The ``ScenarioTemplate`` pytest-bdd registered for the item's test function, or None."""
    registry = _import("pytest_bdd.scenario", "scenario_wrapper_template_registry")
    function = getattr(item, "function", None)
    if function is None:
        return None
    try:
        return registry.get(function)
    except TypeError:  # not weak-referenceable: not a function pytest-bdd made
        return None


def _example(item: pytest.Item) -> tuple[dict[str, str], int]:
    """The outline row pytest parametrized the item with, and its index across all Examples tables."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return {}, 0
    return dict(callspec.params.get(EXAMPLE_PARAM) or {}), callspec.indices.get(EXAMPLE_PARAM, 0)


def _background_count(scenario: Any) -> int:
    count = 0
    if scenario.feature.background is not None:
        count += len(scenario.feature.background.steps)
    if scenario.rule is not None and scenario.rule.background is not None:
        count += len(scenario.rule.background.steps)
    return count


def _examples(
    template: Any, index: int, example: dict[str, str], scenario_lines: dict[str, Any]
) -> ExamplesFacts:
    """pytest-bdd numbers the rows across all Examples tables; find the table and the row in it."""
    position = 0
    for table_index, table in enumerate(template.examples):
        rows = list(table.as_contexts())
        if position + len(rows) > index:
            row_index = index - position
            table_lines = scenario_lines.get("examples") or []
            row_lines = table_lines[table_index]["rows"] if table_index < len(table_lines) else []
            tag_lines = table_lines[table_index]["tags"] if table_index < len(table_lines) else {}
            return ExamplesFacts(
                name=table.name or "",
                line=table.line_number,
                tags=_tags(table.tags, tag_lines),
                index=row_index,
                row_line=row_lines[row_index] if row_index < len(row_lines) else None,
                row=example,
            )
        position += len(rows)
    return ExamplesFacts(name="", line=None, tags=[], index=index, row_line=None, row=example)


@lru_cache(maxsize=256)
def _gherkin_lines(filename: str) -> dict[str, Any]:
    """Line numbers pytest-bdd's model drops (tags, example rows), from its parse of the file."""
    get_gherkin_document = _import("pytest_bdd.gherkin_parser", "get_gherkin_document")
    doc = get_gherkin_document(filename)
    lines: dict[str, Any] = {"feature_tags": {}, "rules": {}, "scenarios": {}}

    def tag_lines(tags: list[Any]) -> dict[str, int]:
        return {t.name.lstrip("@"): t.location.line for t in tags}

    def add_scenario(sc: Any) -> None:
        lines["scenarios"][sc.location.line] = {
            "tags": tag_lines(sc.tags),
            "examples": [
                {"tags": tag_lines(ex.tags), "rows": [row.location.line for row in (ex.table_body or [])]}
                for ex in sc.examples
            ],
        }

    lines["feature_tags"] = tag_lines(doc.feature.tags)
    for child in doc.feature.children:
        if child.scenario is not None:
            add_scenario(child.scenario)
        elif child.rule is not None:
            lines["rules"][child.rule.name] = tag_lines(child.rule.tags)
            for grandchild in child.rule.children:
                if grandchild.scenario is not None:
                    add_scenario(grandchild.scenario)
    return lines


def _tags(names: set[str] | list[str], lines: dict[str, int]) -> list[Tag]:
    return [Tag(name=name, line=lines.get(name)) for name in sorted(names)]


def _import(module: str, name: str) -> Any:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise InternalsChanged(changed(f"{module}.{name}", "is gone", _user_of(f"{module}.{name}"))) from None


# --------------------------------------------------------------------------------------------------
# what this module relies on, checked at start and by the guard test


@dataclass(frozen=True)
class Internal:
    """One thing of pytest-bdd's this module reads, and the function here that reads it."""

    what: str  # "module.Name" (a module attribute or a class)
    needs: tuple[str, ...]  # attributes (fields, methods, properties) read from it; () for a value
    used_by: str  # the function(s) in this module to adapt when it changes

    def problem(self) -> str | None:
        """None when pytest-bdd still has it, else what is different now."""
        module, _, name = self.what.rpartition(".")
        try:
            found = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            return changed(self.what, "is gone", self.used_by)
        if not self.needs:
            return None
        fields = sorted(f.name for f in dataclasses.fields(found)) if dataclasses.is_dataclass(found) else []
        missing = [attr for attr in self.needs if attr not in {*dir(found), *fields}]
        if missing:
            now = f" (its fields now: {', '.join(fields)})" if fields else ""
            return changed(self.what, f"has no {', '.join(missing)}{now}", self.used_by)
        return None


INTERNALS: tuple[Internal, ...] = (
    Internal("pytest_bdd.scenario.scenario_wrapper_template_registry", ("get",), "_template()"),
    Internal("pytest_bdd.plugin._pytest_bdd_example", (), "_example() (EXAMPLE_PARAM)"),
    Internal(
        "pytest_bdd.parser.ScenarioTemplate",
        ("render", "examples", "line_number"),
        "scenario_of_item(), _examples()",
    ),
    Internal(
        "pytest_bdd.parser.Scenario",
        ("feature", "keyword", "name", "line_number", "description", "tags", "rule", "steps"),
        "scenario_of_item(), steps_of(), step_keys()",
    ),
    Internal(
        "pytest_bdd.parser.Feature",
        (
            "keyword",
            "name",
            "description",
            "filename",
            "rel_filename",
            "line_number",
            "language",
            "tags",
            "background",
        ),
        "scenario_of_item(), _background_count(), feature_file()",
    ),
    Internal(
        "pytest_bdd.parser.Rule",
        ("keyword", "name", "tags", "background"),
        "scenario_of_item(), _background_count()",
    ),
    Internal("pytest_bdd.parser.Background", ("steps",), "_background_count()"),
    Internal("pytest_bdd.parser.Examples", ("name", "line_number", "tags", "as_contexts"), "_examples()"),
    Internal(
        "pytest_bdd.parser.Step", ("keyword", "name", "line_number", "docstring", "datatable"), "step_facts()"
    ),
    Internal("pytest_bdd.gherkin_parser.DataTable", ("raw",), "step_facts()"),
    Internal("pytest_bdd.gherkin_parser.get_gherkin_document", (), "_gherkin_lines()"),
    Internal("pytest_bdd.gherkin_parser.GherkinDocument", ("feature",), "_gherkin_lines()"),
    Internal("pytest_bdd.gherkin_parser.Feature", ("tags", "children"), "_gherkin_lines()"),
    Internal("pytest_bdd.gherkin_parser.Child", ("scenario", "rule"), "_gherkin_lines()"),
    Internal("pytest_bdd.gherkin_parser.Rule", ("name", "tags", "children"), "_gherkin_lines()"),
    Internal("pytest_bdd.gherkin_parser.Scenario", ("location", "tags", "examples"), "_gherkin_lines()"),
    Internal("pytest_bdd.gherkin_parser.ExamplesTable", ("tags", "table_body"), "_gherkin_lines()"),
    Internal("pytest_bdd.gherkin_parser.Row", ("location",), "_gherkin_lines()"),
    Internal("pytest_bdd.gherkin_parser.Tag", ("name", "location"), "_gherkin_lines()"),
    Internal("pytest_bdd.gherkin_parser.Location", ("line",), "_gherkin_lines()"),
)


def problems() -> list[str]:
    """What of :data:`INTERNALS` the installed pytest-bdd no longer has (empty when all is there)."""
    return [p for p in (internal.problem() for internal in INTERNALS) if p is not None]


def installed_version() -> str:
    try:
        return metadata.version("pytest-bdd")
    except metadata.PackageNotFoundError:
        return "not installed"


def changed(what: str, how: str, used_by: str) -> str:
    """One line: what changed, in which pytest-bdd, and where to adapt."""
    return (
        f"pytest-bdd {installed_version()} changed an internal the lab reports read: {what} {how}; "
        f"adapt {HERE}: {used_by} (checked with pytest-bdd {VERIFIED_WITH})"
    )


def _user_of(what: str) -> str:
    return next((i.used_by for i in INTERNALS if i.what == what), "?")

