"""Every error leaves as JSON {"error": "..."}: clients and the harness never parse HTML pages."""

from __future__ import annotations

from flask import Flask, Response, jsonify
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from taskapp.logs import log_safely
from taskapp.models import db
from taskapp.settings import MAX_BODY_BYTES
from taskapp.state import current_state
from taskapp.validation import ApiError


class SimulatedError(RuntimeError):
    """Raised on purpose by /api/simulate-error, to show an error in every signal."""


def _rollback() -> None:
    """Leave the session usable for the next request; a broken connection must not raise here."""
    try:
        db.session.rollback()
    except Exception:  # the error being handled is what matters
        log_safely(current_state().logger, 30, "Rollback after an error failed")


def _json_error(status: int, message: str) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    """Map client errors, routing errors, database outages and bugs to JSON responses."""

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        response = _json_error(exc.status, exc.message)
        response.headers.update(exc.headers)
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        if status == 413:
            message = f"request body too large: the limit is {MAX_BODY_BYTES} bytes"
        elif 300 <= status < 400:
            # Werkzeug's routing redirects (built from the client's Host) are never sent: the
            # URL map neither merges slashes nor adds them, so this path is simply unknown.
            return _json_error(404, "not found")
        else:
            message = (exc.name or "error").lower()
        response = _json_error(status, message)
        for name, value in exc.get_headers():
            if name.lower() not in ("content-type", "content-length"):
                response.headers[name] = value
        return response

    @app.errorhandler(SimulatedError)
    def simulated_error(exc: SimulatedError) -> Response:
        log_safely(current_state().logger, 40, "Simulated error", {"error.type": type(exc).__name__}, exc)
        return _json_error(500, "simulated error")

    @app.errorhandler(OperationalError)
    def database_unavailable(exc: OperationalError) -> Response:
        _rollback()
        fields = {"error.type": type(exc).__name__}
        log_safely(current_state().logger, 40, "Database unavailable", fields, exc)
        return _json_error(503, "database unavailable")

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        _rollback()
        log_safely(current_state().logger, 40, "Unhandled exception", {"error.type": type(exc).__name__}, exc)
        return _json_error(500, "internal server error")
