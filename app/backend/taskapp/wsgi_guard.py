"""The outermost WSGI layer: whatever escapes Flask still leaves as a JSON 500.

Flask's last resort, when an error handler or a request hook itself raises, is an HTML
"Internal Server Error" page. Telemetry hooks (the OpenTelemetry instrumentation wraps the app)
and log handlers are the usual suspects; none of them may turn an error body into HTML.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable
from typing import Any

from taskapp.logs import log_safely

BODY = b'{"error":"internal server error"}\n'


class JsonErrorGuard:
    """Wrap a WSGI app; an exception raised before the response started becomes a JSON 500."""

    def __init__(self, app: Callable[..., Iterable[bytes]], logger: logging.Logger) -> None:
        self.app = app
        self.logger = logger

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = False

        def tracking_start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            nonlocal started
            started = True
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, tracking_start_response)
        except Exception as exc:
            log_safely(self.logger, logging.ERROR, "Unhandled exception outside the app's handlers",
                       {"error.type": type(exc).__name__}, exc_info=exc)
            headers = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]
            # With exc_info the server replaces a response that had started but not been sent.
            start_response("500 INTERNAL SERVER ERROR", headers, sys.exc_info() if started else None)
            return [BODY]
