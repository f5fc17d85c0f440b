"""Logs: records in the log store carry the request's trace id and the service name."""

from __future__ import annotations

from pytest_bdd import parsers, then

from harness import expect
from harness.lab import Lab
from harness.scenario import ScenarioContext


@then(parsers.parse('the log store has an "{text}" record with that trace id within {seconds:d} seconds'))
def record_within(lab: Lab, ctx: ScenarioContext, text: str, seconds: int) -> None:
    ctx.log_records += expect.log_records(lab, ctx.trace_id, text=text, timeout=seconds)


@then(parsers.parse('the log store has a "{text}" record with that trace id'))
def record_present(lab: Lab, ctx: ScenarioContext, text: str) -> None:
    ctx.log_records += expect.log_records(lab, ctx.trace_id, text=text, timeout=15)


@then(parsers.parse('those records name the service "{service}"'))
def records_name_service(ctx: ScenarioContext, service: str) -> None:
    wrong = [(r.body, r.service) for r in ctx.log_records if r.service != service]
    assert ctx.log_records and not wrong, f"records with another service name: {wrong}"


@then(parsers.parse("the log store has an ERROR record with that trace id within {seconds:d} seconds"))
def error_record(lab: Lab, ctx: ScenarioContext, seconds: int) -> None:
    expect.log_records(lab, ctx.trace_id, severity="ERROR", timeout=seconds)
