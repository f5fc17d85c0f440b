"""Settings of one app instance: environment first, then the `config` mapping given to create_app.

One object, read once at start-up, so that a test can build many apps with different settings in
one process and nothing reads `os.environ` while serving requests.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from taskapp.version import __version__

DEFAULT_SERVICE_NAME = "flask-backend"
DEFAULT_ENVIRONMENT = "lab"
DEFAULT_OTLP_ENDPOINT = "http://localhost:4318"
# Seconds an OTLP export may take before the batch is dropped: short, so a hanging collector
# only ever costs the background export thread, and shutdown stays bounded.
DEFAULT_EXPORT_TIMEOUT_S = 3.0
MAX_BODY_BYTES = 64 * 1024
# Concurrent /api/simulate-slow and /api/smoke/db requests (each kind): the server has 8 app
# threads, so together they can take at most 5 and normal requests keep 3 (ADR 0007).
DEFAULT_MAX_SLOW = 3
DEFAULT_MAX_SMOKE = 2

_TRUE = {"1", "true", "yes", "on"}


def _default_database_url() -> str:
    """A writable SQLite file for people who run `python -m taskapp` with no DATABASE_URL."""
    base = os.path.join(tempfile.gettempdir(), f"taskapp-{os.getuid() if hasattr(os, 'getuid') else 0}")
    return "sqlite:///" + os.path.join(base, "tasks.db")


def normalise_database_url(url: str) -> str:
    """Make `postgresql://` mean psycopg 3: SQLAlchemy 2.0 would pick psycopg2, which we do not ship."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in _TRUE


@dataclass(frozen=True)
class Settings:
    """Everything create_app needs to know; see README's table of environment variables."""

    database_url: str
    service_name: str = DEFAULT_SERVICE_NAME
    service_version: str = __version__
    environment: str = DEFAULT_ENVIRONMENT
    otlp_endpoint: str = DEFAULT_OTLP_ENDPOINT
    otlp_traces_endpoint: str | None = None
    otlp_logs_endpoint: str | None = None
    export_timeout_s: float = DEFAULT_EXPORT_TIMEOUT_S
    sdk_disabled: bool = False
    log_level: str = "INFO"
    max_slow: int = DEFAULT_MAX_SLOW
    max_smoke: int = DEFAULT_MAX_SMOKE
    # Injected by tests (or embedders) instead of the OTLP pipeline built from the settings above.
    tracer_provider: Any = None
    logger_provider: Any = None
    log_stream: TextIO | None = None
    flask: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(
        cls, config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Merge the environment with `config` (config wins) into one validated Settings."""
        env = dict(os.environ if environ is None else environ)
        cfg = dict(config or {})

        def get(name: str, default: Any = None) -> Any:
            if name in cfg:
                return cfg[name]
            value = env.get(name)
            return default if value in (None, "") else value

        timeout = get("OTEL_EXPORTER_OTLP_TIMEOUT", DEFAULT_EXPORT_TIMEOUT_S)
        try:
            export_timeout = float(timeout)
        except (TypeError, ValueError):
            raise ValueError(
                f"OTEL_EXPORTER_OTLP_TIMEOUT must be a number of seconds, got {timeout!r}"
            ) from None
        limits = {}
        limit_defaults = (("TASKAPP_MAX_SLOW", DEFAULT_MAX_SLOW), ("TASKAPP_MAX_SMOKE", DEFAULT_MAX_SMOKE))
        for key, default in limit_defaults:
            raw = get(key, default)
            if not str(raw).strip().isdigit() or int(raw) < 1:
                raise ValueError(f"{key} must be a positive integer (concurrent requests), got {raw!r}")
            limits[key] = int(raw)
        if export_timeout > 1000:  # someone followed the spec's milliseconds; the Python SDK takes seconds
            export_timeout = export_timeout / 1000.0
        own_keys = {
            "DATABASE_URL", "OTEL_SERVICE_NAME", "APP_VERSION", "DEPLOYMENT_ENVIRONMENT",
            "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_SDK_DISABLED",
            "LOG_LEVEL", "TRACER_PROVIDER", "LOGGER_PROVIDER", "LOG_STREAM",
            "TASKAPP_MAX_SLOW", "TASKAPP_MAX_SMOKE",
        }  # fmt: skip
        return cls(
            database_url=normalise_database_url(str(get("DATABASE_URL", _default_database_url()))),
            service_name=str(get("OTEL_SERVICE_NAME", DEFAULT_SERVICE_NAME)),
            service_version=str(get("APP_VERSION", __version__)),
            environment=str(get("DEPLOYMENT_ENVIRONMENT", DEFAULT_ENVIRONMENT)),
            otlp_endpoint=str(get("OTEL_EXPORTER_OTLP_ENDPOINT", DEFAULT_OTLP_ENDPOINT)).rstrip("/"),
            otlp_traces_endpoint=get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
            otlp_logs_endpoint=get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"),
            export_timeout_s=export_timeout,
            sdk_disabled=_as_bool(get("OTEL_SDK_DISABLED", "false")),
            log_level=str(get("LOG_LEVEL", "INFO")).upper(),
            max_slow=limits["TASKAPP_MAX_SLOW"],
            max_smoke=limits["TASKAPP_MAX_SMOKE"],
            tracer_provider=cfg.get("TRACER_PROVIDER"),
            logger_provider=cfg.get("LOGGER_PROVIDER"),
            log_stream=cfg.get("LOG_STREAM"),
            flask={k: v for k, v in cfg.items() if k not in own_keys and k.isupper()},
        )

    @property
    def traces_endpoint(self) -> str:
        """Full OTLP/HTTP URL for spans (the signal-specific variable wins, as the spec says)."""
        return self.otlp_traces_endpoint or f"{self.otlp_endpoint}/v1/traces"

    @property
    def logs_endpoint(self) -> str:
        """Full OTLP/HTTP URL for log records."""
        return self.otlp_logs_endpoint or f"{self.otlp_endpoint}/v1/logs"
