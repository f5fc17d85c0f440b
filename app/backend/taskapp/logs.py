"""Logs: JSON lines on stdout and OTel log records, both stamped with the active trace and span ids.

Each app gets its own logger object (outside the `logging` hierarchy), so tests can run several
apps side by side and the OTel handler never sees the SDK's own warnings (no feedback loop).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any, TextIO

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry._logs import LoggerProvider, SeverityNumber

from taskapp.version import __version__

LOGGER_NAME = "taskapp"
# Keys of the `fields` extra that travel as OTel attributes must be plain values.
_PLAIN = (str, int, float, bool)
_SEVERITY = (
    (logging.CRITICAL, SeverityNumber.FATAL, "FATAL"),
    (logging.ERROR, SeverityNumber.ERROR, "ERROR"),
    (logging.WARNING, SeverityNumber.WARN, "WARN"),
    (logging.INFO, SeverityNumber.INFO, "INFO"),
    (logging.DEBUG, SeverityNumber.DEBUG, "DEBUG"),
)


def trace_fields() -> dict[str, str]:
    """trace_id / span_id (32 / 16 lowercase hex) of the active span; empty when there is none."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return {}
    return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}


def _record_fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, dict) else {}


class TraceContextFilter(logging.Filter):
    """Stamp the ids when the record is made: formatting may happen later or elsewhere."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "otel_ids"):
            record.otel_ids = trace_fields()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: what log shippers and `jq` expect from a container."""

    def __init__(self, service_name: str = "flask-backend") -> None:
        super().__init__()
        self.service_name = service_name

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="microseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": self.service_name,
        }
        line.update(_record_fields(record))
        ids = getattr(record, "otel_ids", None)
        line.update(trace_fields() if ids is None else ids)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class OTelLogHandler(logging.Handler):
    """Turn `logging` records into OTel log records (body = message, fields = attributes)."""

    def __init__(self, logger_provider: LoggerProvider, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self._otel_logger = logger_provider.get_logger(LOGGER_NAME, __version__)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            attributes: dict[str, Any] = {
                k: v for k, v in _record_fields(record).items() if isinstance(v, _PLAIN)
            }
            ids = getattr(record, "otel_ids", None)
            attributes.update(trace_fields() if ids is None else ids)
            attributes["logger.name"] = record.name
            if record.exc_info and record.exc_info[0] is not None:
                attributes["exception.type"] = record.exc_info[0].__name__
                attributes["exception.message"] = str(record.exc_info[1])
                attributes["exception.stacktrace"] = logging.Formatter().formatException(record.exc_info)
            number, text = SeverityNumber.TRACE, "TRACE"
            for level, sev_number, sev_text in _SEVERITY:
                if record.levelno >= level:
                    number, text = sev_number, sev_text
                    break
            self._otel_logger.emit(
                timestamp=int(record.created * 1e9),
                observed_timestamp=time.time_ns(),
                context=otel_context.get_current(),
                severity_number=number,
                severity_text=text,
                body=record.getMessage(),
                attributes=attributes,
            )
        except Exception:  # a log pipeline must never break the request that logs
            self.handleError(record)


class RateLimitFilter(logging.Filter):
    """Let one record per (logger, template) through every `interval` seconds for noisy libraries.

    A dead collector makes the OTel SDK warn once per dropped span; without this, the warnings
    would cost more than the requests they are about.
    """

    def __init__(self, prefixes: tuple[str, ...] = ("opentelemetry",), interval: float = 10.0) -> None:
        super().__init__()
        self.prefixes = prefixes
        self.interval = interval
        self._last: dict[tuple[str, str], float] = {}
        self._suppressed: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.prefixes):
            return True
        key = (record.name, str(record.msg))
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(key, -self.interval) < self.interval:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return False
            self._last[key] = now
            suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            fields = _record_fields(record)
            fields["suppressed_since_last"] = suppressed
            record.fields = fields
        return True


def log_safely(logger: logging.Logger, level: int, message: str, fields: dict[str, Any] | None = None,
               exc_info: BaseException | None = None) -> None:
    """Log, and swallow anything the logging pipeline raises (a filter or handler that fails): a
    log line is never worth a user's request, nor an error body turned into an HTML page."""
    with contextlib.suppress(Exception):
        logger.log(level, message, exc_info=exc_info, extra={"fields": fields or {}})


def configure_process_logging(level: str = "INFO", service_name: str = "flask-backend") -> None:
    """Root logger -> JSON on stdout, for libraries and servers (entry points call this, not tests)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service_name))
    handler.addFilter(TraceContextFilter())
    handler.addFilter(RateLimitFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def build_app_logger(
    *,
    level: str,
    service_name: str,
    stream: TextIO | None,
    logger_provider: LoggerProvider | None,
) -> logging.Logger:
    """The app's private logger: JSON lines to `stream` (stdout) and, when given, OTel records."""
    logger = logging.Logger(LOGGER_NAME)  # deliberately not logging.getLogger: one per app, no parents
    logger.setLevel(level)
    logger.addFilter(TraceContextFilter())
    stream_handler = logging.StreamHandler(stream or sys.stdout)
    stream_handler.setFormatter(JsonFormatter(service_name))
    logger.addHandler(stream_handler)
    if logger_provider is not None:
        logger.addHandler(OTelLogHandler(logger_provider))
    return logger
