"""Traces: a chosen trace id leads to the server span, the manual span and the SQL span.

Each assertion polls the trace (``expect.trace_satisfies``): a store receives one request's spans
in several batches, so a span missing on the first look may arrive a moment later.
"""

from __future__ import annotations

from pytest_bdd import parsers, then

from harness import expect
from harness.lab import Lab
from harness.scenario import ScenarioContext
from harness.signals.model import Span, Trace


def _manual_span(trace: Trace, ctx: ScenarioContext, name: str) -> Span:
    return expect.descendant_named(trace, expect.server_span(trace, *ctx.noted["route"]), name)


@then(parsers.parse('the trace has an HTTP server span for "{method} {route}"'))
def has_server_span(lab: Lab, ctx: ScenarioContext, method: str, route: str) -> None:
    ctx.noted["route"] = (method, route)
    expect.trace_satisfies(lab, ctx.trace_id, lambda t: expect.server_span(t, method, route))


@then(
    parsers.parse(
        'the server span has the manual span "{name}" as a descendant, with attribute "{key}" = "{value}"'
    )
)
def manual_span_below(lab: Lab, ctx: ScenarioContext, name: str, key: str, value: str) -> None:
    def check(trace: Trace) -> None:
        got = _manual_span(trace, ctx, name).attributes.get(key)
        assert got == value, f"{name}.{key} = {got!r}, expected {value!r}"

    expect.trace_satisfies(lab, ctx.trace_id, check)


@then(parsers.parse('the manual span "{name}" has a SQL span as a descendant'))
def sql_span_below(lab: Lab, ctx: ScenarioContext, name: str) -> None:
    expect.trace_satisfies(lab, ctx.trace_id, lambda t: expect.sql_descendant(t, _manual_span(t, ctx, name)))


@then("the trace has a span with error status")
def has_error_span(lab: Lab, ctx: ScenarioContext) -> None:
    expect.trace_satisfies(lab, ctx.trace_id, expect.error_span)
