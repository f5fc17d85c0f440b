"""taskapp: the lab's instrumented task manager (Flask + SQLAlchemy, observed three ways).

`create_app(config=None)` builds one independent app: its own database engine, metric registry,
logger and OTel providers, so tests can build many apps in one process and inject their own
(in-memory) tracer and logger providers through `config`.
"""

from __future__ import annotations

# isort: off
import taskapp.otel_env  # first: corrects OTEL_PROPAGATORS before OpenTelemetry reads it
# isort: on

import contextlib
import os
import re
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, g, request
from sqlalchemy import event
from sqlalchemy.engine import make_url

from taskapp.admission import Admission
from taskapp.api import api_endpoints, register_routes
from taskapp.body import read_body
from taskapp.errors import register_error_handlers
from taskapp.logs import build_app_logger, log_safely, trace_fields
from taskapp.metrics import Metrics
from taskapp.migrations import migrate_sqlite
from taskapp.models import db
from taskapp.settings import MAX_BODY_BYTES, Settings
from taskapp.state import EXTENSION_KEY, AppState, current_state
from taskapp.telemetry import build_telemetry
from taskapp.version import __version__
from taskapp.wsgi_guard import JsonErrorGuard

__all__ = ["__version__", "create_app", "shutdown"]

_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


def _engine_options(database_url: str) -> dict[str, Any]:
    """Driver settings that keep failures short and visible instead of hanging requests."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return {"connect_args": {"timeout": 30}}
    if url.get_backend_name() == "postgresql":
        return {"pool_pre_ping": True, "pool_recycle": 1800, "connect_args": {"connect_timeout": 5}}
    return {"pool_pre_ping": True}


def _prepare_sqlite_file(database_url: str) -> None:
    """Create the directory of a SQLite file, so a fresh volume or temp dir just works."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        directory = os.path.dirname(os.path.abspath(url.database))
        os.makedirs(directory, exist_ok=True)


def _enable_sqlite_wal(engine: Any) -> None:
    """WAL lets readers run while a writer holds the lock (many threads, one file)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()


def _create_schema(attempts: int = 3) -> None:
    """create_all, retried: several workers may race to create the table on a fresh database."""
    for attempt in range(attempts):
        try:
            db.create_all()
            return
        except Exception:
            db.session.rollback()
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))


def _register_request_hooks(app: Flask) -> None:
    """The two log lines, the HTTP metrics and the correlation headers of every request."""

    @app.before_request
    def _request_started() -> None:
        g.taskapp_started = time.perf_counter()
        fields: dict[str, Any] = {"method": request.method, "path": request.path}
        request_id = request.headers.get("X-Request-ID", "")
        if _REQUEST_ID_RE.fullmatch(request_id):
            g.taskapp_request_id = request_id
            fields["request_id"] = request_id
        log_safely(current_state().logger, 20, "Incoming request", fields)
        # The whole body, bounded, before any view: a 413 or a framing 400 here, never a cut body.
        read_body(request.environ, MAX_BODY_BYTES)

    @app.after_request
    def _request_finished(response: Response) -> Response:
        with contextlib.suppress(Exception):  # metrics or logs never cost the user the response
            _observe(response)
        return response

    def _observe(response: Response) -> None:
        state = current_state()
        elapsed = time.perf_counter() - g.get("taskapp_started", time.perf_counter())
        endpoint = request.url_rule.endpoint if request.url_rule is not None else None
        state.metrics.observe_request(request.method, endpoint, response.status_code, elapsed)
        fields: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": round(elapsed * 1000, 3),
        }
        request_id = g.get("taskapp_request_id")
        if request_id:
            fields["request_id"] = request_id
            response.headers["X-Request-ID"] = request_id
        ids = trace_fields()
        if ids:
            response.headers["X-Trace-Id"] = ids["trace_id"]
        level = 40 if response.status_code >= 500 else 20  # ERROR / INFO
        log_safely(state.logger, level, "Request completed", fields)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. `config` overrides the environment (same names: DATABASE_URL, OTEL_*, LOG_LEVEL,
    …) and may inject TRACER_PROVIDER, LOGGER_PROVIDER and LOG_STREAM; other upper-case keys go to
    Flask's config."""
    settings = Settings.load(config)
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.config.update(
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings.database_url),
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
    )
    app.config.update(settings.flask)
    _prepare_sqlite_file(settings.database_url)

    telemetry = build_telemetry(settings)
    telemetry.instrument_flask(app)  # before our hooks: the server span must be active in them
    metrics = Metrics(process_metrics=bool(app.config.get("PROCESS_METRICS", True)))
    logger = build_app_logger(
        level=settings.log_level,
        service_name=settings.service_name,
        stream=settings.log_stream,
        logger_provider=telemetry.logger_provider,
    )
    app.extensions[EXTENSION_KEY] = AppState(
        settings=settings,
        telemetry=telemetry,
        metrics=metrics,
        logger=logger,
        slow_slots=Admission("simulate-slow", settings.max_slow),
        smoke_slots=Admission("db-smoke", settings.max_smoke),
    )
    taskapp.otel_env.report_problems(logger)
    for problem in telemetry.problems:
        log_safely(logger, 30, "Telemetry disabled in part", {"problem": problem})

    # No redirect is ever built from the client's Host: `/api//tasks` is a 404, not a 308 to
    # http://<Host>/api/tasks (Werkzeug's merge_slashes would answer that redirect).
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = True
    db.init_app(app)
    register_error_handlers(app)
    register_routes(app)
    for method, endpoint, success in api_endpoints(app):
        metrics.declare(method, endpoint, success)
    _register_request_hooks(app)
    app.wsgi_app = JsonErrorGuard(app.wsgi_app, logger)  # type: ignore[method-assign]

    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
            _enable_sqlite_wal(engine)
        _create_schema()
        migrate_sqlite(engine, logger)
        metrics.instrument_engine(engine)
        telemetry.instrument_engine(engine)
    return app


def shutdown(app: Flask, timeout_s: float = 5.0) -> None:
    """Flush telemetry (bounded) and close database connections; servers call it on exit."""
    state: AppState | None = app.extensions.get(EXTENSION_KEY)
    if state is not None:
        state.telemetry.shutdown(timeout_s)
    with app.app_context():
        db.engine.dispose()
