"""What every benchmark shares: the run's context (date, commit, load), statistics, tables, JSON.

The machines these run on are shared, so a number alone means little: every benchmark measures
the things it compares in the same run, interleaved where it can, and says the load average
before and after. Results go to ``reports/bench/<name>.json`` and a Markdown table on stdout.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import socket
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "reports" / "bench"


def load_average() -> tuple[float, float, float]:
    """1, 5 and 15 minute load averages of the machine (2 cores here, shared)."""
    return os.getloadavg()


def git_commit() -> str:
    """The commit the benchmark ran on (``+dirty`` when the work tree differs from it)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "app", "bench", "stack", "harness"],
                               cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1); NaN for no values."""
    ordered = sorted(v for v in values if not math.isnan(v))
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def summary(values: Sequence[float]) -> dict[str, float | int]:
    """p50/p95/max and the count of a sample (NaN = never seen, counted apart)."""
    seen = [v for v in values if not math.isnan(v)]
    return {
        "n": len(seen),
        "missing": len(values) - len(seen),
        "p50": pct(seen, 0.50),
        "p95": pct(seen, 0.95),
        "max": max(seen) if seen else math.nan,
    }


def fmt(value: Any, digits: int = 2) -> str:
    """A table cell: floats rounded, NaN as a dash."""
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], digits: int = 2) -> str:
    """A Markdown table (what the README keeps, and readable on a terminal)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(fmt(cell, digits) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


@dataclass
class Report:
    """One benchmark's results: context, tables (Markdown) and raw data (JSON)."""

    name: str
    title: str
    started: float = field(default_factory=time.time)
    load_before: tuple[float, float, float] = field(default_factory=load_average)
    tables: list[tuple[str, str]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    goals: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add_table(self, caption: str, headers: Sequence[str], rows: Iterable[Sequence[Any]],
                  digits: int = 2) -> str:
        text = table(headers, list(rows), digits)
        self.tables.append((caption, text))
        return text

    def goal(self, name: str, value: float, target: str, met: bool) -> None:
        """A goal of the issue, the measured value and whether it is met."""
        self.goals.append({"goal": name, "value": value, "target": target, "met": bool(met)})

    def markdown(self) -> str:
        load_after = load_average()
        when = dt.datetime.fromtimestamp(self.started, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        out = [f"### {self.title}", "",
               f"{when}, commit {git_commit()}, {os.cpu_count()} cores, load average "
               f"{self.load_before[0]:.2f} before / {load_after[0]:.2f} after "
               f"(5 min: {self.load_before[1]:.2f} / {load_after[1]:.2f})", ""]
        for caption, text in self.tables:
            out += [f"**{caption}**", "", text, ""]
        if self.goals:
            rows = [(g["goal"], fmt(g["value"]), g["target"], "met" if g["met"] else "NOT met")
                    for g in self.goals]
            out += ["**Goals**", "", table(("goal", "measured", "target", ""), rows), ""]
        out += [f"- {note}" for note in self.notes]
        return "\n".join(out).rstrip() + "\n"

    def write(self, out_dir: Path = DEFAULT_OUT) -> Path:
        """Write ``<name>.json`` and ``<name>.md``; print the Markdown."""
        out_dir.mkdir(parents=True, exist_ok=True)
        text = self.markdown()
        doc = {
            "name": self.name,
            "title": self.title,
            "started": dt.datetime.fromtimestamp(self.started, dt.UTC).isoformat(),
            "seconds": round(time.time() - self.started, 1),
            "commit": git_commit(),
            "host": {"cpus": os.cpu_count(), "python": platform.python_version(),
                     "node": socket.gethostname()},
            "load_average": {"before": self.load_before, "after": load_average()},
            "goals": self.goals,
            "notes": self.notes,
            "data": self.data,
        }
        path = out_dir / f"{self.name}.json"
        path.write_text(json.dumps(doc, indent=2, default=_json_default, allow_nan=True) + "\n")
        (out_dir / f"{self.name}.md").write_text(text)
        print(text, flush=True)
        return path


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | set):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def free_port(host: str) -> int:
    """A free TCP port on ``host``."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def say(line: str) -> None:
    """Progress on stderr (stdout carries the tables)."""
    import sys

    print(f"[bench {time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)
