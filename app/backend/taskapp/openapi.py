"""The API contract: an OpenAPI 3.1 document, served at GET /openapi.json.

Kept true two ways (tests/app/test_app_openapi.py): its paths, methods and operationIds are
compared with the Flask URL map (operationId = Flask endpoint name = the `endpoint` metric label),
and schemathesis drives the live backend under gunicorn from it, links included.
"""

from __future__ import annotations

from typing import Any

from taskapp.models import DESCRIPTION_MAX, INT_MAX, TITLE_MAX
from taskapp.settings import MAX_BODY_BYTES
from taskapp.validation import BLANKS

JSON = "application/json"
# The title's rule as the app applies it: 1 to TITLE_MAX characters once surrounding blanks are
# trimmed (so the raw string may be longer), no NUL. A plain maxLength would say "raw length";
# the blanks are spelled out (taskapp.validation.BLANKS) rather than \s, whose meaning varies.
_BLANK = "[" + "".join(f"\\u{ord(c):04x}" for c in BLANKS) + "]"
_SOLID = "[^" + "".join(f"\\u{ord(c):04x}" for c in BLANKS) + "\\u0000]"
TITLE_PATTERN = f"^{_BLANK}*{_SOLID}(?:[^\\u0000]{{0,{TITLE_MAX - 2}}}{_SOLID})?{_BLANK}*$"
NO_NUL = r"^[^\u0000]*$"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


ERROR_TEXTS = {
    400: "Bad input (malformed JSON, wrong types, bad framing, out-of-range values)",
    404: "No such task or route",
    405: "Method not allowed",
    408: "The request was not sent in time",
    413: f"Body over {MAX_BODY_BYTES} bytes (also chunked)",
    415: "Content-Type is not application/json",
    500: "Deliberate failure",
    503: "Busy (admission control, with Retry-After) or the database is unavailable",
}


def _responses(ok: dict[str, dict[str, Any]], *codes: int) -> dict[str, Any]:
    """The success responses plus references to the shared JSON error responses."""
    return ok | {str(code): {"$ref": f"#/components/responses/E{code}"} for code in codes}


def _op(operation_id: str, summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """One operation; its operationId is the Flask endpoint name (the `endpoint` metric label)."""
    return {"operationId": operation_id, "summary": summary, **extra, "responses": responses}


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema}


def _int(minimum: int, maximum: int, default: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": minimum, "maximum": maximum, "default": default}


TASK_ID = {
    "name": "task_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": INT_MAX},
}
TASK_LINKS = {
    "GetTask": {"operationId": "get_task", "parameters": {"task_id": "$response.body#/id"}},
    "UpdateTask": {"operationId": "update_task", "parameters": {"task_id": "$response.body#/id"}},
    "DeleteTask": {"operationId": "delete_task", "parameters": {"task_id": "$response.body#/id"}},
}


def _task_fields(required: list[str] | None, min_properties: int = 0) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "title": {
                "type": "string",
                "minLength": 1,
                "pattern": TITLE_PATTERN,
                "description": f"1-{TITLE_MAX} characters after trimming surrounding blanks; no NUL",
            },
            "description": {
                "type": ["string", "null"],
                "maxLength": DESCRIPTION_MAX,
                "pattern": NO_NUL,
                "description": "null is stored as an empty string",
            },
            "completed": {"type": "boolean"},
        },
    }
    if required:
        schema["required"] = required
    if min_properties:
        schema["minProperties"] = min_properties
    return schema


