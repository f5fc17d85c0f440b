"""gunicorn settings for the container and for `python -m taskapp`.

Loaded with `gunicorn -c python:taskapp.gunicorn_conf taskapp.wsgi:app`.

One worker with threads by default: prometheus_client keeps metrics per process, so more workers
would each expose only their share (scale with GUNICORN_THREADS, or run more containers).
Measured (bench/app_throughput.py, 2 cores, two runs): 2 workers serve 1.5-1.7x the GETs of one
but 1.0-1.3x the POSTs (SQLite has one writer), and prometheus_client's multiprocess mode, which
they would need, keeps no exemplars — the trace ids the lab's metric-to-trace correlation reads.
Not worth that here.
4 threads instead of 8 served 1.2x the GETs and as many POSTs in one run (a loaded machine; rounds
spread by 20 %), but 8 is what the admission limits of ADR 0007 are sized for (3 slow + 2 smoke
requests at most, 3 threads left for the rest).

The worker class is gthread with a buffering event loop (taskapp.worker.TaskappWorker): requests
are read without a thread, probes and scrapes have threads of their own. Limits, and why:
docs/adr/0007-hostile-clients.md.
"""

from __future__ import annotations

import os
from typing import Any

bind = os.environ.get(
    "GUNICORN_BIND", f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '5000')}"
)
workers = int(os.environ.get("GUNICORN_WORKERS", "1"))
worker_class = "taskapp.worker.TaskappWorker"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# Open connections the worker holds at most (reading, running, kept alive); beyond it new
# connections wait in the listen backlog instead of costing memory.
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
backlog = 2048
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))  # > the 10 s ceiling of /api/simulate-slow
graceful_timeout = 8  # below Docker's 10 s stop grace period
keepalive = 5  # seconds an idle connection (new or kept alive) may stay before its first byte
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
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
