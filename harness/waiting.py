"""The one way to wait for the lab: poll a check until it passes, remember what it last saw.

Every timeout is multiplied by ``LAB_TIMEOUT_SCALE`` (VMs without KVM are slower), and a failed wait
raises :class:`WaitTimeout` whose message carries the last observation, not only "timed out".
"""

from __future__ import annotations

import os
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

from harness.errors import ConfigError, LabError

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


def timeout_scale() -> float:
    """``LAB_TIMEOUT_SCALE`` as a positive float (default 1)."""
    raw = os.environ.get("LAB_TIMEOUT_SCALE", "1")
    try:
        scale = float(raw)
    except ValueError:
        raise ConfigError(f"LAB_TIMEOUT_SCALE={raw!r} is not a number; use e.g. 1, 2.5 or 10") from None
    if scale <= 0:
        raise ConfigError(f"LAB_TIMEOUT_SCALE={raw!r} must be greater than 0; use e.g. 1, 2.5 or 10")
    return scale


def scaled(seconds: float) -> float:
    """A timeout in seconds, scaled by ``LAB_TIMEOUT_SCALE``."""
    return seconds * timeout_scale()


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
    try:
        return retrying(attempt)
    except RetryError:
        elapsed = time.monotonic() - started
        raise WaitTimeout(describe, max(budget, elapsed), state.count, state.last) from None


def _trim(text: str, limit: int = 600) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more chars)"
