"""`python -m taskapp --host 127.0.0.1 --port 5000`: the same app as the container, served by gunicorn
(waitress where gunicorn cannot run, or with --server waitress). Never the Flask dev server."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m taskapp", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "5000")))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("GUNICORN_THREADS", "8")))
    parser.add_argument(
        "--server",
        choices=("gunicorn", "waitress"),
        default="gunicorn" if os.name == "posix" else "waitress",
        help="WSGI server (default: gunicorn on POSIX)",
    )
    return parser.parse_args(argv)


def _serve_gunicorn(args: argparse.Namespace) -> None:
    from gunicorn.app.base import BaseApplication

    from taskapp import gunicorn_conf

    class _App(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for name in dir(gunicorn_conf):
                value = getattr(gunicorn_conf, name)
                if name in self.cfg.settings and value is not None:
                    self.cfg.set(name, value)
            self.cfg.set("bind", f"{args.host}:{args.port}")
            self.cfg.set("threads", args.threads)

        def load(self) -> Any:
            from taskapp.wsgi import app  # built in the worker, after fork

            return app

    _App().run()


def _serve_waitress(args: argparse.Namespace) -> None:
    import waitress

    from taskapp import create_app, shutdown
    from taskapp.logs import configure_process_logging

    configure_process_logging(os.environ.get("LOG_LEVEL", "INFO").upper())
    app = create_app()
    try:
        waitress.serve(app, host=args.host, port=args.port, threads=args.threads, ident="taskapp")
    finally:
        shutdown(app, timeout_s=3.0)


def main(argv: list[str] | None = None) -> int:
    """Serve until interrupted."""
    args = _parse(argv)
    if args.server == "gunicorn":
        _serve_gunicorn(args)
    else:
        _serve_waitress(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
