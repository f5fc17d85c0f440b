"""WSGI entry point for gunicorn (`taskapp.wsgi:app`): one app per worker process, built after fork."""

from __future__ import annotations

import os

from taskapp import create_app
from taskapp.logs import configure_process_logging

configure_process_logging(
    os.environ.get("LOG_LEVEL", "INFO").upper(), os.environ.get("OTEL_SERVICE_NAME", "flask-backend")
)
app = create_app()
