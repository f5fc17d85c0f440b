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

from harness.report import svg
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
# Evidence keys drawn as pictures (svg) instead of printed as JSON blocks.
DRAWN = ("waterfall", "points", "links")
# A link from the run becomes an <a href> only when it is an http(s) URL (never javascript: etc.).
HTTP_URL = re.compile(r"^https?://[^\s\"'<>]+$")


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
            known = _links_by_trace(scenario["steps"])
            steps = [
                {
                    **st,
                    "icon": ICONS.get(st["status"], "*"),
                    "ev": [_evidence(e) for e in st.get("evidence", [])],
                    "visuals": visuals(st.get("evidence", []), known),
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


def _links_by_trace(steps: list[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Every trace id of a scenario's evidence that came with links (the trace step's): a later
    step naming the same trace (its logs, its exemplar) shows the same links."""
    known: dict[str, list[dict[str, Any]]] = {}
    for step in steps:
        for item in step.get("evidence", []):
            detail = item.get("detail") or {}
            if isinstance(detail.get("trace_id"), str) and isinstance(detail.get("links"), list):
                known.setdefault(detail["trace_id"], detail["links"])
    return known


def _safe_links(found: Any) -> list[dict[str, Any]]:
    """The links of an evidence item fit to show: http(s) URLs with a label and a kind."""
    out = []
    for link in found if isinstance(found, list) else []:
        if isinstance(link, Mapping) and isinstance(link.get("url"), str) and HTTP_URL.match(link["url"]):
            out.append({"url": link["url"], "label": str(link.get("label") or link["url"]),
                        "kind": str(link.get("kind") or ""), "signal": str(link.get("signal") or ""),
                        "shows_data": link.get("shows_data", True) is not False,
                        "note": str(link.get("note") or "")})
    return out


def visuals(items: list[Mapping[str, Any]], known: Mapping[str, list[dict[str, Any]]] | None = None
            ) -> list[dict[str, Any]]:
    """The pictures of a step's evidence: a waterfall for a trace the step saw (with its links), a
    line chart for a series it read, bars for an accounting table, and the links of any trace id
    the step names that the scenario has links for."""
    out: list[dict[str, Any]] = []
    shown_links: set[str] = set()
    for item in items:
        detail = item.get("detail") or {}
        trace_id = detail.get("trace_id") if isinstance(detail.get("trace_id"), str) else ""
        if isinstance(detail.get("waterfall"), list) and detail["waterfall"]:
            picture = svg.waterfall(detail["waterfall"], trace_id=trace_id)
            if picture:
                out.append({"type": "waterfall", "svg": picture, "caption": f"trace {trace_id}",
                            "links": _safe_links(detail.get("links"))})
                shown_links.add(trace_id)
        elif isinstance(detail.get("points"), list) and detail["points"]:
            mark = detail.get("mark")
            try:
                picture = svg.line_chart(detail["points"],
                                         title=str(detail.get("promql") or item.get("summary")),
                                         mark=_number(mark), start=_number(detail.get("start")),
                                         end=_number(detail.get("end")))
            except (TypeError, ValueError):
                continue
            if picture:
                out.append({"type": "chart", "svg": picture, "caption": str(item.get("summary", "")),
                            "links": []})
        elif item.get("kind") == "table" and isinstance(detail.get("table"), str):
            picture = svg.hop_bars(svg.accounting_rows(detail["table"]))
            if picture:
                out.append({"type": "hops", "svg": picture, "caption": str(item.get("summary", "")),
                            "links": []})
    for item in items:
        for trace_id in _trace_ids(item.get("detail") or {}):
            if trace_id not in shown_links and (known or {}).get(trace_id):
                out.append({"type": "links", "svg": "", "caption": f"trace {trace_id}",
                            "links": _safe_links(known[trace_id])})  # type: ignore[index]
                shown_links.add(trace_id)
    return out


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _trace_ids(detail: Mapping[str, Any]) -> list[str]:
    """The trace ids an evidence item names: its own, or its log records' (a log step's)."""
    found = [detail["trace_id"]] if isinstance(detail.get("trace_id"), str) else []
    records = detail.get("records") if isinstance(detail.get("records"), list) else []
    found += [r["trace_id"] for r in records if isinstance(r, Mapping) and isinstance(r.get("trace_id"), str)]
    return list(dict.fromkeys(found))


def _evidence(item: Mapping[str, Any]) -> dict[str, Any]:
    """Split an evidence item into headline facts, short key/values and long blocks."""
    detail = {k: v for k, v in (item.get("detail") or {}).items() if k not in DRAWN}
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
