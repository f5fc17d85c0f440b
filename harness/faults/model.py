"""What a fault is: a realistic mistake at one hop, how it is made, and which scenarios must catch it.

A fault is made of *edits* (applied to a throwaway copy of the lab's files before the lab is
deployed from that copy: :mod:`harness.faults.edits`) and/or *actions* (done to the running lab,
through its target's engine, once it is up: :mod:`harness.faults.actions`). ``catches`` names the
scenarios (their Gherkin titles) that must go red when the fault is in place; the sensitivity run
(:mod:`harness.faults.sensitivity`) runs those, in that order, stopping at the first failure.
"""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.base import observes
from harness.faults.edits import Edit

if TYPE_CHECKING:
    from harness.lab.lifecycle import Lab

# The hops of the lab, in data-path order, and the words that name each in a failure message: a
# store by what it holds and by every kind of store that may hold it (harness.base.observes).
HOPS: dict[str, tuple[str, ...]] = {
    "front": ("front", "nginx", "frontend"),
    "app": ("app", "backend", observes.APP_SERVICE),
    "collector": ("collector",),
    **{observes.SIGNALS[s].holder: (observes.SIGNALS[s].holder, *observes.kinds_holding(s))
       for s in observes.COLLECTED},
    "prometheus": ("prometheus",),
    "deployment": ("service", "container", "healthy", "compose"),
}
# What breaks, and the words that name it in a failure message: the signals' own words, then what
# else a fault may break.
SIGNALS: dict[str, tuple[str, ...]] = {
    **{s.name: s.words for s in observes.SIGNALS.values()},
    "requests": ("answered", "status", "request", "502", "504"),
    "data": ("task", "database"),
    "deploy": ("could not be started", "not healthy", "compose"),
    "posture": ("root", "port", "user"),
}
KINDS = ("config", "runtime", "config+runtime")


class Action(abc.ABC):
    """Something done to the running lab (after it is up) through its target's engine."""

    @abc.abstractmethod
    def apply(self, lab: Lab) -> str:
        """Do it; return one line saying what was done (evidence of the run)."""

    @abc.abstractmethod
    def describe(self) -> str: ...


@dataclass(frozen=True)
class Fault:
    name: str  # kebab-case, unique: `lab sensitivity --fault NAME`
    hop: str  # a key of HOPS: where the mistake is
    signal: str  # a key of SIGNALS: what it breaks
    summary: str  # one line: what a person changed
    why: str  # what it breaks and why a person does it
    catches: tuple[str, ...]  # titles of the scenarios that must go red, the quickest first
    edits: tuple[Edit, ...] = ()
    actions: tuple[Action, ...] = ()
    ci: bool = False  # in the subset CI runs on every change

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", self.name):
            raise ValueError(f"fault name {self.name!r} is not kebab-case")
        if self.hop not in HOPS:
            raise ValueError(f"fault {self.name}: hop {self.hop!r} is not one of {', '.join(HOPS)}")
        if self.signal not in SIGNALS:
            raise ValueError(f"fault {self.name}: signal {self.signal!r} is not one of {', '.join(SIGNALS)}")
        if not self.catches:
            raise ValueError(f"fault {self.name} names no scenario that must catch it")
        if not self.edits and not self.actions:
            raise ValueError(f"fault {self.name} has neither edits nor actions")

    @property
    def kind(self) -> str:
        return "config+runtime" if self.edits and self.actions else "config" if self.edits else "runtime"

    def how(self) -> list[str]:
        """What is done, one line per edit and action."""
        return [e.describe() for e in self.edits] + [f"then: {a.describe()}" for a in self.actions]

    def message_names(self, message: str) -> tuple[bool, bool]:
        """(names the signal, names the hop): whether a failure message says what is missing and
        which hop it concerns, by the words of :data:`SIGNALS` and :data:`HOPS`."""
        text = message.lower()
        return (
            any(word in text for word in SIGNALS[self.signal]),
            any(word in text for word in HOPS[self.hop]),
        )
