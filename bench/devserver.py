"""The seed's way of serving, for comparison only: the app under Flask's development server.

    python bench/devserver.py --host 127.0.0.1 --port 5001

Same app (``taskapp.create_app``), same settings and logging as the image; only the server differs
(Werkzeug's threaded development server, as ``app.run()`` starts it). Never used to serve the lab.
"""

from __future__ import annotations

import argparse
import os

from taskapp import create_app
from taskapp.logs import configure_process_logging


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    configure_process_logging(os.environ.get("LOG_LEVEL", "INFO").upper())
    app = create_app()
    app.run(host=args.host, port=args.port, threaded=True, debug=False, use_reloader=False)


if __name__ == "__main__":
    main()
