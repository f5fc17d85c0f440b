"""Logs: records in the log store carry the request's trace id and the service name."""

from __future__ import annotations

from pytest_bdd import then

from harness.bdd.scenario import sentence
from harness.checks import expect
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
    return expect.log_records_saying(lab, trace_id, texts, timeout=timeout)


@then(sentence('those records name the service "{service}"'))
def records_name_service(log_records: list[LogRecord], service: str) -> None:
    expect.records_name_service(log_records, service)


@then(sentence("the log store has an ERROR record with that trace id within {timeout:Duration}"))
def error_record(lab: Lab, trace_id: str, timeout: float) -> None:
    expect.log_records(lab, trace_id, severity="ERROR", timeout=timeout)
