"""The acceptance suite's wall time with 1, 2 and 4 shards (a lab each), side by side in one run.

    python -m bench.shards [--target docker|vagrant] [--shards 1,2,4] [--rounds 1] [-- pytest args]

Each round runs ``pytest features --shards N`` once per N, in an order that alternates between
rounds (1 2 4, then 4 2 1, …) so a machine that grows busier does not favour one N. Every run
deploys its labs and destroys them (``LAB_DESTROY=always``), images cached (``LAB_IMAGE_SOURCE=local``).
Reported per run: the wall time (the command, start to exit), each shard's own time and its share
of the scenarios, the scenario counts, and the load average; a run that had a failing scenario is
said so (its time still counts: the suite ran all of it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import DEFAULT_OUT, REPO, Report, load_average, say

GOAL_S = 150.0  # issue 20: the docker suite in at most 150 s with 4 shards on this 2-core machine


def run_once(target: str, shards: int, extra: list[str], reports: Path, timeout: float) -> dict[str, Any]:
    env = dict(os.environ)
    env.update(LAB_TARGET=target, LAB_IMAGE_SOURCE=env.get("LAB_IMAGE_SOURCE", "local"), LAB_DESTROY="always",
               LAB_REPORTS_DIR=str(reports))
    env.setdefault("LAB_PROJECT", "obslab-bench-shards")
    if target == "vagrant":
        env.setdefault("LAB_TIMEOUT_SCALE", "6")
    cmd = [sys.executable, "-m", "pytest", "features", "-q", "-p", "no:cacheprovider",
           "--shards", str(shards), *extra]
    say(f"shards: {shards} on {target}: {' '.join(cmd[2:])} (reports {reports})")
    load = load_average()[0]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env=env, timeout=timeout, capture_output=True, text=True)
    wall = time.monotonic() - started
    (reports / "output.txt").write_text(proc.stdout[-30000:] + "\n" + proc.stderr[-5000:])
    path = reports / "results.json"
    results = json.loads(path.read_text()) if path.is_file() else {}
    run = results.get("run", {})
    per_shard = [round(float(s.get("duration") or 0.0), 1) for s in run.get("shards", [])] or \
        [round(float(run.get("duration") or wall), 1)]
    return {"shards": shards, "wall_s": round(wall, 1), "exit": proc.returncode, "load": round(load, 2),
            "shard_s": per_shard, "scenarios": (results.get("summary") or {}).get("scenarios", {}),
            "scenario_time_s": round(float((results.get("summary") or {}).get("scenario_time", 0.0)), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.shards", description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=("docker", "vagrant"), default="docker")
    parser.add_argument("--shards", default=None, help="comma-separated counts (default 1,2,4; vagrant 1,2)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("extra", nargs="*", help="after --: more pytest arguments (e.g. -m 'not load')")
    args = parser.parse_args(argv)
    counts = [int(x) for x in (args.shards or ("1,2" if args.target == "vagrant" else "1,2,4")).split(",")]
    timeout = 5400.0 if args.target == "vagrant" else 1800.0
    runs = []
    for round_ in range(args.rounds):
        order = counts if round_ % 2 == 0 else list(reversed(counts))
        for n in order:
            reports = args.out / f"shards-{args.target}-{n}-r{round_ + 1}"
            reports.mkdir(parents=True, exist_ok=True)
            runs.append(run_once(args.target, n, args.extra, reports, timeout))
    name = f"shards_{args.target}"
    report = Report(name, f"Suite wall time by shards ({args.target} target)")
    report.data["runs"] = runs
    rows = []
    for run in runs:
        counts_text = ", ".join(f"{v} {k}" for k, v in run["scenarios"].items() if v)
        outcome = "ok" if run["exit"] == 0 else f"exit {run['exit']}"
        rows.append((run["shards"], run["wall_s"], " / ".join(map(str, run["shard_s"])),
                     run["scenario_time_s"], counts_text, run["load"], outcome))
    report.add_table("each run, in the order run", ("shards", "wall s", "each shard s", "scenario time s",
                                                    "scenarios", "load avg", "outcome"), rows, digits=1)
    by_n = {n: [r["wall_s"] for r in runs if r["shards"] == n] for n in counts}
    one = statistics.median(by_n[counts[0]]) if by_n.get(counts[0]) else None
    summary_rows = [(n, statistics.median(w), f"{one / statistics.median(w):.2f}x" if one else "-")
                    for n, w in by_n.items() if w]
    report.add_table("median wall time", ("shards", "wall s", f"speed-up vs {counts[0]}"), summary_rows,
                     digits=1)
    if args.target == "docker" and 4 in by_n and by_n[4]:
        best = statistics.median(by_n[4])
        report.goal("docker suite, 4 shards", best, f"<= {GOAL_S:g} s", best <= GOAL_S)
    report.write(args.out)
    return 0 if all(r["exit"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
