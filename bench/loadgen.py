"""wrk, the load generator of the benchmarks (Debian: `apt-get install wrk`), bounded and on loopback.

One call = one wrk run of a fixed duration at a fixed number of connections against one URL;
the result is parsed from the JSON line that ``wrk_report.lua`` prints.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

SCRIPT = Path(__file__).resolve().parent / "wrk_report.lua"
LOOPBACK_PREFIXES = ("127.", "localhost", "[::1]")


class LoadgenMissing(SystemExit):
    """wrk is not installed: one line saying how to get it."""


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise LoadgenMissing("bench: wrk is not installed; install it with `apt-get install wrk` (Debian)")
    return path


@dataclass
class WrkResult:
    """What one wrk run measured (latencies in milliseconds)."""

    url: str
    method: str
    connections: int
    threads: int
    seconds: float
    requests: int
    rps: float
    errors: int  # connect/read/write errors, timeouts and non-2xx/3xx answers
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    def to_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def run_wrk(url: str, *, method: str = "GET", connections: int = 8, threads: int = 2, seconds: float = 10,
            body: str | None = None, timeout_s: float = 5) -> WrkResult:
    """Run wrk once (``seconds`` long, ``connections`` kept-alive connections) and parse its summary."""
    host = urlsplit(url).hostname or ""
    if not host.startswith(LOOPBACK_PREFIXES):
        raise ValueError(f"bench: load goes to loopback only, not to {host!r}")
    threads = max(1, min(threads, connections))
    env = {"BENCH_METHOD": method, "PATH": "/usr/bin:/bin"}
    if body is not None:
        env["BENCH_BODY"] = body
    cmd = [require_wrk(), f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", f"--timeout={timeout_s:g}s",
           "-s", str(SCRIPT), url]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + timeout_s + 30)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    duration = raw["duration_us"] / 1e6
    kinds = ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    errors = sum(raw[k] for k in kinds)
    return WrkResult(
        url=url, method=method, connections=connections, threads=threads, seconds=round(duration, 3),
        requests=raw["requests"], rps=raw["requests"] / duration if duration else 0.0, errors=errors,
        p50_ms=raw["p50_us"] / 1000, p90_ms=raw["p90_us"] / 1000, p95_ms=raw["p95_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000, max_ms=raw["latency_max_us"] / 1000,
    )
