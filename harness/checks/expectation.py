"""The one way a check waits for the lab, and its twin for "never, for the whole window".

:func:`expect_within` polls a *look* through :func:`harness.base.waiting.eventually` and gives every
wait the same three things, so that no check has to remember them (before, 9 of 15 waits named
the hop and the others did not):

- **the hop line**: when the wait times out or gives up, its message ends with what each hop
  counted for the signal the wait is about (:func:`harness.clients.hops.explain`: the app's
  requests, the collector's accepted/refused/sent items, the store's own counter) — or, for a wait
  on the lab's services, every service's state as the engine sees it — so a failure points at the
  hop that lost the thing, not only at the store that lacks it;
- **evidence**: what was found is attached to the step (what each hop counted, on a failure);
- **the last observation** is the return value, for the step that needs it.

:func:`absent_throughout` is the twin for "this never shows up while watched" (a stale sample, an
error): it looks for the whole window and fails at the first sighting, with the same hop line.

No other module under ``harness/checks/`` calls the poller (``tests/harness/test_checks_expectation.py``
walks them for it), so a new check gets the hop line and the evidence by construction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import requests

from harness.base import evidence
from harness.base.errors import LabError
from harness.base.waiting import GiveUp, WaitTimeout, eventually, scaled
from harness.clients import hops

if TYPE_CHECKING:  # a vocabulary over a Lab, not a user of the lab's lifecycle
    from harness.lab.lifecycle import Lab

T = TypeVar("T")
SERVICES = "services"
ABOUT = (*hops.SIGNALS, SERVICES)  # what a wait can be about: a signal's hops, or the services
SHOWN_LIMIT = 600  # characters of an observation shown in evidence when the check says nothing better


def hop_line(lab: Lab, about: str) -> str:
    """The line a failed wait ends with; never raises for a lab that does not answer."""
    if about in hops.SIGNALS:
        return f"{about} by hop: {hops.explain(lab, about)}"
    if about != SERVICES:
        raise ValueError(f"a wait is about one of {', '.join(ABOUT)}, not {about!r}")
    try:
        states = lab.target.status()
    except Exception as exc:  # a failure message must never fail
        return f"services: the engine did not answer ({type(exc).__name__}: {str(exc)[:200]})"
    listed = ", ".join(f"{name} {state}" for name, state in sorted(states.items()))
    return f"services as the engine sees them: {listed or 'none'}"


def _said(lab: Lab, about: str, what: str) -> str:
    line = hop_line(lab, about)
    evidence.attach("note", f"{what}: what each hop saw", hops=line)
    return line


def _shown(found: Any) -> dict[str, Any]:
    text = repr(found)
    return {"found": text if len(text) <= SHOWN_LIMIT else text[:SHOWN_LIMIT] + "…"}


def expect_within(
    lab: Lab,
    about: str,
    look: Callable[[], T],
    *,
    what: str,
    timeout: float,
    interval: float = 1.0,
    shown: Callable[[T], Mapping[str, Any]] | None = None,
    kind: str = "query",
) -> T:
    """Call ``look`` until it returns (it raises ``NotYet(observation)`` while the thing is not
    there, ``GiveUp`` when waiting cannot make it right); return what it returned.

    ``about`` is the signal whose hops the failure names ("traces", "logs", "metrics") or
    "services"; ``what`` says what is awaited (the wait's description and the evidence's line);
    ``shown(found)`` is the evidence's detail (by default the found value, trimmed).
    """
    if about not in ABOUT:
        raise ValueError(f"a wait is about one of {', '.join(ABOUT)}, not {about!r}")
    try:
        found = eventually(look, timeout=timeout, describe=what, interval=interval)
    except WaitTimeout as exc:
        line = _said(lab, about, what)
        error = WaitTimeout(exc.describe, exc.timeout, exc.attempts, exc.last_observation)
        error.args = (f"{exc}; {line}",)
        raise error from None
    except GiveUp as exc:
        raise GiveUp(f"{exc}; {_said(lab, about, what)}") from None
    evidence.attach(kind, what, **(dict(shown(found)) if shown else _shown(found)))
    return found


def absent_throughout(
    lab: Lab,
    about: str,
    look: Callable[[], T],
    wrong: Callable[[T], str | None],
    *,
    what: str,
    window: float,
    interval: float = 1.0,
    kind: str = "query",
) -> list[T]:
    """Look every ``interval`` seconds for ``window`` seconds (scaled); the first observation that
    ``wrong`` names a problem in fails at once, with the hop line. Every observation is returned
    (and kept as evidence). A look the lab does not answer is a failure too: "never stale" cannot
    be judged from no answer."""
    if about not in ABOUT:
        raise ValueError(f"a wait is about one of {', '.join(ABOUT)}, not {about!r}")
    deadline = time.monotonic() + scaled(window)
    seen: list[T] = []
    while True:
        try:
            observation = look()
        except (AssertionError, LabError, OSError, requests.RequestException) as exc:
            problem: str | None = f"no answer ({type(exc).__name__}: {str(exc)[:300]})"
        else:
            seen.append(observation)
            problem = wrong(observation)
        if problem:
            line = _said(lab, about, what)
            evidence.attach(kind, what, seen=[repr(s)[:80] for s in seen[-20:]], problem=problem)
            raise AssertionError(f"{problem} while watching {what} ({len(seen)} looks); {line}")
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    evidence.attach(kind, what, seen=[repr(s)[:80] for s in seen[-20:]], looks=len(seen))
    return seen
