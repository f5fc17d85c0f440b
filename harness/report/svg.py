"""The living docs' pictures, drawn as inline SVG by the report's own code: a trace as a waterfall,
a metric series as a small line chart, the accounting's hops as a bar chart.

Own code, not a charting library: three kinds of picture of a few dozen shapes each need rectangles,
a polyline and text, which SVG has; a library (matplotlib, pygal, plotly) would add a dependency of
megabytes, fonts or a script to the report, which must open from disk with no network and no
script (ADR 0016). Every text from the run passes through :func:`_text` / :func:`_attr` (XML
escaping), so a span name cannot inject markup; the result is :class:`markupsafe.Markup` because
it is markup this module made, not run data.

Each picture says what it is in its attributes (``class``, ``data-*``), so tests and the Chromium
check count bars and colours without reading pixels.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final
from xml.sax.saxutils import escape, quoteattr

from markupsafe import Markup

ERROR: Final = "#cf222e"  # an error span: the report's "failed" red, used for nothing else
PALETTE: Final = ("#0969da", "#1a7f37", "#8250df", "#bc4c00", "#1b7c83", "#6e7781", "#9a6700", "#4d2d8e")
BROWSER: Final = "frontend-browser"
FONT: Final = 'font-family="system-ui, sans-serif" font-size="11"'
ROW: Final = 18  # px per span
LABEL_W: Final = 300  # px of a row's label (service · name)
BAR_W: Final = 520  # px of the time axis
LOST: Final = ERROR


def _text(value: object) -> str:
    return escape(str(value))


def _attr(value: object) -> str:
    return quoteattr(str(value))


def _label(x: float, y: float, text: object, fill: str = "#59636e", anchor: str = "start") -> str:
    """A ``<text>`` of run data, escaped."""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}">{_text(text)}</text>'


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _ms(ns: float) -> str:
    ms = ns / 1e6
    if ms >= 1000:
        return f"{ms / 1000:.2f} s"
    return f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms"


def service_colours(services: Iterable[str]) -> dict[str, str]:
    """One colour per service, in order of appearance (never the error red)."""
    out: dict[str, str] = {}
    for name in services:
        if name not in out:
            out[name] = PALETTE[len(out) % len(PALETTE)]
    return out


def _ordered(spans: Sequence[Mapping[str, Any]]) -> list[tuple[int, Mapping[str, Any]]]:
    """(depth, span) depth-first, children in start order: each span right under its parent, a
    root first (the browser's span where there is one: it starts the trace)."""
    ids = {s.get("span_id") for s in spans}
    children: dict[Any, list[Mapping[str, Any]]] = {}
    for span in sorted(spans, key=lambda s: (int(s.get("start_ns") or 0), str(s.get("name")))):
        parent = span.get("parent") if span.get("parent") in ids else None
        children.setdefault(parent, []).append(span)
    roots = sorted(children.get(None, []),
                   key=lambda s: (s.get("service") != BROWSER, int(s.get("start_ns") or 0)))
    out: list[tuple[int, Mapping[str, Any]]] = []

    def walk(span: Mapping[str, Any], depth: int) -> None:
        out.append((depth, span))
        for child in children.get(span.get("span_id"), []):
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    return out


def waterfall(spans: Sequence[Mapping[str, Any]], *, trace_id: str = "") -> Markup:
    """A trace as a waterfall: one row per span under its parent, its bar from its start to its end
    on one time axis (to scale), coloured by service, red when the span's status is error; the
    label is ``service · name`` and the bar says its duration."""
    rows = _ordered(spans)
    if not rows:
        return Markup("")
    t0 = min(int(s.get("start_ns") or 0) for _, s in rows)
    t1 = max(int(s.get("start_ns") or 0) + int(s.get("duration_ns") or 0) for _, s in rows)
    total = max(t1 - t0, 1)
    colours = service_colours(str(s.get("service")) for _, s in rows)
    top = 22
    height = top + ROW * len(rows) + 28
    width = LABEL_W + BAR_W + 80
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="waterfall" role="img" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" data-spans="{len(rows)}" '
             f'data-trace-id={_attr(trace_id)} {FONT}>',
             f"<title>{_text(f'trace {trace_id}: {len(rows)} spans, {_ms(total)}')}</title>"]
    for i in range(5):  # the time axis: 0, ¼, ½, ¾, all
        x = LABEL_W + BAR_W * i / 4
        parts.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{top + ROW * len(rows)}" '
                     'stroke="#d1d9e0" stroke-width="1"/>')
        parts.append(f'<text x="{x:.1f}" y="{top - 8}" text-anchor="middle" fill="#59636e">'
                     f"{_text(_ms(total * i / 4))}</text>")
    for row, (depth, span) in enumerate(rows):
        y = top + ROW * row
        start = int(span.get("start_ns") or 0) - t0
        duration = int(span.get("duration_ns") or 0)
        error = str(span.get("status")) == "error"
        service = str(span.get("service"))
        fill = ERROR if error else colours[service]
        x = LABEL_W + BAR_W * start / total
        w = max(BAR_W * duration / total, 1.5)
        label = _short(f"{service} · {span.get('name')}", 44 - min(depth, 8))
        tip = (f"{service} · {span.get('name')} [{span.get('kind')}"
               f"{', error' if error else ''}] {_ms(duration)} at +{_ms(start)}")
        parts.append(f'<g class="span{" error" if error else ""}" data-service={_attr(service)} '
                     f'data-status={_attr(span.get("status"))}><title>{_text(tip)}</title>')
        parts.append(_label(4 + 10 * min(depth, 8), y + 13, label, ERROR if error else "#1f2328"))
        parts.append(f'<rect class="bar{" error" if error else ""}" x="{x:.1f}" y="{y + 3}" width="{w:.1f}" '
                     f'height="{ROW - 6}" rx="2" fill="{fill}"/>')
        parts.append(f'<text x="{min(x + w + 4, LABEL_W + BAR_W + 4):.1f}" y="{y + 13}" fill="#59636e">'
                     f"{_text(_ms(duration))}</text></g>")
    legend_y = top + ROW * len(rows) + 18
    x = 4
    for service, colour in [*colours.items(), ("error", ERROR)]:
        parts.append(f'<rect class="legend" x="{x}" y="{legend_y - 9}" width="10" height="10" '
                     f'fill="{colour}"/>{_label(x + 14, legend_y, service, "#1f2328")}')
        x += 24 + 7 * len(service)
    parts.append("</svg>")
    return Markup("".join(parts))


