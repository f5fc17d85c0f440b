"""`python -m bench` (what `tox -e bench` runs): every benchmark, in bounded time, one after another.

    python -m bench [--only app,lab,suite,shards,vagrant] [--quick]

- app:   app throughput and latency (the seed's serving vs ours; telemetry on/off; collector down);
- lab:   a docker lab of its own (LAB_PROJECT, default obslab-bench): deploy cold/warm, footprint,
         signal delay per settings set (the seed's in the same run), the scale curve;
- suite: the acceptance suite on the docker target, every wait against the measured delays;
- vagrant: the vagrant target's deploy phases under TCG (`reports/vagrant/timings.json` of the
         last vagrant run; never runs a VM itself — see README "Benchmarks").

Results: reports/bench/<name>.json and .md, a summary (summary.md) of every table, on stdout too.
Needs wrk (`apt-get install wrk`) and the Docker engine with the lab/*:local images.
"""

from __future__ import annotations

import argparse
import sys
import time

from bench.common import DEFAULT_OUT, say

PARTS = ("app", "lab", "suite", "shards", "vagrant")
ORDER = ("app_throughput", "signal_delay", "scale", "footprint", "deploy", "harness", "shards_docker",
         "shards_vagrant", "vagrant")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(PARTS[:3]) + ",vagrant",
                        help=f"comma-separated parts of {', '.join(PARTS)}")
    parser.add_argument("--quick", action="store_true", help="shorter runs (smoke test of the benchmarks)")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"--only: unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    from bench.loadgen import require_wrk

    if "app" in parts or "lab" in parts:
        require_wrk()
    started = time.monotonic()
    if "app" in parts:
        from bench import app_throughput

        app_throughput.main(["--seconds", "3", "--rounds", "1"] if args.quick else ["--rounds", "3"])
    if "lab" in parts:
        from bench import lab_bench

        lab_bench.main(["--samples", "50", "--levels", "1,4", "--scale-seconds", "4"] if args.quick else [])
    if "suite" in parts:
        from bench import suite

        # --quick: the scenarios that are neither @load, @destructive nor @ui (about a minute)
        suite.main(["--", "-m", "not load and not destructive and not ui"] if args.quick else [])
    if "shards" in parts:
        from bench import shards

        shards.main(["--", "-m", "not load and not destructive and not ui"] if args.quick else [])
    if "vagrant" in parts:
        from bench import vagrant_timings

        vagrant_timings.main([])
    write_summary()
    say(f"all benchmarks done in {time.monotonic() - started:.0f} s; results in {DEFAULT_OUT}")
    return 0


def write_summary() -> None:
    """reports/bench/summary.md: every table of this and earlier runs, in a fixed order."""
    texts = [(DEFAULT_OUT / f"{name}.md") for name in ORDER]
    body = "\n".join(p.read_text() for p in texts if p.is_file())
    (DEFAULT_OUT / "summary.md").write_text(body)


if __name__ == "__main__":
    sys.exit(main())
