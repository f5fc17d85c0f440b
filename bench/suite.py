"""Harness efficiency: the acceptance suite's wall time and every wait against the signal's delay.

    python -m bench.suite [--delays reports/bench/signal_delay.json] [-- pytest args]

Runs ``pytest features`` on the docker target (images cached: ``LAB_IMAGE_SOURCE=local``, deployed
by the run and destroyed after it, ``LAB_DESTROY=always``) with ``bench.waits_plugin`` recording
every :func:`harness.base.waiting.eventually`. Each wait is put with the signal it waited for (from
its description) and compared with that signal's measured p95 delay (``signal_delay.json`` of the
same bench run, lab settings) plus the wait's poll interval: a passing wait longer than that
waited for something else than the signal (or polled too slowly).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from bench.common import DEFAULT_OUT, REPO, Report, say, summary

KINDS = (
    ("deploy", re.compile(r"running and healthy")),
    ("trace", re.compile(r"^(a )?trace|trace .* to match|a trace of each")),
    ("log", re.compile(r"log record")),
    ("metric (rules)", re.compile(r"SLI|recording rule|dashboard queries")),
    ("metric", re.compile(r"Prometheus|promql|exemplar|db_query_duration|scrape target|\{.*\}|_total")),
    ("app", re.compile(r"the front|requests in a row")),
)


def kind_of(describe: str) -> str:
    for kind, pattern in KINDS:
        if pattern.search(describe):
            return kind
    return "other"


def run_suite(out: Path, extra: list[str], root: Path = REPO, name: str = "") -> tuple[float, int, Path]:
    """``pytest features`` in ``root`` (the repository, or a copy with other settings)."""
    env = dict(os.environ)
    env.update(LAB_TARGET="docker", LAB_IMAGE_SOURCE=env.get("LAB_IMAGE_SOURCE", "local"),
               LAB_DESTROY="always")
    env.setdefault("LAB_PROJECT", "obslab-bench")
    reports = Path(env.get("LAB_REPORTS_DIR") or (REPO / "reports")) / f"bench-suite{name}"
    env["LAB_REPORTS_DIR"] = str(reports)
    if root != REPO:  # the copy's harness first; bench (for the plugin) from the repository
        env["PYTHONPATH"] = os.pathsep.join([str(root), str(root / "app" / "backend"), str(REPO)])
    raw = out / f"waits-raw{name}.json"
    cmd = [sys.executable, "-m", "pytest", "features", "-p", "bench.waits_plugin", "--bench-waits", str(raw),
           "-q", "-p", "no:cacheprovider", *extra]
    say(f"suite: {' '.join(cmd[2:])} (project {env['LAB_PROJECT']}, reports {reports})")
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=root, env=env, timeout=1800, capture_output=True, text=True)
    wall = time.monotonic() - started
    (out / f"suite-output{name}.txt").write_text(proc.stdout[-20000:] + "\n" + proc.stderr[-5000:])
    return wall, proc.returncode, raw


def p95_delays(path: Path) -> dict[str, float]:
    """Per signal, p95 seconds of the lab's settings from a signal_delay.json of this run."""
    if not path.is_file():
        return {}
    doc = json.loads(path.read_text())
    sets = doc["data"]["sets"]
    lab = sets.get("lab") or next(iter(sets.values()))
    return {sig: lab["summary"][sig]["p95"] for sig in ("trace", "log", "metric")}


def baseline_copy(scrape: str) -> Path:
    """A copy of the lab's files whose Prometheus configs scrape every ``scrape`` (the before)."""
    from bench.lab import SCRAPE_RE, seconds
    from harness.faults.workspace import Workspace

    root = Path(f"/tmp/{os.environ.get('LAB_PROJECT', 'obslab-bench')}-suite-baseline")
    Workspace(REPO, root).create()
    binary = REPO / "stack" / "healthcheck" / "bin" / "lab-healthcheck"
    if binary.exists():
        target = root / "stack" / "healthcheck" / "bin" / "lab-healthcheck"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(binary.read_bytes())
        target.chmod(0o755)
    timeout = f"{min(seconds(scrape), 4.0):g}s"
    for path in (root / "stack" / "prometheus").glob("prometheus*.yml"):
        text = path.read_text()
        path.write_text(SCRAPE_RE.sub(rf"\g<1>{scrape}\g<3>{timeout}\g<5>{scrape}", text, count=1))
    return root