def _clock(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S")


def _number(v: float) -> str:
    if v == 0 or 0.01 <= abs(v) < 1e6:
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    return f"{v:.2e}"


def line_chart(points: Sequence[Sequence[float]], *, mark: float | None = None, title: str = "",
               start: float | None = None, end: float | None = None,
               width: int = 520, height: int = 150) -> Markup:
    """A series (``[[epoch s, value], ...]``) as a line over time — over [``start``, ``end``] when
    given (the window the step asked for, even where the series began later) —, its first and last
    time and its lowest and highest value on the axes (from 0 when no value is below it),
    ``mark`` (epoch s) a dashed line: the request, the sample."""
    pts = [(float(t), float(v)) for t, v in points if math.isfinite(float(v))]
    if not pts:
        return Markup("")
    left, right, top, bottom = 56, 12, 8, 22
    t_lo, t_hi = min(t for t, _ in pts), max(t for t, _ in pts)
    for edge in (start, end, mark):
        if edge is not None and math.isfinite(edge):
            t_lo, t_hi = min(t_lo, edge), max(t_hi, edge)
    v_lo, v_hi = min(v for _, v in pts), max(v for _, v in pts)
    v_lo = min(v_lo, 0.0) if v_lo >= 0 else v_lo  # counters, rates, ratios: read from 0
    if v_hi == v_lo:
        v_hi = v_lo + (abs(v_lo) or 1.0)
    span_t = max(t_hi - t_lo, 1e-9)
    plot_w, plot_h = width - left - right, height - top - bottom

    def xy(t: float, v: float) -> str:
        x = left + plot_w * (t - t_lo) / span_t
        return f"{x:.1f},{top + plot_h * (1 - (v - v_lo) / (v_hi - v_lo)):.1f}"

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" data-points="{len(pts)}" {FONT}>',
             f"<title>{_text(title or 'series')}: {len(pts)} points</title>",
             f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#f6f8fa" '
             'stroke="#d1d9e0"/>',
             _label(left - 4, top + 8, _number(v_hi), anchor="end"),
             _label(left - 4, top + plot_h, _number(v_lo), anchor="end"),
             _label(left, height - 6, _clock(t_lo)),
             _label(width - right, height - 6, f"{_clock(t_hi)} UTC", anchor="end")]
    if len(pts) == 1:
        x, y = xy(*pts[0]).split(",")
        parts.append(f'<circle class="line" cx="{x}" cy="{y}" r="3" fill="#0969da"/>')
    else:
        parts.append(f'<polyline class="line" fill="none" stroke="#0969da" stroke-width="1.5" '
                     f'points="{" ".join(xy(t, v) for t, v in pts)}"/>')
    if mark is not None and math.isfinite(mark):
        x = left + plot_w * (mark - t_lo) / span_t
        parts.append(f'<line class="mark" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" '
                     f'stroke="{ERROR}" stroke-dasharray="4 3"><title>{_text(_clock(mark))}</title></line>')
    parts.append("</svg>")
    return Markup("".join(parts))


