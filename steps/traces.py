"""Traces: a chosen trace id leads to the server span, the manual span and the SQL span."""

from __future__ import annotations

from pytest_bdd import parsers, then

from harness import expect
from harness.scenario import ScenarioContext


@then(parsers.parse('the trace has an HTTP server span for "{method} {route}"'))
def has_server_span(ctx: ScenarioContext, method: str, route: str) -> None:
    ctx.noted["server_span"] = expect.server_span(ctx.trace, method, route)


@then(
    parsers.parse(
        'the server span has the manual span "{name}" as a descendant, with attribute "{key}" = "{value}"'
    )
)
def manual_span_below(ctx: ScenarioContext, name: str, key: str, value: str) -> None:
    span = expect.descendant_named(ctx.trace, ctx.noted["server_span"], name)
    assert span.attributes.get(key) == value, (
        f"{name}.{key} = {span.attributes.get(key)!r}, expected {value!r}"
    )
    ctx.noted[f"span:{name}"] = span


@then(parsers.parse('the manual span "{name}" has a SQL span as a descendant'))
def sql_span_below(ctx: ScenarioContext, name: str) -> None:
    expect.sql_descendant(ctx.trace, ctx.noted[f"span:{name}"])


@then("the trace has a span with error status")
def has_error_span(ctx: ScenarioContext) -> None:
    expect.error_span(ctx.trace)
