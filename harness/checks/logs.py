"""Checks on log records: the records a sentence names, with the request's trace id.

A record is picked by identity (:mod:`harness.checks.selection`): the service, the trace id and its
message, exactly — not "a record of the trace containing the text", and never "any record of the
trace at ERROR": the request's own "Request completed" record of a 500 is logged at ERROR too, so
"an ERROR record of the trace" stayed green while the error's own record went to WARN (issue 22).
:func:`error_record` picks the error's record by its message and then judges what an error search
relies on: the severity, ``error.type`` and the exception's type, message and stack trace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.base.waiting import GiveUp
from harness.checks.expectation import expect_within
from harness.checks.selection import Identity
from harness.checks.traces import SERVICE
from harness.clients.model import LogRecord

if TYPE_CHECKING:  # a vocabulary over a Lab, not a user of the lab's lifecycle
    from harness.lab.lifecycle import Lab

LOG_RECORD: Identity[LogRecord] = Identity("log record", {
    "service": lambda r: r.service,
    "trace_id": lambda r: r.trace_id,
    "body": lambda r: r.body,
})
# What an error search relies on, besides the severity: the OpenTelemetry semantic conventions'
# error.type and the exception's attributes (Loki keeps them as structured metadata, dots as "_").
EXCEPTION_KEYS = ("exception.type", "exception.message", "exception.stacktrace")


def attribute(record: LogRecord, key: str) -> Any:
    """A record's attribute as VictoriaLogs (``error.type``) or Loki (``error_type``) keeps it."""
    return record.attributes.get(key, record.attributes.get(key.replace(".", "_")))


def _shown(records: list[LogRecord]) -> dict[str, Any]:
    return {"records": [{"body": r.body, "severity": r.severity, "service": r.service, "trace_id": r.trace_id,
                         "span_id": r.span_id, "error.type": attribute(r, "error.type")}
                        for r in records[:5]]}


def log_records(lab: Lab, trace_id: str, *, text: str, timeout: float = 30) -> list[LogRecord]:
    """Wait until the log store has the service's records whose message is ``text`` with this
    trace id; those records."""

    def look() -> list[LogRecord]:
        records = lab.logs.query(SERVICE, trace_id=trace_id, text=text)
        return LOG_RECORD.some(records, service=SERVICE, trace_id=trace_id, body=text)

    return expect_within(lab, "logs", look, timeout=timeout, kind="log", shown=_shown,
                         what=f"{text!r} log record with trace {trace_id} in {lab.logs.name}")


def log_records_saying(lab: Lab, trace_id: str, texts: list[str], *, timeout: float = 30) -> list[LogRecord]:
    """The records of this trace for each of ``texts`` (each must have at least one)."""
    if not texts:
        raise AssertionError("no record text to look for: every record of none is found")
    return [r for text in texts for r in log_records(lab, trace_id, text=text, timeout=timeout)]


def records_name_service(records: list[LogRecord], service: str) -> None:
    assert records, "no log records to check"
    wrong = [(r.body, r.service) for r in records if r.service != service]
    assert not wrong, f"records with another service name (body, service): {wrong}"


def error_faults(record: LogRecord, severity: str, error_type: str) -> list[str]:
    """What the error's own record lacks for an error search (empty: nothing)."""
    faults = []
    if record.severity.upper() != severity.upper():
        faults.append(f"its severity is {record.severity or 'unset'}, not {severity.upper()}")
    if attribute(record, "error.type") != error_type:
        faults.append(f"error.type is {attribute(record, 'error.type')!r}, not {error_type!r}")
    if attribute(record, "exception.type") != error_type:
        faults.append(f"exception.type is {attribute(record, 'exception.type')!r}, not {error_type!r}")
    faults += [f"{key} is missing" for key in EXCEPTION_KEYS[1:] if not attribute(record, key)]
    return faults


def error_record(lab: Lab, trace_id: str, *, text: str, severity: str, error_type: str,
                 timeout: float = 30) -> LogRecord:
    """Wait for the error's own record (the service's record of this trace whose message is
    ``text``), then judge it: at ``severity``, with ``error.type`` and ``exception.type`` equal to
    ``error_type`` and the exception's message and stack trace. A stored record does not change,
    so a wrong one ends the wait at once, saying that the app wrote it so."""

    def look() -> LogRecord:
        records = lab.logs.query(SERVICE, trace_id=trace_id, text=text)
        record = LOG_RECORD.one(records, service=SERVICE, trace_id=trace_id, body=text)
        faults = error_faults(record, severity, error_type)
        if faults:
            raise GiveUp(f"the app's {text!r} record of trace {trace_id} is not what an error search "
                         f"finds: {'; '.join(faults)}")
        return record

    what = f"the {text!r} {severity.upper()} record with trace {trace_id} in {lab.logs.name}"
    return expect_within(lab, "logs", look, timeout=timeout, kind="log", what=what,
                         shown=lambda r: _shown([r]))