# the accounting's hops, left to right, as the table names them (harness/checks/accounting.py)
HOPS: Final = (("sent", "sent"), ("app", "app"), ("collector accepted", "collector accepted"),
               ("sent on", "collector sent on"), ("store/Prometheus got", "store got"), ("found", "found"),
               ("lost", "lost"))


def accounting_rows(table: str) -> list[dict[str, Any]]:
    """The per-signal rows of the accounting's text table (columns split by two or more spaces, as
    :meth:`harness.checks.accounting.Accounting.table` pads them); [] for any other text."""
    import re

    lines = table.splitlines()
    if not lines or not lines[0].lstrip().startswith("signal"):
        return []
    header = re.split(r"\s{2,}", lines[0].strip())
    rows = []
    for line in lines[1:]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) != len(header):
            return []
        rows.append(dict(zip(header, cells, strict=True)))
    return rows


def _count(text: Any) -> float | None:
    try:
        return float(str(text).rstrip("%"))
    except ValueError:
        return None


def hop_bars(rows: Sequence[Mapping[str, Any]], *, width: int = 720) -> Markup:
    """The accounting as bars: per signal, one bar per hop that counted it (sent, collector,
    store, found) and the lost count in red, each to the scale of that signal's sent count."""
    groups = []
    for row in rows:
        bars = [(title, _count(row.get(key))) for key, title in HOPS]
        bars = [(t, v) for t, v in bars if v is not None]
        if bars:
            seen = f", {row['seen as']}" if row.get("seen as") else ""
            groups.append((f"{row.get('signal')} ({row.get('unit')}{seen})", bars))
    if not groups:
        return Markup("")
    label_w, bar_h, gap = 150, 12, 10
    height = sum(len(b) * (bar_h + 2) + gap + 14 for _, b in groups) + 8
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="hops" role="img" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" data-groups="{len(groups)}" {FONT}>',
             "<title>telemetry accounting: what each hop counted, per signal</title>"]
    y = 4
    for name, bars in groups:
        top = max(v for _, v in bars) or 1
        parts.append(f'<text x="2" y="{y + 10}" font-weight="600" fill="#1f2328">{_text(name)}</text>')
        y += 14
        for title, value in bars:
            lost = title == "lost"
            w = max((width - label_w - 60) * value / top, 1 if value else 0)
            fill = LOST if lost and value else "#0969da" if not lost else "#aceebb"
            parts.append(f'<g class="hop" data-hop={_attr(title)}><text x="12" y="{y + 10}" fill="#59636e">'
                         f"{_text(title)}</text>"
                         f'<rect class="bar{" lost" if lost else ""}" x="{label_w}" y="{y}" width="{w:.1f}" '
                         f'height="{bar_h}" fill="{fill}"/>'
                         f'{_label(label_w + w + 4, y + 10, _number(value), "#1f2328")}</g>')
            y += bar_h + 2
        y += gap
    parts.append("</svg>")
    return Markup("".join(parts))
