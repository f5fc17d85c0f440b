"""Living documentation (``living-docs/index.html``) from ``results.json``.

The features read as documentation first (title, description, scenarios, steps) with each run's
outcome and evidence next to the words. One self-contained page: inline CSS, no script, no web
fonts, so it opens from a Jenkins artifact or a file:// URL on a machine without network.
Everything from the run is escaped by Jinja2's autoescape (evidence bodies are whatever a service
answered); the template never marks run data ``|safe``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from harness.report.model import FAILED, FLAKY, PASSED, SKIPPED, UNDEFINED, rollup, summarize

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE = "living_docs.html.j2"
STATUSES = (PASSED, FAILED, FLAKY, UNDEFINED, SKIPPED)  # display order
INLINE_LIMIT = 100  # longer evidence values (bodies, queries) get their own block
# Shown first and highlighted in an evidence item, in this order, when present.
FACT_KEYS = ("status", "elapsed_ms", "duration_ms", "trace_id", "span_id", "count", "error")
NONE = "\u2013"  # an en dash for "no value"
ICONS = {PASSED: "✔", FAILED: "✘", SKIPPED: "⤼", UNDEFINED: "?", FLAKY: "≈"}
# A screenshot evidence item (kind "screenshot") shows its picture: a PNG the run wrote beside this
# page, under living-docs/screenshots/ (anything else stays text: run data never becomes a link).
SCREENSHOT = re.compile(r"^screenshots/[A-Za-z0-9_.-]+\.png$")


def render_html(results: Mapping[str, Any], sensitivity: Mapping[str, Any] | None = None) -> str:
    """The living docs page for a results dict (with the last ``lab sensitivity`` table, if given)."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["duration"] = format_duration
    env.filters["clock"] = _clock
    env.filters["when"] = _when
    return env.get_template(TEMPLATE).render(**view(results), sensitivity=sensitivity)


def format_duration(seconds: float | None) -> str:
    """``0.0004`` → ``<1 ms``, ``0.25`` → ``250 ms``, ``12.3`` → ``12.3 s``, ``125`` → ``2 min 05 s``."""
    if seconds is None:
        return NONE
    s = float(seconds)
    if s < 0.001:
        return "<1 ms"
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 60:
        return f"{s:.2f} s" if s < 10 else f"{s:.1f} s"
    minutes, sec = divmod(round(s), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def view(results: Mapping[str, Any]) -> dict[str, Any]:
    """What the template needs: the results plus anchors, counts and evidence split for display."""
    features = []
    for fi, feature in enumerate(results["features"], 1):
        scenarios = []
        for si, scenario in enumerate(feature["scenarios"], 1):
            hooks = [
                {**h, "title": _hook_title(h["phase"]), "ev": [_evidence(e) for e in h.get("evidence", [])]}
                for h in scenario.get("hooks", [])
                if h.get("evidence") or h.get("error")
            ]
            steps = [
                {
                    **st,
                    "icon": ICONS.get(st["status"], "*"),
                    "ev": [_evidence(e) for e in st.get("evidence", [])],
                }
                for st in scenario["steps"]
            ]
            scenarios.append({**scenario, "anchor": f"s{fi}-{si}", "steps_view": steps, "hooks_view": hooks})
        counts = {s: sum(1 for sc in scenarios if sc["status"] == s) for s in STATUSES}
        features.append({**feature, "anchor": f"f{fi}", "scenarios_view": scenarios, "counts": counts})
    run = {"target": None, "stores": None, "started": None, "duration": None, **(results.get("run") or {})}
    summary = results.get("summary") or summarize(results["features"])
    overall = rollup(f["status"] for f in results["features"]) if results["features"] else SKIPPED
    return {
        "run": run,
        "summary": summary,
        "features": features,
        "overall": overall,
        "statuses": STATUSES,
        "icons": ICONS,
        "run_rows": _run_rows(run, summary),
        "generated": datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def _hook_title(phase: str) -> str:
    return {
        "setup": "Before the steps (fixture setup)",
        "call": "Outside the steps",
        "teardown": "After the steps (fixture teardown)",
    }.get(phase, phase)


def _run_rows(run: Mapping[str, Any], summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = [
        ("target", str(run.get("target") or NONE)),
        ("stores", str(run.get("stores") or NONE)),
        ("started", _when(run.get("started"))),
        ("finished", _when(run.get("finished"))),
        ("wall time", format_duration(run.get("duration"))),
        ("scenario time", format_duration(summary.get("scenario_time"))),
        ("pytest exit status", str(run.get("exit_status", NONE))),
    ]
    for i, shard in enumerate(run.get("shards") or [], 1):
        counts = ", ".join(f"{n} {s}" for s, n in (shard.get("scenarios") or {}).items() if n)
        where = " ".join(str(shard[k]) for k in ("lab project", "lab address") if shard.get(k))
        rows.append((f"shard {shard.get('shard') or i}",
                     f"{where} · {format_duration(shard.get('duration'))} · {counts or 'nothing ran'}"))
    shown = {"target", "stores"}
    rows += [(k, _plain(v)) for k, v in (run.get("info") or {}).items() if k not in shown]
    rows += [(k, _plain(v)) for k, v in (run.get("environment") or {}).items() if v not in (None, "")]
    return rows


def _evidence(item: Mapping[str, Any]) -> dict[str, Any]:
    """Split an evidence item into headline facts, short key/values and long blocks."""
    detail = dict(item.get("detail") or {})
    facts = []
    for key in FACT_KEYS:
        if key in detail and _is_short(detail[key]):
            value = detail.pop(key)
            facts.append({"key": key, "value": _plain(value), "class": _fact_class(key, value)})
    short = [(k, _plain(v)) for k, v in detail.items() if _is_short(v)]
    blocks = [(k, _block(v)) for k, v in detail.items() if not _is_short(v)]
    image = item.get("detail", {}).get("file") if item.get("kind") == "screenshot" else None
    return {
        "kind": str(item.get("kind", "note")),
        "summary": str(item.get("summary", "")),
        "at": item.get("at"),
        "facts": facts,
        "short": short,
        "blocks": blocks,
        "image": image if isinstance(image, str) and SCREENSHOT.match(image) else None,
    }


def _fact_class(key: str, value: Any) -> str:
    """Colour an HTTP status (good below 400, bad from 400) and any error."""
    if key == "error":
        return "bad"
    if key == "status" and isinstance(value, int) and not isinstance(value, bool):
        return "good" if value < 400 else "bad"
    return ""


def _is_short(value: Any) -> bool:
    if isinstance(value, dict | list):
        return False
    text = _plain(value)
    return len(text) <= INLINE_LIMIT and "\n" not in text


def _plain(value: Any) -> str:
    if value is None:
        return NONE
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _block(value: Any) -> str:
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in "{[":  # pretty-print JSON bodies when they are whole (not trimmed)
            try:
                return json.dumps(json.loads(stripped), indent=2, ensure_ascii=False)
            except ValueError:
                pass
        return value
    return json.dumps(value, indent=2, ensure_ascii=False)


def _clock(timestamp: float | None) -> str:
    if not timestamp:
        return ""
    return datetime.fromtimestamp(float(timestamp)).strftime("%H:%M:%S.%f")[:-3]


def _when(iso: str | None) -> str:
    if not iso:
        return NONE
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S %z")
    except ValueError:
        return str(iso)
