"""The API contract (GET /openapi.json, OpenAPI 3.1) is true: it names exactly the app's routes, and
schemathesis, driving the backend as the image serves it (gunicorn + gunicorn_conf.py) with valid
and invalid data and with stateful sequences along the document's links, finds no 5xx outside
/api/simulate-error, no response outside the schema and no error body that is not JSON.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
import requests
import schemathesis
from app_support import app_config
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from servers import ImageBackend
from taskapp import create_app, shutdown
from taskapp.openapi import build_spec

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

EXAMPLES_PER_OPERATION = 30
STATEFUL_SCENARIOS = 25
ON_PURPOSE_5XX = "/api/simulate-error"
FLASK_IMPLICIT = {"HEAD", "OPTIONS"}


def resolve(document: dict, node: dict) -> dict:
    """Follow local $refs."""
    while "$ref" in node:
        target: dict = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def test_document_names_exactly_the_routes(tmp_path: Path) -> None:
    app = create_app(app_config(tmp_path / "tasks.db", None, OTEL_SDK_DISABLED="true"))
    try:
        routes = {
            (rule.rule.replace("<task_id>", "{task_id}"), method, rule.endpoint)
            for rule in app.url_map.iter_rules()
            if rule.endpoint != "static"
            for method in rule.methods - FLASK_IMPLICIT
        }
        served = app.test_client().get("/openapi.json").get_json()
    finally:
        shutdown(app)
    assert served == json.loads(json.dumps(build_spec(served["info"]["version"])))
    assert served["openapi"].startswith("3.1")
    documented = {
        (path, method.upper(), operation["operationId"])
        for path, item in served["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
    }
    assert documented == routes  # operationId = Flask endpoint name = the `endpoint` metric label
    for _path, item in served["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):  # every documented error is a JSON {"error"}
                    resolved = resolve(served, response)
                    body_schema = resolve(served, resolved["content"]["application/json"]["schema"])
                    assert "error" in body_schema["required"], (method, status)
    links = served["paths"]["/api/tasks"]["post"]["responses"]["201"]["links"]
    assert {link["operationId"] for link in links.values()} == {"get_task", "update_task", "delete_task"}


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImageBackend]:
    server = ImageBackend(tmp_path_factory.mktemp("contract"), env={"OTEL_SDK_DISABLED": "true"})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api_schema(backend: ImageBackend) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_url(backend.url + "/openapi.json")
    schema.config.update(base_url=backend.url)
    schema.config.generation.update(max_examples=EXAMPLES_PER_OPERATION, database="none")
    return schema


def error_bodies_are_json(ctx: schemathesis.CheckContext, response: schemathesis.Response, case) -> None:
    """Every 4xx/5xx answer is a JSON object {"error": "<non-empty text>"}."""
    if response.status_code < 400 or case.method.upper() == "HEAD":
        return None
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), f"{response.status_code} with {content_type!r}"
    body = json.loads(response.content)
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], body
    return None


def no_5xx_but_on_purpose(ctx: schemathesis.CheckContext, response: schemathesis.Response, case) -> None:
    """5xx only from /api/simulate-error; 503 only as the documented 'busy' answer, never a crash."""
    if case.path == ON_PURPOSE_5XX:
        return None
    assert response.status_code < 500 or response.status_code == 503, f"{response.status_code} {case.path}"
    return None


def bounded(case) -> None:
    """Keep /api/simulate-slow short: the fuzzer may ask for 10 s per example."""
    if case.path == "/api/simulate-slow" and isinstance(case.query, dict):
        delay = case.query.get("delay")
        if isinstance(delay, int | float) and not isinstance(delay, bool) and 0 <= delay <= 10:
            case.query["delay"] = min(delay, 0.05)


CHECK_KWARGS = {
    "excluded_checks": [not_a_server_error],  # replaced by no_5xx_but_on_purpose
    "additional_checks": [no_5xx_but_on_purpose, error_bodies_are_json],
}


def operations(api_schema: schemathesis.BaseSchema) -> list:
    found = [result.ok() for result in api_schema.get_all_operations()]
    # every documented operation but GET /openapi.json, which schemathesis leaves out (it loaded it)
    assert len(found) == 12, " ".join(op.label for op in found)
    return found


MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
# The same examples on every run (a CI run fails for a change, not for a dice roll); FUZZ_EXPLORE=1
# draws new ones each run, for looking for new findings (which then get a test of their own).
DERANDOMIZE = os.environ.get("FUZZ_EXPLORE", "") in ("", "0")


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
def test_every_operation_matches_its_contract(
    api_schema: schemathesis.BaseSchema, mode: GenerationMode
) -> None:
    """Valid data must be served as documented; invalid data refused with a documented JSON 4xx.

    Each operation's strategy under hypothesis directly (schemathesis 4.32's pytest loader,
    `from_fixture`, reads a node attribute pytest 9 no longer has)."""
    for operation in operations(api_schema):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  derandomize=DERANDOMIZE, suppress_health_check=list(HealthCheck))
        def run(case) -> None:
            bounded(case)
            case.call_and_validate(**CHECK_KWARGS)

        try:
            run()
        except hypothesis.errors.Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE, operation.label  # nothing invalid to send (no input)


def test_stateful_sequences_along_the_links(
    api_schema: schemathesis.BaseSchema, backend: ImageBackend
) -> None:
    machine = api_schema.as_state_machine()

    class Workflow(machine):  # type: ignore[misc, valid-type]
        def before_call(self, case) -> None:
            bounded(case)

        def validate_response(self, response, case, additional_checks=None, **kwargs) -> None:
            case.validate_response(response, **CHECK_KWARGS)

    Workflow.run(
        settings=settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=6,
            deadline=None,
            database=None,
            derandomize=DERANDOMIZE,
            suppress_health_check=list(HealthCheck),
        )
    )
    assert requests.get(backend.url + "/ready", timeout=5).status_code == 200
    assert "Unhandled exception" not in backend.output()


@settings(max_examples=300, deadline=None)
@given(hypothesis.strategies.text(
    alphabet=hypothesis.strategies.sampled_from(
        [" ", "\n", "\t", "\x00", "\x1f", "\x85", "a", "*", "é", "\u2003", "\u3000", "\U0001f600"]),
    max_size=210,
))
def test_the_title_pattern_says_what_the_app_accepts(title: str) -> None:
    """The schema's title rule and the app's are one rule: schemathesis once found a raw 201-character
    title (a newline, then 200 characters) that the schema's old maxLength refused and the app took."""
    import re

    from taskapp.errors import ApiError
    from taskapp.openapi import TITLE_PATTERN
    from taskapp.validation import parse_task

    try:
        parse_task({"title": title}, partial=False)
        accepted = True
    except ApiError:
        accepted = False
    assert accepted == bool(re.search(TITLE_PATTERN, title)), repr(title)
