"""The sensitivity table (``lab sensitivity``, :mod:`harness.faults.sensitivity`) as a report:
``sensitivity/sensitivity.json`` (the model) read back, and ``sensitivity/sensitivity.md`` (the
table for a note or a pull request). :func:`harness.report.render.write_sensitivity` writes both and
the section of the living docs (``living-docs/index.html``, re-rendered from the last
``results.json`` when there is one, else a page with only this section)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.faults.sensitivity import SCHEMA

DIR = "sensitivity"
JSON = "sensitivity.json"
MARKDOWN = "sensitivity.md"


def load_latest(reports_dir: Path) -> dict[str, Any] | None:
    """The last sensitivity run written under ``reports_dir`` (None when none is, or it is not ours)."""
    try:
        data = json.loads((Path(reports_dir) / DIR / JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("schema") == SCHEMA else None


def _cell(text: Any, limit: int = 220) -> str:
    value = " ".join(str(text if text is not None else "-").split())
    value = value if len(value) <= limit else value[: limit - 1] + "…"
    return value.replace("|", "\\|")


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} s"


def _control_line(data: Mapping[str, Any]) -> str:
    control = data.get("control")
    source = data.get("source", "the working tree")
    if not control:
        return f"Lab files: {source}. No control run (the scenarios were not first run without a fault)."
    return (f"Lab files: {source}. Control (the {len(control['expected'])} scenarios the faults name, on the "
            f"lab without a fault): **{control['verdict']}** in {_seconds(control.get('run_s'))}.")


def markdown(data: Mapping[str, Any]) -> str:
    """The table: fault, hop, verdict, caught by (scenario → step), time to red, names, message."""
    s = data["summary"]
    counts = ", ".join(f"{n} {verdict}" for verdict, n in sorted(s["counts"].items()))
    lines = [
        f"# Sensitivity: {s['faults']} faults, {s['caught_percent']} % caught",
        "",
        f"`lab sensitivity` on the {data['target']} target ({data['stores']}), started {data['started']}, "
        f"{data['duration_s'] / 60:.0f} min; {counts}; median time to red "
        f"{_seconds(s['median_time_to_red_s'])}; {s['names_signal_and_hop']} failure messages name both "
        "the signal and the hop.",
        "",
        _control_line(data),
        "",
        "| Fault | Hop | Kind | Verdict | Caught by (scenario → step) | Time to red | Names signal / hop "
        "| Message |",
        "| --- | --- | --- | --- | --- | ---: | --- | --- |",
    ]
    for r in data["rows"]:
        caught_by = f"{r['scenario']} → {r['step']}" if r.get("scenario") else "-"
        names = ("-" if r.get("names_signal") is None
                 else f"{'yes' if r['names_signal'] else 'no'} / {'yes' if r['names_hop'] else 'no'}")
        lines.append(
            f"| `{r['fault']}`: {_cell(r['summary'], 90)} | {r['hop']} | {r['kind']} | **{r['verdict']}** | "
            f"{_cell(caught_by, 160)} | {_seconds(r.get('time_to_red_s'))} | {names} | "
            f"{_cell(r.get('message'))} |"
        )
    return "\n".join(lines) + "\n"

