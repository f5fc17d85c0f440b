"""Input checking: every bad request becomes an ApiError (a JSON 4xx), never an exception deeper down.

The rules are strict on purpose: a value the database or the driver might choke on (a NUL byte, a
lone surrogate, an id past the column's range) is refused here, so no input can reach a 5xx.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from flask import request

from taskapp.models import DESCRIPTION_MAX, INT_MAX, TITLE_MAX

TASK_FIELDS = ("title", "description", "completed")
_INT_RE = re.compile(r"[+-]?[0-9]+")
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class ApiError(Exception):
    """A client error with its HTTP status; the error handler turns it into {"error": message}."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def read_json_object() -> dict[str, Any]:
    """The request body as a JSON object, or an ApiError saying exactly what is wrong with it."""
    if not request.is_json:
        raise ApiError(415, "Content-Type must be application/json")
    raw = request.get_data(cache=True)  # over MAX_CONTENT_LENGTH this raises a 413
    if not raw.strip():
        raise ApiError(400, "request body is empty; a JSON object is expected")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiError(400, "request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "request body must be a JSON object")
    return data


# What "surrounding blanks" are, exactly: ECMAScript's \s (white space and line terminators), the
# regex dialect JSON Schema patterns use, so the OpenAPI document and this code mean one thing
# (Python's own str.strip() also takes e.g. U+001F, which no schema validator calls a blank).
BLANKS = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)


def _clean_text(name: str, value: Any, *, maximum: int, trim: bool = False) -> str:
    """A string field checked for what the database cannot hold; `trim`: length counts after the
    surrounding blanks (:data:`BLANKS`) are removed."""
    if not isinstance(value, str):
        raise ApiError(400, f"{name} must be a string")
    if trim:
        value = value.strip(BLANKS)
    if "\x00" in value:
        raise ApiError(400, f"{name} must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, f"{name} must be valid Unicode text") from None
    if len(value) > maximum:
        raise ApiError(400, f"{name} must be at most {maximum} characters")
    return value


def parse_task(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """Validated task fields from a JSON object; `partial` for updates (at least one field)."""
    unknown = [key for key in data if key not in TASK_FIELDS]
    if unknown:
        shown = ", ".join(sorted(repr(key[:60]) for key in unknown))
        raise ApiError(400, f"unknown field(s): {shown}; allowed: {', '.join(TASK_FIELDS)}")
    out: dict[str, Any] = {}
    if "title" in data:
        title = _clean_text("title", data["title"], maximum=TITLE_MAX, trim=True)
        if not title:
            raise ApiError(400, "title must not be empty")
        out["title"] = title
    elif not partial:
        raise ApiError(400, "title is required")
    if "description" in data:
        description = data["description"]
        out["description"] = (
            "" if description is None else _clean_text("description", description, maximum=DESCRIPTION_MAX)
        )
    if "completed" in data:
        if not isinstance(data["completed"], bool):
            raise ApiError(400, "completed must be true or false")
        out["completed"] = data["completed"]
    if partial and not out:
        raise ApiError(400, f"nothing to update; give at least one of: {', '.join(TASK_FIELDS)}")
    return out


def parse_int(name: str, raw: str, *, minimum: int, maximum: int) -> int:
    """A decimal integer within bounds; ASCII digits only (int() also takes '1_0' and non-ASCII digits)."""
    text = raw.strip()
    if not _INT_RE.fullmatch(text) or len(text) > 20:
        raise ApiError(400, f"{name} must be an integer between {minimum} and {maximum}")
    value = int(text)
    if not minimum <= value <= maximum:
        raise ApiError(400, f"{name} must be an integer between {minimum} and {maximum}")
    return value


def int_arg(name: str, default: int, *, minimum: int, maximum: int) -> int:
    """An integer query parameter, or its default when absent."""
    raw = request.args.get(name)
    return default if raw is None else parse_int(name, raw, minimum=minimum, maximum=maximum)


def float_arg(name: str, default: float, *, minimum: float, maximum: float) -> float:
    """A finite decimal query parameter within bounds, or its default when absent."""
    raw = request.args.get(name)
    if raw is None:
        return default
    text = raw.strip()
    message = f"{name} must be a number between {minimum:g} and {maximum:g}"
    if not _FLOAT_RE.fullmatch(text) or len(text) > 40:
        raise ApiError(400, message)
    value = float(text)
    if not math.isfinite(value) or not minimum <= value <= maximum:
        raise ApiError(400, message)
    return value


def choice_arg(name: str, default: str, choices: tuple[str, ...]) -> str:
    """A query parameter that must be one of a few words."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if raw not in choices:
        raise ApiError(400, f"{name} must be one of: {', '.join(choices)}")
    return raw


def task_id_from(raw: str) -> int:
    """A task id from the URL: a positive integer that fits the id column."""
    return parse_int("task id", raw, minimum=1, maximum=INT_MAX)
