"""The one expectation primitive: a wait that always ends with the hop line and records evidence,
its "absent for the whole window" twin, and the rule that no other check calls the poller."""

from __future__ import annotations

import ast
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.base import evidence
from harness.base.waiting import GiveUp, NotYet, WaitTimeout
from harness.checks import expectation
from harness.clients import hops
from harness.lab.engine import ServiceState

CHECKS = Path(__file__).resolve().parents[2] / "harness" / "checks"


def pollers(path: Path) -> list[str]:
    """Where a module names the poller: ``eventually`` imported, called or referenced."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and any(a.name == "eventually" for a in node.names):
            found.append(f"{path.name}:{node.lineno} imports eventually")
        elif isinstance(node, ast.Name) and node.id == "eventually":
            found.append(f"{path.name}:{node.lineno} uses eventually")
        elif isinstance(node, ast.Attribute) and node.attr == "eventually":
            found.append(f"{path.name}:{node.lineno} uses .eventually")
    return found


def test_no_check_but_the_primitive_calls_the_poller() -> None:
    modules = sorted(CHECKS.glob("*.py"))
    assert len(modules) >= 10, f"harness/checks/ looks empty: {modules}"
    direct = [hit for path in modules if path.name != "expectation.py" for hit in pollers(path)]
    assert not direct, f"checks that wait without the hop line and the evidence (use expect_within): {direct}"
    assert pollers(CHECKS / "expectation.py"), "the primitive itself must be what calls eventually"


def test_the_walk_sees_every_way_of_calling_the_poller(tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("from harness.base import waiting\nfrom harness.base.waiting import eventually as e\n"
                      "def f():\n    return waiting.eventually(lambda: 1, timeout=1, describe='x')\n")
    assert pollers(sneaky) == ["sneaky.py:2 imports eventually", "sneaky.py:4 uses .eventually"]


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    asked: list[str] = []
    monkeypatch.setattr(hops, "explain", lambda lab, signal, since=None: asked.append(signal) or
                        "the app counted 4 requests; the collector accepted 9 spans, sent 0 to jaeger")
    return asked


def test_a_timed_out_wait_ends_with_the_hop_line_and_leaves_it_as_evidence(counted: list[str]) -> None:
    def look() -> int:
        raise NotYet("jaeger has no trace abc yet")

    with evidence.capture() as log, pytest.raises(WaitTimeout) as caught:
        expectation.expect_within(SimpleNamespace(), "traces", look, what="trace abc", timeout=1.1)
    text = str(caught.value)
    assert text.startswith("timed out after") and "last seen: jaeger has no trace abc yet" in text
    assert text.endswith("; traces by hop: the app counted 4 requests; the collector accepted 9 spans, "
                         "sent 0 to jaeger")
    assert caught.value.last_observation == "jaeger has no trace abc yet"
    assert counted == ["traces"]
    notes = [e for e in log.items if e.kind == "note"]
    assert notes and "accepted 9 spans" in notes[-1].detail["hops"]


def test_a_wait_that_gives_up_names_the_hop_too(counted: list[str]) -> None:
    def look() -> int:
        raise GiveUp("the counter grew by 3, more than 1")

    started = time.monotonic()
    with pytest.raises(GiveUp, match=r"more than 1; metrics by hop: the app counted 4"):
        expectation.expect_within(SimpleNamespace(), "metrics", look, what="a counter", timeout=30)
    assert time.monotonic() - started < 5, "giving up does not wait"
    assert counted == ["metrics"]


def test_a_wait_that_passes_returns_the_last_observation_and_records_it(counted: list[str]) -> None:
    answers = iter([NotYet("1 record"), "the record"])

    def look() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    with evidence.capture() as log:
        found = expectation.expect_within(SimpleNamespace(), "logs", look, what="the record", timeout=5,
                                          interval=0.1, kind="log", shown=lambda r: {"body": r})
    assert found == "the record"
    recorded = [(e.kind, e.summary, e.detail) for e in log.items]
    assert recorded == [("log", "the record", {"body": "the record"})]
    assert counted == [], "no counters are read when the wait succeeds"


def test_a_wait_on_the_services_says_each_service_state() -> None:
    target = SimpleNamespace(status=lambda: {"backend": ServiceState("exited", exit_code=3),
                                             "jaeger": ServiceState("running")})
    def not_yet() -> None:
        raise NotYet("not yet")

    def gone() -> None:
        raise OSError("engine gone")

    with pytest.raises(WaitTimeout, match=r"services as the engine sees them: backend exited \(exit 3\), "
                                          r"jaeger running$"):
        expectation.expect_within(SimpleNamespace(target=target), "services", not_yet, what="services",
                                  timeout=1.1)
    line = expectation.hop_line(SimpleNamespace(target=SimpleNamespace(status=gone)), "services")
    assert line == "services: the engine did not answer (OSError: engine gone)"


def test_what_a_wait_is_about_is_said_in_one_line() -> None:
    one_line = r"^a wait is about one of traces, logs, metrics, services, not 'dns'$"
    with pytest.raises(ValueError, match=one_line):
        expectation.expect_within(SimpleNamespace(), "dns", lambda: 1, what="x", timeout=1)


def test_absent_for_the_whole_window(counted: list[str]) -> None:
    ages = iter([1.0, 2.0, 1.5, 2.5])
    seen = expectation.absent_throughout(SimpleNamespace(), "metrics", lambda: next(ages, 1.0),
                                         lambda age: None if age < 10 else f"{age} s old",
                                         what="the age of the newest sample", window=0.35, interval=0.1)
    assert seen[:4] == [1.0, 2.0, 1.5, 2.5] and counted == []

    ages = iter([1.0, 47.0, 1.0])
    started = time.monotonic()
    first_sighting = r"^47.0 s old while watching the age \(2 looks\); metrics by hop: "
    with pytest.raises(AssertionError, match=first_sighting):
        expectation.absent_throughout(SimpleNamespace(), "metrics", lambda: next(ages),
                                      lambda age: None if age < 10 else f"{age} s old",
                                      what="the age", window=30, interval=0.1)
    assert time.monotonic() - started < 5, "the first sighting fails at once"


def test_a_look_the_lab_does_not_answer_is_no_proof_of_absence(counted: list[str]) -> None:
    def look() -> Any:
        raise OSError("connection refused")

    with pytest.raises(AssertionError, match=r"no answer \(OSError: connection refused\) while watching"):
        expectation.absent_throughout(SimpleNamespace(), "metrics", look, lambda _: None, what="x", window=30)
    assert counted == ["metrics"]
