"""eventually(): returns when the check passes, and a timeout says what was last seen."""

from __future__ import annotations

import time

import pytest

from harness.base.waiting import NotYet, WaitTimeout, configure, eventually, scaled, timeout_scale


def test_returns_the_checks_value_after_retries() -> None:
    calls = []

    def check() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise NotYet(f"attempt {len(calls)}")
        return "ready"

    assert eventually(check, timeout=5, interval=0.01, describe="three attempts") == "ready"
    assert len(calls) == 3


def test_timeout_message_carries_the_last_observation() -> None:
    seen = iter(range(1000))

    def check() -> None:
        raise NotYet({"status": 502, "attempt": next(seen)})

    with pytest.raises(WaitTimeout) as err:
        eventually(check, timeout=0.3, interval=0.05, describe="the front to answer 200")
    exc = err.value
    assert "the front to answer 200" in str(exc)
    assert "'status': 502" in str(exc)
    assert exc.last_observation["attempt"] == exc.attempts - 1
    assert isinstance(exc, AssertionError)


def test_assertion_errors_are_observations_too() -> None:
    def check() -> None:
        assert 1 + 1 == 3, "arithmetic is stubborn"

    with pytest.raises(WaitTimeout, match="arithmetic is stubborn"):
        eventually(check, timeout=0.2, interval=0.05, describe="maths")


def test_unexpected_errors_propagate_at_once() -> None:
    calls = []

    def check() -> None:
        calls.append(1)
        raise KeyError("a bug, not a wait")

    with pytest.raises(KeyError):
        eventually(check, timeout=5, interval=0.01, describe="bug")
    assert len(calls) == 1


def test_lab_timeout_scale_applies() -> None:
    configure(0.05)
    assert timeout_scale() == 0.05
    assert scaled(10) == pytest.approx(0.5)
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as err:
        eventually(lambda: (_ for _ in ()).throw(NotYet("no")), timeout=10, interval=0.05, describe="scaled")
    assert time.monotonic() - started < 3
    assert err.value.timeout == pytest.approx(0.5, abs=0.3)
    # scale=False keeps the given budget as is
    configure(100)
    started = time.monotonic()
    with pytest.raises(WaitTimeout):
        eventually(
            lambda: (_ for _ in ()).throw(NotYet("no")),
            timeout=0.2,
            interval=0.05,
            describe="raw",
            scale=False,
        )
    assert time.monotonic() - started < 3


def test_the_scale_is_set_from_the_config_not_read_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("LAB_TIMEOUT_SCALE", "50")
    assert timeout_scale() == 1.0, "only LabConfig reads LAB_*; the run hands its scale over"
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            configure(bad)
