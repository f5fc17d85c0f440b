"""What the acceptance run needs besides the lab: the tag vocabulary, which scenarios a target or
store set cannot serve (and why), run order, the sentence parameters steps parse, and the check
that every step the features use has one definition (and every definition is used).

A scenario's needs of its target are capabilities (:data:`harness.lab.targets.base.CAPABILITIES`):
those of its tags (:data:`TAG_NEEDS`) and of its steps (:data:`STEP_NEEDS`, by the step's
sentence). They are checked before the scenario runs — against the target class's declared
capabilities when the run is collected (:func:`static_skip_reason`), against the target itself once
the lab is up (:func:`runtime_skip_reason`) — so a target's limit is a skip that says which tag or
step needs what and why the target cannot, never a traceback from the middle of a step.

Steps hand values to later steps through pytest-bdd's ``target_fixture`` (no shared context
object): a step that needs a value names it as an argument, and :func:`step_coverage` checks that
an earlier step of the same scenario provides it.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from pytest_bdd import parsers

from harness.base import observes
from harness.base import options as table
from harness.base.config import AUTO, LabConfig
from harness.base.errors import ConfigError
from harness.bdd.identity import scenario_id
from harness.bdd.shards import MAX_REPEAT, MAX_SHARDS, Shard, load_durations, parse_count, parse_shard, split
from harness.lab.targets import registered_with, target_class
from harness.lab.targets.base import CAPABILITIES, CONTAINERS, CONTROL, DEPLOY, HOST_SHELL, VM

FEATURE_TAGS: dict[str, str] = {
    "deployment": "the lab deploys and every service is healthy",
    **{s.name: s.tag for s in observes.SIGNALS.values()},
    "correlation": "one trace id links metrics, traces and logs",
    "failure": "behaviour when parts of the lab fail",
    "security": "security posture of the lab",
    "vm": "needs a VM (vagrant target)",
    "grafana": f"needs Grafana ({' or '.join(observes.sets_with('grafana'))} store set)",
    "destructive": "changes the lab; runs after the others and restores what it changed",
    "load": "sustained, bounded traffic with per-signal accounting (the longest scenarios)",
    "ui": "drives the page in a real browser (Debian's Chromium through Playwright)",
    "quiet": "needs a lab that has served no request for a minute (SLI windows): runs first on its lab",
    "network": "a fault in the lab's own network (nft partition, tc netem delay), at a rate a TCG VM carries",
    "topology": "needs the split topology (--topology split): an app host, an observability host, one link",
}


# What a tag needs of the target.
TAG_NEEDS: dict[str, tuple[str, ...]] = {
    "destructive": (CONTROL,),
    "vm": (VM,),
    "network": (HOST_SHELL,),
    "topology": (HOST_SHELL,),
}
# What a step needs of the target beyond its scenario's tags, by the sentence its definition is
# registered under (tests/harness/test_run_policy.py checks that each is one).
STEP_NEEDS: dict[str, tuple[str, ...]] = {
    "the lab is deployed again": (DEPLOY,),
    'the "{service}" service is recreated': (DEPLOY,),
    'the "{service}" service is replaced by a new container at a new address': (DEPLOY,),
    'the main process of the "{service}" container runs as a non-root user': (CONTAINERS,),
    "the lab publishes only its documented ports": (CONTROL,),
}


def needs(tags: Iterable[str], steps: Iterable[str] = ()) -> dict[str, str]:
    """Capability -> what needs it (the first tag or step that does: ``@destructive``, ``the step 'the
    lab is deployed again'``), for a scenario with these tags and step texts."""
    out: dict[str, str] = {}
    for tag in sorted(tags):
        for capability in TAG_NEEDS.get(tag, ()):
            out.setdefault(capability, f"@{tag}")
    for text in steps:
        for template, capabilities in STEP_NEEDS.items():
            if _sentence(template).is_matching(text):
                for capability in capabilities:
                    out.setdefault(capability, f"the step '{text}'")
    return out


def _skip(what: str, capability: str, why: str | None, able: Sequence[str] = ()) -> str:
    hint = f" (use --target {' or '.join(able)})" if able else ""
    return f"{what} needs a target that can {CAPABILITIES.get(capability, capability)}: {why}{hint}"


def static_skip_reason(config: LabConfig, tags: set[str], steps: Iterable[str] = ()) -> str | None:
    """Why a scenario with these tags and steps cannot run with this config (known before the lab is
    up): a service its store set lacks, or a capability the chosen target's class cannot have with
    this config (``auto`` is decided when the run starts: :func:`runtime_skip_reason`)."""
    if "topology" in tags and not config.split:
        return (f"@topology needs the split topology (an app host with a collector agent, an observability "
                f"host, one link between them); this lab is {config.topology} (use --topology split)")
    if "grafana" in tags and not config.has_grafana:
        return (
            f"@grafana needs Grafana, which the {config.stores} store set does not have "
            f"(use --stores {' or '.join(observes.sets_with('grafana'))})"
        )
    if config.target == AUTO:
        return None
    cls = target_class(config.target)
    for capability, what in needs(tags, steps).items():
        why = cls.lacks(config, capability)
        if why:  # the targets that can, when no config of this one could
            able = registered_with(capability) if capability not in cls.CAPABLE_OF else []
            return _skip(what, capability, why, able)
    return None


def runtime_skip_reason(capabilities: frozenset[str], target: str, tags: set[str], steps: Iterable[str] = (),
                        why_not: Callable[[str], str | None] | None = None) -> str | None:
    """Why a scenario cannot run on the chosen target (known once the target is up): a capability
    its tags or steps need that ``capabilities`` lack, said by the target's ``why_not`` when given."""
    for capability, what in needs(tags, steps).items():
        if capability not in capabilities:
            why = why_not(capability) if why_not else None
            return _skip(what, capability, why or f"target {target} cannot")
    return None


T = TypeVar("T")


def run_order(items: Sequence[T]) -> list[T]:
    """Stable order on one lab: @quiet scenarios first (a fresh lab has served no requests, so
    their quiet window holds at once instead of after a minute of waiting), then the others,
    @destructive ones last."""

    def rank(item: Any) -> int:
        tags = {m.name for m in item.iter_markers()}
        return 0 if "quiet" in tags else 2 if "destructive" in tags else 1

    return sorted(items, key=rank)


# ------------------------------------------------------------------------------ sentence parameters
# Types a step sentence may use besides parse's own ({n:d}, {x:g}, {name}): one way to write a list
# and one way to write a duration, everywhere a sentence has one.


@dataclass(frozen=True)
class SentenceType:
    """A parameter type for parse's ``extra_types``: the text it matches and what it becomes."""

    pattern: str
    convert: Callable[[str], Any]

    def __call__(self, text: str) -> Any:
        return self.convert(text)


def item_list(text: str) -> list[str]:
    """``"a"``, ``"a" and "b"``, ``"a", "b" and "c"`` … -> the items, in order (any number)."""
    return re.findall(r'"([^"]+)"', text)


def duration(text: str) -> float:
    """``1 second``, ``30 seconds``, ``2.5 seconds`` -> seconds (singular and plural both read)."""
    return float(text.split()[0])


SENTENCE_TYPES = {
    "List": SentenceType(r'"[^"]+"(?:(?:, "[^"]+")* and "[^"]+")?', item_list),
    "Duration": SentenceType(r"\d+(?:\.\d+)? seconds?", duration),
}


def sentence(template: str) -> parsers.parse:
    """A step sentence with parameters: parse's syntax plus ``{x:List}`` and ``{x:Duration}``."""
    return parsers.parse(template, extra_types=SENTENCE_TYPES)


@functools.cache
def _sentence(template: str) -> parsers.parse:
    return sentence(template)


# ------------------------------------------------------------------------------------ step coverage


@dataclass(frozen=True)
class StepUse:
    """One step as a scenario runs it (Background steps included, outlines rendered per example)."""

    type: str
    text: str
    where: str  # path:line of the feature file
    scenario: str


@dataclass(frozen=True)
class StepDefinition:
    """One sentence a step function is registered under (a function may carry several)."""

    type: str | None
    pattern: str
    where: str  # path:line of the step function
    provides: str | None  # its target_fixture
    parser: Any = field(compare=False, repr=False)
    func: Callable[..., Any] = field(compare=False, repr=False)

    def matches(self, use: StepUse) -> bool:
        return (self.type is None or self.type == use.type) and bool(self.parser.is_matching(use.text))

    def needs(self, use: StepUse) -> set[str]:
        """The fixtures the function asks for beyond what the sentence itself gives it."""
        params = inspect.signature(self.func).parameters
        return set(params) - set(self.parser.parse_arguments(use.text) or {})

    def describe(self) -> str:
        return f"@{self.type or 'step'}({self.pattern!r})"


def _where(path: str | Path, line: int, root: Path) -> str:
    return f"{os.path.relpath(path, root)}:{line}"


def scenario_steps(features_dir: Path, root: Path | None = None) -> list[list[StepUse]]:
    """Every scenario of the features under ``features_dir`` as the list of steps it runs."""
    from pytest_bdd.feature import get_features  # pytest-bdd's own parser, as scenarios() uses it

    root = root or features_dir.parent
    runs: list[list[StepUse]] = []
    for feature in get_features([str(features_dir)]):
        for template in feature.scenarios.values():
            contexts = [c for ex in template.examples for c in ex.as_contexts()] or [{}]
            for context in contexts:
                scenario = template.render(context)
                runs.append(
                    [
                        StepUse(s.type, s.name, _where(feature.filename, s.line_number, root), scenario.name)
                        for s in scenario.steps
                    ]
                )
    return runs


def step_definitions(modules: Iterable[ModuleType], root: Path) -> list[StepDefinition]:
    """The step sentences registered by ``modules`` (pytest-bdd keeps one record per decorator)."""
    from pytest_bdd.steps import step_function_context_registry

    names = {m.__name__ for m in modules}
    found = []
    for context in list(step_function_context_registry.values()):
        func = context.step_func
        if func.__module__ not in names:
            continue
        found.append(
            StepDefinition(
                type=context.type,
                pattern=context.parser.name,
                where=_where(inspect.getsourcefile(func) or "?", func.__code__.co_firstlineno, root),
                provides=context.target_fixture,
                parser=context.parser,
                func=func,
            )
        )
    return sorted(found, key=lambda d: d.where)


def _at(definition: StepDefinition) -> str:
    return f"{definition.describe()} at {definition.where}"


def step_coverage(scenarios: Sequence[Sequence[StepUse]], definitions: Sequence[StepDefinition]) -> list[str]:
    """What is wrong between the features and the step definitions, one line each; [] when nothing.

    - a step no definition matches, or more than one matches;
    - a step that needs a value some step provides (``target_fixture``) before any earlier step of
      its scenario has provided it;
    - a definition no step uses.
    """
    problems: list[str] = []  # a Background step runs in every scenario: said once (dict.fromkeys)
    used: set[StepDefinition] = set()
    providable = {d.provides for d in definitions if d.provides}
    for steps in scenarios:
        provided: set[str] = set()
        for use in steps:
            step = f"{use.where}: {use.type.capitalize()} {use.text!r}"
            matching = [d for d in definitions if d.matches(use)]
            used.update(matching)
            if not matching:
                problems.append(f"{step} has no step definition")
                continue
            if len(matching) > 1:
                problems.append(f"{step} matches " + " and ".join(_at(d) for d in matching))
                continue
            definition = matching[0]
            missing = sorted((definition.needs(use) & providable) - provided)
            if missing:
                providers = "; ".join(_at(d) for d in definitions if d.provides in missing)
                problems.append(
                    f"{step} needs {', '.join(missing)}, which no earlier step of {use.scenario!r} "
                    f"provides (provided by {providers})"
                )
            if definition.provides:
                provided.add(definition.provides)
    problems += [
        f"{d.where}: {d.describe()} is used by no step of the features" for d in definitions if d not in used
    ]
    return list(dict.fromkeys(problems))


# ------------------------------------------------------------------------------------- run options
@dataclass(frozen=True)
class RunOptions:
    """How a run spreads over labs and repeats: ``--shards N`` (N labs at once), ``--shard k/N``
    (one shard of N, e.g. one per machine), ``--repeat N`` (each scenario N times)."""

    shards: int = 1
    only: Shard | None = None
    repeat: int = 1

    @classmethod
    def from_sources(cls, options: dict[str, object | None], env: dict[str, str] | None = None) -> RunOptions:
        """The ``run`` rows of :data:`harness.base.options.OPTIONS` (flag > variable > default),
        each parsed by :mod:`harness.bdd.shards`."""
        env = dict(os.environ) if env is None else env
        text = {row.name: row.text(options, env) for row in table.rows(scope=table.RUN)}
        shards = parse_count(text["shards"], "--shards", upper=MAX_SHARDS) if text["shards"] else 1
        only = parse_shard(text["shard"]) if text["shard"] else None
        if only is not None and shards > 1:
            raise ConfigError(f"--shards {shards} and --shard {only} together: use --shards N to run every "
                              "shard here, or --shard k/N to run one of them")
        repeat = parse_count(text["repeat"], "--repeat", upper=MAX_REPEAT) if text["repeat"] else 1
        return cls(shards=shards, only=only, repeat=repeat)


def scenario_key(item: Any) -> str:
    """The scenario an item runs, as results.json names it (repeats of one scenario share it)."""
    from harness.bdd.bdd_adapter import scenario_of_item

    facts = scenario_of_item(item)
    if facts is None:
        return str(item.nodeid)
    examples = facts.examples
    return scenario_id(facts.feature.name or facts.feature.rel_filename, facts.name,
                       examples.name if examples else None, examples.index if examples else None)


def plan_shards(items: Sequence[Any], count: int, target: str) -> dict[Any, int]:
    """item -> its shard (1..count), by the durations recorded for ``target`` — those of the first
    registered target that deploys for a target with none of its own (auto, existing)."""
    recorded = load_durations()
    known = recorded.get(target) or recorded.get(registered_with(DEPLOY)[0], {})
    skipped = {scenario_key(i) for i in items if any(m.name == "skip" for m in i.iter_markers())}
    keys = [scenario_key(i) for i in items]
    plan = split(keys, known, count, skipped)
    return {item: plan[key] for item, key in zip(items, keys, strict=True)}
