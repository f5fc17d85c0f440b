"""Traces: a chosen trace id leads to the server span, the manual span and the SQL span.

Each assertion polls the trace (``expect.trace_satisfies``): a store receives one request's spans
in several batches, so a span missing on the first look may arrive a moment later. The server
span's route travels to the steps about "the server span" as the ``server_route`` fixture.
"""

from __future__ import annotations

from pytest_bdd import then

from harness.bdd.scenario import sentence
from harness.checks import expect
from harness.clients.model import Trace
from harness.lab.lifecycle import Lab


@then(sentence('the trace has an HTTP server span for "{method} {route}"'), target_fixture="server_route")
def has_server_span(lab: Lab, trace_id: str, method: str, route: str) -> tuple[str, str]:
    expect.trace_satisfies(lab, trace_id, lambda t: expect.server_span(t, method, route))
    return method, route


@then(
    sentence(
        'the server span has the manual span "{name}" as a descendant, with attribute "{key}" = "{value}"'
    )
)
def manual_span_below(
    lab: Lab, trace_id: str, server_route: tuple[str, str], name: str, key: str, value: str
) -> None:
    def check(trace: Trace) -> None:
        got = expect.manual_span(trace, server_route, name).attributes.get(key)
        assert got == value, f"{name}.{key} = {got!r}, expected {value!r}"

    expect.trace_satisfies(lab, trace_id, check)


@then(sentence('the manual span "{name}" has a SQL span as a descendant'))
def sql_span_below(lab: Lab, trace_id: str, server_route: tuple[str, str], name: str) -> None:
    expect.trace_satisfies(
        lab, trace_id, lambda t: expect.sql_descendant(t, expect.manual_span(t, server_route, name))
    )


@then("the trace has a span with error status")
def has_error_span(lab: Lab, trace_id: str) -> None:
    expect.trace_satisfies(lab, trace_id, expect.error_span)