def build_spec(version: str) -> dict[str, Any]:
    """The document (a fresh dict each call)."""
    error_responses = {f"E{code}": _json(_ref("Error"), text) for code, text in ERROR_TEXTS.items()}
    error_responses["E503"]["headers"] = {
        "Retry-After": {"description": "seconds (admission control)", "schema": {"type": "string"}}
    }
    task_body = {"required": True, "content": {JSON: {"schema": _task_fields(["title"])}}}
    update_body = {"required": True, "content": {JSON: {"schema": _task_fields(None, min_properties=1)}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Lab task manager API (flask-backend)",
            "version": version,
            "description": "Every error is JSON {\"error\": \"...\"}; only /api/simulate-error answers 5xx "
            "on purpose (503 means busy or database down).",
        },
        "paths": {
            "/": {"get": _op("index", "Map of the API", {"200": _json(_ref("Index"), "Service, endpoints")})},
            "/openapi.json": {"get": _op("openapi", "This document",
                                         {"200": _json({"type": "object"}, "OpenAPI 3.1")})},
            "/health": {"get": _op("health", "Liveness (no database)",
                                   {"200": _json(_ref("Health"), "Alive")})},
            "/ready": {"get": _op("ready", "Readiness (SELECT 1)", {
                "200": _json(_ref("Ready"), "Ready"),
                "503": _json(_ref("NotReady"), "Database unavailable"),
            })},
            "/metrics": {"get": _op("metrics", "Prometheus exposition", {"200": {
                "description": "Text format, or OpenMetrics when the Accept header asks for it",
                "content": {"text/plain": {"schema": {"type": "string"}},
                            "application/openmetrics-text": {"schema": {"type": "string"}}},
            }})},
            "/api/tasks": {
                "get": _op("get_all_tasks", "A page of tasks, newest first",
                           _responses({"200": _json(_ref("TaskPage"), "The page")}, 400),
                           parameters=[_query("limit", _int(1, 1000, 100)),
                                       _query("offset", _int(0, INT_MAX, 0))]),
                "post": _op("create_task", "Create a task", _responses({"201": {
                    **_json(_ref("Task"), "Created"),
                    "headers": {"Location": {"description": "relative URL of the task",
                                             "schema": {"type": "string"}}},
                    "links": TASK_LINKS,
                }}, 400, 413, 415, 503), requestBody=task_body),
            },
            "/api/tasks/{task_id}": {
                "parameters": [TASK_ID],
                "get": _op("get_task", "One task", _responses(
                    {"200": {**_json(_ref("Task"), "The task"), "links": TASK_LINKS}}, 400, 404)),
                "put": _op("update_task", "Change any of the fields (at least one)", _responses(
                    {"200": {**_json(_ref("Task"), "Updated"), "links": TASK_LINKS}}, 400, 404, 413, 415, 503,
                ), requestBody=update_body),
                "delete": _op("delete_task", "Delete a task (its id is never reused)", _responses(
                    {"200": _json(_ref("Deleted"), "Deleted")}, 400, 404, 503)),
            },
            "/api/simulate-slow": {"get": _op(
                "simulate_slow", "Sleep `delay` seconds",
                _responses({"200": _json(_ref("Slow"), "Slept")}, 400, 503),
                parameters=[_query("delay", {"type": "number", "minimum": 0, "maximum": 10, "default": 1})],
            )},
            "/api/simulate-error": {"get": _op(
                "simulate_error", "Always a JSON 500 (on purpose)", _responses({}, 500))},
            "/api/smoke/db": {"post": _op(
                "db_smoke", "N statements in one transaction, always rolled back",
                _responses({"200": _json(_ref("Smoke"), "Done and rolled back")}, 400, 503),
                parameters=[
                    _query("ops", _int(1, 5000, 100)),
                    _query("type", {"type": "string", "enum": ["read", "write", "rw"], "default": "read"}),
                ],
            )},
        },
        "components": {
            "responses": error_responses,
            "schemas": {
                "Error": {"type": "object", "required": ["error"],
                          "properties": {"error": {"type": "string", "minLength": 1}}},
                "Task": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["id", "title", "description", "completed", "created_at", "updated_at"],
                    "properties": {
                        "id": {"type": "integer", "minimum": 1, "maximum": INT_MAX},
                        "title": {"type": "string", "minLength": 1, "maxLength": TITLE_MAX},
                        "description": {"type": "string", "maxLength": DESCRIPTION_MAX},
                        "completed": {"type": "boolean"},
                        "created_at": {"type": "string", "format": "date-time"},
                        "updated_at": {"type": "string", "format": "date-time"},
                    },
                },
                "TaskPage": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["count", "limit", "offset", "tasks"],
                    "properties": {
                        "count": {"type": "integer", "minimum": 0},
                        "limit": {"type": "integer", "minimum": 1, "maximum": 1000},
                        "offset": {"type": "integer", "minimum": 0},
                        "tasks": {"type": "array", "items": _ref("Task")},
                    },
                },
                "Deleted": {"type": "object", "required": ["deleted", "id"], "additionalProperties": False,
                            "properties": {"deleted": {"const": True},
                                           "id": {"type": "integer", "minimum": 1}}},
                "Health": {"type": "object", "required": ["status"],
                           "properties": {"status": {"const": "ok"}}},
                "Ready": {"type": "object", "required": ["status", "database"],
                          "properties": {"status": {"const": "ready"}, "database": {"const": "ok"}}},
                "NotReady": {"type": "object", "required": ["status", "error"],
                             "properties": {"status": {"const": "unavailable"}, "error": {"type": "string"}}},
                "Slow": {"type": "object", "required": ["delayed_seconds"], "additionalProperties": False,
                         "properties": {"delayed_seconds": {"type": "number", "minimum": 0, "maximum": 10}}},
                "Smoke": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["ops", "type", "reads", "writes", "rolled_back", "duration_ms"],
                    "properties": {
                        "ops": {"type": "integer", "minimum": 1, "maximum": 5000},
                        "type": {"enum": ["read", "write", "rw"]},
                        "reads": {"type": "integer", "minimum": 0},
                        "writes": {"type": "integer", "minimum": 0},
                        "rolled_back": {"const": True},
                        "duration_ms": {"type": "number", "minimum": 0},
                    },
                },
                "Index": {"type": "object", "required": ["service", "version", "endpoints"],
                          "properties": {"service": {"type": "string"}, "version": {"type": "string"},
                                         "endpoints": {"type": "array", "items": {"type": "string"}}}},
            },
        },
    }
