"""Traces: a chosen trace id leads to the server span of the operation named, the manual span and
the SQL span below it, and — for an error — to those spans in error status.

Each assertion polls the trace (``traces.trace_satisfies``): a store receives one request's spans
in several batches, so a span missing on the first look may arrive a moment later. The server
span's operation travels to the steps about "the server span" as the ``server_route`` fixture.
"""

from __future__ import annotations

from pytest_bdd import then

from harness.bdd.scenario import sentence
from harness.checks import traces
from harness.clients.model import Trace
from harness.lab.lifecycle import Lab


@then(sentence('the trace has an HTTP server span for "{method} {route}"'), target_fixture="server_route")
def has_server_span(lab: Lab, trace_id: str, method: str, route: str) -> tuple[str, str]:
    traces.trace_satisfies(lab, trace_id, lambda t: traces.server_span(t, method, route),
                           what=f"to have the server span of {method} {route}")
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
        got = traces.manual_span(trace, server_route, name).attributes.get(key)
        assert got == value, f"{name}.{key} = {got!r}, expected {value!r}"

    traces.trace_satisfies(lab, trace_id, check, what=f"to have {name} with {key}={value!r}")


@then(sentence('the manual span "{name}" has a SQL span as a descendant'))
def sql_span_below(lab: Lab, trace_id: str, server_route: tuple[str, str], name: str) -> None:
    traces.trace_satisfies(
        lab, trace_id, lambda t: traces.sql_descendant(t, traces.manual_span(t, server_route, name)),
        what=f"to have a SQL span below {name}")


@then(sentence('the server span and its manual span "{name}" have error status'))
def spans_in_error(lab: Lab, trace_id: str, server_route: tuple[str, str], name: str) -> None:
    traces.trace_satisfies(lab, trace_id, lambda t: traces.in_error(t, server_route, [name]),
                           what=f"to have {' '.join(server_route)} and {name} in error status")
