"""gunicorn settings for the container and for `python -m taskapp`.

Loaded with `gunicorn -c python:taskapp.gunicorn_conf taskapp.wsgi:app`.

One worker with threads by default: prometheus_client keeps metrics per process, so more workers
would each expose only their share (scale with GUNICORN_THREADS, or run more containers).
"""

from __future__ import annotations

import os
from typing import Any

bind = os.environ.get(
    "GUNICORN_BIND", f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '5000')}"
)
workers = int(os.environ.get("GUNICORN_WORKERS", "1"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))  # > the 10 s ceiling of /api/simulate-slow
graceful_timeout = 8  # below Docker's 10 s stop grace period
keepalive = 5
control_socket_disable = True  # no runtime control socket: nothing to write under $HOME
accesslog = None  # the app logs "Request completed" itself, as JSON with trace ids
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "taskapp.logs.JsonFormatter"}},
    "handlers": {
        "stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
    },
    "root": {"handlers": ["stdout"], "level": loglevel.upper()},
    "loggers": {
        "gunicorn.error": {"handlers": ["stdout"], "level": loglevel.upper(), "propagate": False},
        "gunicorn.access": {"handlers": ["stdout"], "level": "WARNING", "propagate": False},
    },
}


def worker_exit(server: Any, worker: Any) -> None:
    """Flush spans and logs (bounded) before the worker goes."""
    import sys

    wsgi = sys.modules.get("taskapp.wsgi")
    if wsgi is not None:
        from taskapp import shutdown

        shutdown(wsgi.app, timeout_s=float(os.environ.get("TASKAPP_SHUTDOWN_TIMEOUT", "3")))
