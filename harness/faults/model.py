"""What a fault is: a realistic mistake at one hop, how it is made, and which scenarios must catch it.

A fault is made of *edits* (applied to a throwaway copy of the lab's files before the lab is
deployed from that copy: :mod:`harness.faults.edits`) and/or *actions* (done to the running lab,
through its target, once it is up: the runtime vocabulary, :mod:`harness.faults.runtime`). ``catches``
names the scenarios (their Gherkin titles) that must go red when the fault is in place; the sensitivity run
(:mod:`harness.faults.sensitivity`) runs those, in that order, stopping at the first failure.
"""

from __future__ import annotations

import abc
import logging
import re
import threading
import time
from collections.abc import Callable
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
    # the split topology (ADR 0018): the app host's agent, and the link from it to the gateway
    "agent": ("agent",),
    "link": ("link", "agent → gateway", "gateway"),
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
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Held:
    """When a runtime fault was in effect (unix times) and what doing it returned. Its edges are known
    only to within the time a command takes — seconds over ssh in a busy VM: the fault is in place
    somewhere between ``setting_at`` (its command began) and ``applied_at`` (it had returned), and
    gone somewhere between ``clearing_at`` and ``cleared_at``. For an event (a restart, a burst) the
    two pairs meet: it was in effect while it ran."""

    what: str
    setting_at: float
    applied_at: float
    clearing_at: float
    cleared_at: float
    line: str = ""  # the action's own line of evidence
    result: object = None  # what it found (a burst's answers), when it says

    @property
    def in_effect(self) -> tuple[float, float]:
        """The widest time it may have been in place: what it may have cost is judged on this."""
        return self.setting_at, self.cleared_at


@dataclass(frozen=True)
class Made:
    """What making a runtime fault did: one line of evidence, what it found (a burst's answers), and
    when the command that made it began, when a lookup came first (None: when it was called)."""

    line: str
    result: object = None
    began: float | None = None


def hold(what: str, make: Callable[[], Made], undo: Callable[[], None] | None, seconds: float | None) -> Held:
    """``make`` the fault, keep it ``seconds`` once it has surely been made, then ``undo`` it — also when
    interrupted or when making it failed half-way (undo is idempotent). No ``undo``: an event."""
    called = time.time()
    try:
        made = make()
        applied = time.time()
        if seconds:
            time.sleep(seconds)
    finally:
        clearing = time.time()
        if undo is not None:
            undo()
        cleared = time.time()
    return Held(what, made.began or called, applied, clearing, cleared, made.line, made.result)


class Action(abc.ABC):
    """One runtime fault: something done to the running lab (after it is up) through its target. Every
    kind has the same shape (:mod:`harness.faults.runtime` holds them all):

    - :meth:`make` does it and says what was done (one line of evidence) and what it found;
    - :meth:`undo` takes it back — idempotent; nothing for an event, which cannot be taken back (a
      restart, a burst);
    - :attr:`seconds` bounds a fault that is held (None: an event, or held until undone);
    - :meth:`describe` says what it is, naming the hop: the service, or the link ``source → dest``.

    Used three ways: :meth:`apply` in the fault catalogue (made once the lab is up; a bounded fault is
    undone by a timer, while the scenarios run) and in the steps; :meth:`hold` during traffic (made,
    kept for its seconds, undone, in the caller's thread, with the times it was in effect).
    """

    seconds: float | None = None

    @abc.abstractmethod
    def make(self, lab: Lab) -> Made:
        """Do it: what was done, what it found, when its command began."""

    def undo(self, lab: Lab) -> None:  # noqa: B027 - an event has nothing to take back
        """Take it back (idempotent); an event has nothing to take back."""

    @abc.abstractmethod
    def describe(self) -> str: ...

    def prepare(self, lab: Lab) -> None:  # noqa: B027 - most kinds look nothing up
        """Look up now what :meth:`make` needs, so that a fault due later starts at once."""

    def apply(self, lab: Lab) -> str:
        """Make it now and return its line; a bounded fault (``seconds``) is undone by a timer once
        they have passed, while the caller goes on — a catalogue fault bites the scenarios it names."""
        line = self.make(lab).line
        if self.seconds:
            timer = threading.Timer(self.seconds, self._undo_quietly, args=(lab,))
            timer.daemon = True
            timer.start()
            line += f" (undone after {self.seconds:g} s)"
        return line

    def hold(self, lab: Lab) -> Held:
        """Make it, keep it for its ``seconds``, undo it — in the caller's thread, also when interrupted."""
        return hold(self.describe(), lambda: self.make(lab), lambda: self.undo(lab), self.seconds)

    def _undo_quietly(self, lab: Lab) -> None:
        try:
            self.undo(lab)
        except Exception as exc:  # a timer thread has no caller to raise to
            log.warning("undoing %s failed: %s", self.describe(), exc)


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
    topology: str = "single"  # the topology its lab is deployed in (split: the app and obs hosts)

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