def analyse(raw: Path, delays: dict[str, float], wall: float, rc: int,
            baseline: tuple[str, Path, float, int] | None = None) -> Report:
    doc = json.loads(raw.read_text())
    rep = Report("harness", "Harness efficiency: acceptance suite on the docker target")
    if baseline is not None:
        label, braw, bwall, brc = baseline
        bdoc = json.loads(braw.read_text())
        rows = []
        for name, d, w, code in ((label, bdoc, bwall, brc), ("as shipped", doc, wall, rc)):
            per = {k: sum(x["waited"] for x in d["waits"] if kind_of(x["describe"]) == k)
                   for k in ("trace", "log", "metric", "metric (rules)", "deploy")}
            rows.append((name, w, code, len(d["tests"]), sum(x["waited"] for x in d["waits"]), *per.values()))
        rep.add_table("before / after (seconds; the notes say when each ran)",
                      ("suite", "wall", "exit", "scenarios", "in waits", "trace waits", "log waits",
                       "metric waits", "rule waits", "deploy waits"), rows, digits=1)
    waits = doc["waits"]
    for w in waits:
        w["kind"] = kind_of(w["describe"])
        bound = delays.get(w["kind"])
        w["bound_s"] = bound + w["interval"] if bound is not None else None
        judged = w["bound_s"] is not None and w["outcome"] == "passed"
        w["over_s"] = (w["waited"] - w["bound_s"]) if judged else None
    tests = doc["tests"]
    first = next(iter(tests.values()), 0.0)
    passed = sum(1 for _ in tests)
    rows = [("wall time of `pytest features` (deploy, scenarios, destroy)", wall),
            ("first scenario (includes the deploy)", first),
            ("scenarios after the first", sum(tests.values()) - first),
            ("scenarios run", float(passed)),
            ("time inside waits (all)", sum(w["waited"] for w in waits))]
    rep.add_table(f"suite (exit {rc})", ("what", "seconds"), rows, digits=1)
    groups: dict[str, list[float]] = {}
    for test, took in tests.items():
        tags = set(doc.get("tags", {}).get(test, []))
        group = next((g for g in ("load", "ui", "destructive", "failure") if g in tags), "other")
        groups.setdefault(group, []).append(took)
    rep.add_table("scenario time by tag (the first tag of load, ui, destructive, failure that a scenario "
                  "has; the rest are 'other')", ("tag", "scenarios", "seconds"),
                  [(g, len(v), sum(v)) for g, v in sorted(groups.items())], digits=1)
    k_rows = []
    for kind in sorted({w["kind"] for w in waits}):
        ws = [w for w in waits if w["kind"] == kind]
        times = [w["waited"] for w in ws]
        s = summary(times)
        over = [w for w in ws if w["over_s"] is not None and w["over_s"] > 0]
        k_rows.append((kind, len(ws), sum(times), s["p50"], s["p95"], s["max"],
                       f"{delays[kind]:.2f}" if kind in delays else "-", len(over),
                       sum(w["over_s"] for w in over)))
    rep.add_table("every `eventually` by what it waited for (seconds); bound = measured p95 delay of that "
                  "signal + the wait's poll interval",
                  ("waited for", "waits", "total", "p50", "p95", "max", "p95 delay", "over bound",
                   "time over"),
                  k_rows)
    worst = sorted((w for w in waits if (w["over_s"] or 0) > 0), key=lambda w: -w["over_s"])[:8]
    rep.add_table("longest waits over their bound", ("scenario", "wait", "waited", "bound", "interval"),
                  [(str(w["test"]).split("::")[-1][:60], w["describe"][:70], w["waited"], w["bound_s"],
                    w["interval"]) for w in worst])
    over = [w for w in waits if w["over_s"] is not None and w["over_s"] > 0]
    rep.goal("docker suite wall time (s), images cached", wall, "≤ 60", wall <= 60)
    rep.goal("signal waits longer than p95 delay + one interval", float(len(over)), "0", not over)
    rep.data = {"wall_s": wall, "exit": rc, "tests": tests, "waits": waits, "delays_p95": delays}
    return rep


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delays", type=Path, default=DEFAULT_OUT / "signal_delay.json")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--analyse-only", type=Path, default=None, help="a waits-raw.json to analyse")
    parser.add_argument("--baseline-scrape", default=None,
                        help="first run the suite in a copy whose Prometheus scrapes this often (e.g. 5s)")
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.analyse_only:
        wall, rc, raw = json.loads(args.analyse_only.read_text())["wall_s"], 0, args.analyse_only
    else:
        wall, rc, raw = run_suite(args.out, args.pytest_args)
    baseline = None
    if args.baseline_scrape and not args.analyse_only:
        root = baseline_copy(args.baseline_scrape)
        bwall, brc, braw = run_suite(args.out, args.pytest_args, root=root, name="-baseline")
        baseline = (f"scrape {args.baseline_scrape} (before)", braw, bwall, brc)
    analyse(raw, p95_delays(args.delays), wall, rc, baseline).write(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
