"""Container health check with the standard library only (no curl in the image, and fast to start).

Usage: python3 /app/healthcheck.py [URL]   (default http://127.0.0.1:5000/ready); exit 0 when 2xx.
"""

from __future__ import annotations

import sys
import urllib.request


def main(argv: list[str]) -> int:
    """Return 0 when the URL answers 2xx within 3 s, else 1 (what HEALTHCHECK expects)."""
    url = argv[1] if len(argv) > 1 else "http://127.0.0.1:5000/ready"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return 0 if 200 <= response.status < 300 else 1
    except Exception as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
