"""The one way to wait for the lab: poll a check until it passes, remember what it last saw.

Every timeout is multiplied by the run's timeout scale (``LAB_TIMEOUT_SCALE``, read by
:class:`harness.base.config.LabConfig`; VMs without KVM are slower), set once per process by the CLI or
the pytest run with :func:`configure`. A failed wait raises :class:`WaitTimeout` whose message
carries the last observation, not only "timed out".

Every finished wait is also handed, as a :class:`WaitRecord`, to the listeners registered with
:func:`add_listener` (none by default): the benchmarks measure how long each wait took against
the measured delay of what it waited for. Listening never changes how a wait behaves.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_delay,
    wait_fixed,
)

from harness.base.errors import LabError

T = TypeVar("T")


class NotYet(AssertionError):
    """Raised by a check to say: keep waiting, here is what I saw."""

    def __init__(self, observation: Any):
        super().__init__(str(observation))
        self.observation = observation


class GiveUp(AssertionError):
    """Raised by a check to stop waiting at once: what it saw can never become right
    (a counter that overshot, a trace with the wrong parent)."""


class WaitTimeout(LabError, AssertionError):
    """A wait ran out of time; ``last_observation`` is what the check saw on its final attempt."""

    def __init__(self, describe: str, timeout: float, attempts: int, last_observation: Any):
        self.describe = describe
        self.timeout = timeout
        self.attempts = attempts
        self.last_observation = last_observation
        shown = _trim(repr(last_observation) if not isinstance(last_observation, str) else last_observation)
        super().__init__(
            f"timed out after {timeout:.1f}s ({attempts} attempts) waiting for {describe}; last seen: {shown}"
        )


@dataclass(frozen=True)
class WaitRecord:
    """One finished :func:`eventually`: what it waited for, how long, and how it ended."""

    describe: str
    timeout: float  # the budget in seconds, scaled
    interval: float
    attempts: int
    waited: float  # seconds from the first attempt to the return (or the raise)
    outcome: str  # "passed", "timed out", "gave up" or "error"


_scale = 1.0
_listeners: list[Callable[[WaitRecord], None]] = []


def add_listener(listener: Callable[[WaitRecord], None]) -> None:
    """Call ``listener(record)`` after every wait of this process (a listener that raises is ignored)."""
    _listeners.append(listener)


def remove_listener(listener: Callable[[WaitRecord], None]) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def _tell(record: WaitRecord) -> None:
    for listener in list(_listeners):
        try:
            listener(record)
        except Exception:  # a listener must never change a wait's outcome
            continue


def configure(scale: float) -> None:
    """Set the timeout scale of this process (``LabConfig.timeout_scale``, validated there)."""
    global _scale
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"timeout scale {scale!r} is not a positive finite number")
    _scale = float(scale)


def timeout_scale() -> float:
    return _scale


def scaled(seconds: float) -> float:
    """A timeout in seconds, scaled by the run's timeout scale."""
    return seconds * _scale


@dataclass
class _Attempts:
    count: int = 0
    last: Any = field(default="(no attempt finished)")


def eventually(
    check: Callable[[], T],
    *,
    timeout: float,
    describe: str,
    interval: float = 1.0,
    scale: bool = True,
) -> T:
    """Call ``check`` until it returns without raising; return its value.

    ``check`` signals "not yet" by raising (``NotYet(observation)`` for a precise message,
    ``AssertionError`` or any ``LabError``/``OSError``/``requests`` error otherwise). Other
    exceptions are bugs and propagate at once.
    """
    import requests

    budget = scaled(timeout) if scale else timeout
    state = _Attempts()
    started = time.monotonic()

    def attempt() -> T:
        state.count += 1
        try:
            return check()
        except NotYet as exc:
            state.last = exc.observation
            raise
        except (AssertionError, LabError, OSError, requests.RequestException) as exc:
            state.last = f"{type(exc).__name__}: {exc}"
            raise

    retrying = Retrying(
        stop=stop_after_delay(budget),
        wait=wait_fixed(interval),
        retry=retry_if_exception_type((AssertionError, LabError, OSError, requests.RequestException))
        & retry_if_not_exception_type(GiveUp),
        reraise=False,
    )
    outcome = "error"
    try:
        result = retrying(attempt)
        outcome = "passed"
        return result
    except RetryError:
        outcome = "timed out"
        elapsed = time.monotonic() - started
        raise WaitTimeout(describe, max(budget, elapsed), state.count, state.last) from None
    except GiveUp:
        outcome = "gave up"
        raise
    finally:
        if _listeners:
            _tell(WaitRecord(describe, budget, interval, state.count, time.monotonic() - started, outcome))


def _trim(text: str, limit: int = 600) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more chars)"
