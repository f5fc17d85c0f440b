"""Evidence: attached inside a step, ignored outside, trimmed, always JSON-able; commands leave it too."""

from __future__ import annotations

import json
import sys

from harness.base import evidence
from harness.base.progress import run


def test_attach_outside_a_step_is_a_no_op() -> None:
    assert evidence.current() is None
    evidence.attach("note", "nobody listens")  # must not raise


def test_capture_collects_in_order_and_isolates() -> None:
    with evidence.capture() as outer:
        evidence.attach("note", "first", n=1)
        with evidence.capture() as inner:
            evidence.attach("note", "inner")
        evidence.attach("query", "second", promql="up")
    assert [e.summary for e in outer.items] == ["first", "second"]
    assert [e.summary for e in inner.items] == ["inner"]
    assert outer.items[1].detail == {"promql": "up"}
    json.dumps(outer.to_list())


def test_details_are_json_safe_and_bodies_trimmed() -> None:
    with evidence.capture() as log:
        evidence.attach("note", "odd", obj=object(), body=evidence.trim("x" * 5000, limit=100))
    item = log.to_list()[0]
    assert item["detail"]["obj"].startswith("<object object")
    assert item["detail"]["body"].startswith("x" * 100)
    assert "4900 more chars" in item["detail"]["body"]
    assert evidence.trim(b"bytes \xff") == "bytes \ufffd"
    assert evidence.trim(None) == ""


def test_set_and_reset_current_for_hooks() -> None:
    log = evidence.EvidenceLog()
    token = evidence.set_current(log)
    try:
        evidence.attach("note", "from a hook")
    finally:
        evidence.reset_current(token)
    assert evidence.current() is None
    assert log.items[0].summary == "from a hook"


def test_commands_leave_their_line_exit_code_duration_and_output() -> None:
    with evidence.capture() as log:
        result = run([sys.executable, "-c", "import sys; print('hello'); sys.exit(3)"], timeout=30)
    assert result.exit_code == 3 and result.output.strip() == "hello"
    item = log.items[0]
    assert item.kind == "command"
    assert sys.executable in item.summary and "sys.exit(3)" in item.summary
    assert item.detail["exit_code"] == 3
    assert item.detail["output"].strip() == "hello"
    assert item.detail["duration_s"] >= 0
    assert item.detail["timed_out"] is False


def test_command_output_is_trimmed_to_its_end() -> None:
    with evidence.capture() as log:
        run([sys.executable, "-c", "print('a' * 10000); print('THE END')"], timeout=30)
    output = log.items[0].detail["output"]
    assert len(output) < 5000
    assert output.rstrip().endswith("THE END")
