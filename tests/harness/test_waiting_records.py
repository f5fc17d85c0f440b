"""The waits' records (what the benchmarks read): one per finished wait, outcome and time right,
and a wait behaves the same with a listener as without (even one that raises)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.base.waiting import (
    GiveUp,
    NotYet,
    WaitRecord,
    WaitTimeout,
    add_listener,
    configure,
    eventually,
    remove_listener,
)


@pytest.fixture
def records() -> Iterator[list[WaitRecord]]:
    seen: list[WaitRecord] = []
    add_listener(seen.append)
    yield seen
    remove_listener(seen.append)


def test_a_passing_wait_is_recorded_with_its_attempts_and_time(records: list[WaitRecord]) -> None:
    calls = []

    def check() -> int:
        calls.append(1)
        if len(calls) < 3:
            raise NotYet("not yet")
        return 7

    assert eventually(check, timeout=5, interval=0.05, describe="three attempts") == 7
    (record,) = records
    assert (record.describe, record.outcome, record.attempts, record.interval) == (
        "three attempts", "passed", 3, 0.05)
    assert 0.09 <= record.waited < 2.0  # two pauses of 0.05 s, generous above


def test_a_timed_out_wait_is_recorded_and_still_raises(records: list[WaitRecord]) -> None:
    configure(2.0)
    try:
        with pytest.raises(WaitTimeout):
            eventually(lambda: (_ for _ in ()).throw(NotYet("no")), timeout=0.1, interval=0.02,
                       describe="never")
    finally:
        configure(1.0)
    (record,) = records
    assert record.outcome == "timed out"
    assert record.timeout == pytest.approx(0.2)  # the scaled budget
    assert record.waited >= 0.2


def test_give_up_and_bugs_are_recorded_as_such(records: list[WaitRecord]) -> None:
    def give_up() -> None:
        raise GiveUp("overshot")

    def bug() -> None:
        raise KeyError("a bug")

    with pytest.raises(GiveUp):
        eventually(give_up, timeout=5, interval=0.01, describe="give up")
    with pytest.raises(KeyError):
        eventually(bug, timeout=5, interval=0.01, describe="bug")
    assert [(r.describe, r.outcome, r.attempts) for r in records] == [("give up", "gave up", 1),
                                                                        ("bug", "error", 1)]


def test_a_listener_that_raises_changes_nothing(records: list[WaitRecord]) -> None:
    def broken(_record: WaitRecord) -> None:
        raise RuntimeError("listener bug")

    add_listener(broken)
    try:
        assert eventually(lambda: "ok", timeout=1, describe="fine") == "ok"
        with pytest.raises(WaitTimeout):
            eventually(lambda: (_ for _ in ()).throw(AssertionError("no")), timeout=0.05, interval=0.01,
                       describe="still times out")
    finally:
        remove_listener(broken)
    assert [r.outcome for r in records] == ["passed", "timed out"]


def test_no_listener_no_record() -> None:
    seen: list[WaitRecord] = []
    add_listener(seen.append)
    remove_listener(seen.append)
    eventually(lambda: None, timeout=1, describe="unheard")
    assert seen == []
