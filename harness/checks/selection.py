"""What a check is about, picked by identity — and refused when it would not be.

Issue 22's class of false greens: a Then step whose matcher is looser than its sentence, so that a
different record, span or series decides the verdict ("an ERROR record of the trace" was satisfied
by the request's own "Request completed" record while the error's record had gone to WARN). So
each kind of item a check judges is declared once, as an :class:`Identity`: the fields that pick
*the* item a sentence names (a log record by service, trace id and message; a server span by
service, kind, method and route; a series by metric and endpoint). A check selects through it:

- an :class:`Identity` with no field fails where it is defined (at import): it would pick anything;
- :meth:`Identity.pick` with a field left out, or left empty, raises :class:`VacuousCheck`: the check
  would be satisfied by an item it did not select by identity;
- :meth:`Identity.one` of zero picked items is not a pass: it raises ``NotYet`` (the wait goes on,
  and its last observation says what was there instead).

``VacuousCheck`` is a bug in the check, not a state of the lab: it is not an ``AssertionError``,
so a wait never retries it. ``tests/harness/test_checks_vacuity.py`` walks every identity of the
check vocabulary and shows, field by field, that a near miss is not picked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from harness.base.waiting import NotYet

T = TypeVar("T")
EMPTY = (None, "", (), [], frozenset())
SHOWN = 5  # items described when none is picked


class VacuousCheck(ValueError):
    """A check that zero items, or an item it did not select by identity, could satisfy."""


@dataclass(frozen=True)
class Identity(Generic[T]):
    """The fields that pick one kind of item out of a store's answer, each read by a function."""

    noun: str  # "log record", "server span", … (how a failure names the item)
    fields: Mapping[str, Callable[[T], Any]]

    def __post_init__(self) -> None:
        if not self.noun:
            raise VacuousCheck("an identity needs a noun (what a failure calls the item)")
        if not self.fields:
            raise VacuousCheck(f"the identity of a {self.noun} has no field: it would pick any {self.noun}")

    def of(self, item: T) -> dict[str, Any]:
        """The item's identity: its value of every field."""
        return {name: read(item) for name, read in self.fields.items()}

    def _complete(self, wanted: Mapping[str, Any]) -> None:
        unknown = sorted(set(wanted) - set(self.fields))
        missing = [name for name in self.fields if name not in wanted or wanted[name] in EMPTY]
        if unknown or missing:
            raise VacuousCheck(
                f"a {self.noun} is picked by {', '.join(self.fields)}; this check leaves out "
                f"{', '.join(missing) or 'nothing'} and names unknown fields {unknown or 'none'}")

    def pick(self, items: Iterable[T], **wanted: Any) -> list[T]:
        """The items whose every field equals the wanted value (every field must be given)."""
        self._complete(wanted)
        return [item for item in items if self.of(item) == wanted]

    def some(self, items: Iterable[T], **wanted: Any) -> list[T]:
        """The picked items, at least one; ``NotYet`` naming what was there when none is."""
        pool = list(items)
        picked = self.pick(pool, **wanted)
        if not picked:
            raise NotYet(self.none_among(pool, wanted))
        return picked

    def one(self, items: Iterable[T], **wanted: Any) -> T:
        """The first picked item; ``NotYet`` naming what was there when none is."""
        return self.some(items, **wanted)[0]

    def none_among(self, pool: list[T], wanted: Mapping[str, Any]) -> str:
        """"no <noun> with <wanted> among N: <the first few, by identity>"."""
        seen = [self.of(item) for item in pool[:SHOWN]]
        more = f" (and {len(pool) - SHOWN} more)" if len(pool) > SHOWN else ""
        return f"no {self.noun} with {_said(wanted)} among {len(pool)}: {[_said(s) for s in seen]}{more}"


def _said(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in values.items())
