"""How long after a request its trace, its log records and its metric are visible.

Runs against a lab that is already up (`lab up`), through the harness's own clients, and prints
p50/p95/max per signal. A benchmark, not a test: it never fails on slowness.

    python bench/signal_delay.py [--samples 10] [--target docker] [--stores jaeger-victorialogs]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.config import LabConfig
from harness.lab import Lab
from harness.signals.tracecontext import new_traceparent
from harness.targets import choose

POLL = 0.1
LIMIT = 60.0


def first_seen(checks: dict[str, Callable[[], bool]], started: float) -> dict[str, float]:
    """Poll every signal in turn until each is seen (or LIMIT passes): seconds since ``started``."""
    seen: dict[str, float] = {}
    while len(seen) < len(checks) and time.monotonic() - started < LIMIT:
        for name, check in checks.items():
            if name not in seen and check():
                seen[name] = time.monotonic() - started
        time.sleep(POLL)
    return {name: seen.get(name, float("nan")) for name in checks}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--target", default=None)
    parser.add_argument("--stores", default=None)
    args = parser.parse_args(argv)
    config = LabConfig.from_sources({"target": args.target, "stores": args.stores})
    target, reason = choose(config)
    lab = Lab.connect(config, target)
    print(f"target {target.name} ({reason}); stores {config.stores}; {args.samples} samples", flush=True)
    counter = 'sum(http_requests_total{endpoint="create_task",status_code="201"})'
    delays: dict[str, list[float]] = {"trace": [], "log": [], "metric": []}
    for i in range(args.samples):
        header, trace_id, _ = new_traceparent()
        before = sum(r["value"] for r in lab.prometheus.query(counter))
        started = time.monotonic()
        status, _ = lab.front.create_task(f"delay sample {i}", traceparent=header)
        assert status == 201, status
        seen = first_seen({
            "trace": lambda t=trace_id: lab.traces.get_trace(t) is not None,
            "log": lambda t=trace_id: bool(lab.logs.query("flask-backend", trace_id=t)),
            "metric": lambda b=before: sum(r["value"] for r in lab.prometheus.query(counter)) > b,
        }, started)
        for name, value in seen.items():
            delays[name].append(value)
        print(f"  sample {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in delays.items()), flush=True)
    print("signal   p50     p95     max   (seconds from sending the request)")
    for name, values in delays.items():
        ok = sorted(v for v in values if v == v)
        p95 = ok[min(len(ok) - 1, round(0.95 * (len(ok) - 1)))] if ok else float("nan")
        print(f"{name:7} {statistics.median(ok) if ok else float('nan'):6.2f}  {p95:6.2f}  "
              f"{max(ok) if ok else float('nan'):6.2f}  ({len(values) - len(ok)} never seen)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
