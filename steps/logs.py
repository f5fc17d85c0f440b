"""Logs: records in the log store carry the request's trace id and the service name, and a server
error leaves its own record — the one an error search finds — not merely some ERROR record."""

from __future__ import annotations

from pytest_bdd import then

from harness.bdd.scenario import sentence
from harness.checks import logs
from harness.clients.model import LogRecord
from harness.lab.lifecycle import Lab


@then(
    sentence("the log store has an {texts:List} record with that trace id within {timeout:Duration}"),
    target_fixture="log_records",
)
@then(
    sentence("the log store has {texts:List} records with that trace id within {timeout:Duration}"),
    target_fixture="log_records",
)
def records_within(lab: Lab, trace_id: str, texts: list[str], timeout: float) -> list[LogRecord]:
    return logs.log_records_saying(lab, trace_id, texts, timeout=timeout)


@then(sentence('those records name the service "{service}"'))
def records_name_service(log_records: list[LogRecord], service: str) -> None:
    logs.records_name_service(log_records, service)


@then(sentence('the log store has the "{text}" record of that trace at {severity}, with error.type '
               '"{error_type}" and its exception, within {timeout:Duration}'))
def error_record(lab: Lab, trace_id: str, text: str, severity: str, error_type: str, timeout: float) -> None:
    logs.error_record(lab, trace_id, text=text, severity=severity, error_type=error_type, timeout=timeout)
