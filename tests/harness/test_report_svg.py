"""The living docs' pictures (harness.report.svg) and where the page puts them: every SVG parses as
XML, bars are counted and coloured as the spans and hops say, run data stays text, and the page of a
fixture run (fixtures/report/results_visuals.json: a browser-rooted trace with error spans, its
log records, an exemplar with the series it sits on, an accounting table) shows a waterfall, a
chart, the hops and the trace's links on every step that names the trace."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from harness.report import living_docs, svg

FIXTURES = Path(__file__).parent / "fixtures" / "report"
NS = {"s": "http://www.w3.org/2000/svg"}
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def results() -> dict[str, Any]:
    return json.loads((FIXTURES / "results_visuals.json").read_text())


def steps(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [st for f in results["features"] for sc in f["scenarios"] for st in sc["steps"]]


def detail(results: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(e["detail"] for st in steps(results) for e in st["evidence"] if e["kind"] == kind)


def trace_spans(results: dict[str, Any]) -> list[dict[str, Any]]:
    return detail(results, "trace")["waterfall"]


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


def bars(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.iter(f"{{{NS['s']}}}rect") if "bar" in r.get("class", "").split()]


def test_a_waterfall_has_a_bar_per_span_to_scale_errors_red_browser_on_top(results: dict[str, Any]) -> None:
    spans = trace_spans(results)
    root = parse(svg.waterfall(list(reversed(spans)), trace_id=TRACE))  # order given does not matter
    assert root.get("class") == "waterfall" and root.get("data-spans") == str(len(spans))
    drawn = bars(root)
    assert len(drawn) == len(spans) == 5
    errors = [b for b in drawn if "error" in b.get("class", "")]
    assert len(errors) == sum(1 for s in spans if s["status"] == "error") == 2
    assert {b.get("fill") for b in errors} == {svg.ERROR}
    assert svg.ERROR not in {b.get("fill") for b in drawn if b not in errors}
    groups = [g for g in root.iter(f"{{{NS['s']}}}g") if "span" in g.get("class", "").split()]
    assert groups[0].get("data-service") == "frontend-browser"  # the click starts the trace
    # to scale: the root spans the whole axis, the 3.2 ms SQL span 3.2/48 of it
    widths = [float(b.get("width")) for b in drawn]
    assert widths[0] == pytest.approx(svg.BAR_W)
    assert widths[-1] == pytest.approx(svg.BAR_W * 3.2 / 48.0, rel=0.01)
    # a span name is text, never markup
    assert any("INSERT tasks.db <script>" in (t.text or "") for t in root.iter(f"{{{NS['s']}}}text"))
    assert "<script>" not in str(svg.waterfall(spans))


def test_services_get_distinct_colours_and_never_the_error_red() -> None:
    colours = svg.service_colours(["a", "b", "a", "c"])
    assert list(colours) == ["a", "b", "c"] and len(set(colours.values())) == 3
    assert svg.ERROR not in colours.values()


def test_an_orphan_span_still_gets_its_row() -> None:
    spans = [{"span_id": "1", "parent": None, "service": "s", "name": "root", "status": "ok",
              "start_ns": 0, "duration_ns": 10},
             {"span_id": "2", "parent": "missing", "service": "s", "name": "late", "status": "ok",
              "start_ns": 5, "duration_ns": 5}]
    assert len(bars(parse(svg.waterfall(spans)))) == 2
    assert str(svg.waterfall([])) == ""


def test_a_line_chart_has_every_point_and_the_moment_marked() -> None:
    points = [[1000.0 + 2 * i, float(i % 3)] for i in range(30)]
    root = parse(svg.line_chart(points, mark=1030.0, title='rate{a="<b>"}'))
    assert root.get("class") == "chart" and root.get("data-points") == "30"
    (line,) = [p for p in root.iter(f"{{{NS['s']}}}polyline")]
    assert len(line.get("points").split()) == 30
    (mark,) = [m for m in root.iter(f"{{{NS['s']}}}line") if m.get("class") == "mark"]
    xs = [float(p.split(",")[0]) for p in line.get("points").split()]
    assert xs[0] < float(mark.get("x1")) < xs[-1]
    assert root.find("s:title", NS).text.startswith('rate{a="<b>"}')
    assert str(svg.line_chart([])) == ""


def test_the_accounting_table_becomes_bars_per_signal_and_hop(results: dict[str, Any]) -> None:
    table = detail(results, "table")["table"]
    rows = svg.accounting_rows(table)
    assert [r["signal"] for r in rows] == ["traces", "traces", "logs", "logs", "metrics"]
    root = parse(svg.hop_bars(rows))
    assert root.get("data-groups") == "5"
    hops = [g.get("data-hop") for g in root.iter(f"{{{NS['s']}}}g")]
    assert hops.count("lost") == 3 and hops.count("store got") == 1
    lost = [b for b in bars(root) if "lost" in b.get("class", "")]
    assert [b.get("fill") for b in lost if float(b.get("width")) > 0] == [svg.ERROR]  # 10 log records
    assert svg.accounting_rows("no table here") == []


def test_the_fixture_page_draws_a_waterfall_a_chart_hops_and_links(results: dict[str, Any]) -> None:
    page = living_docs.render_html(results)
    pictures = [ET.fromstring(m) for m in re.findall(r"<svg .*?</svg>", page, flags=re.S)]
    kinds = [p.get("class") for p in pictures]
    assert kinds.count("waterfall") == 1 and kinds.count("chart") == 1 and kinds.count("hops") == 1
    assert "<script>" not in page and "javascript:" not in page
    link_lists = re.findall(r'<ul class="links">(.*?)</ul>', page, flags=re.S)
    # the trace step, the log step (its records name the trace), the exemplar step
    assert len(link_lists) == 3
    for block in link_lists:
        hrefs = re.findall(r'href="([^"]+)"', block)
        assert len(hrefs) == 7 and all(TRACE in h or "query_" in h or "graph" in h for h in hrefs)
    assert page.count("placeholder page: use the API link") == 3
    assert '"start_ns"' not in page  # drawn, not printed again as JSON


def test_visuals_of_evidence_without_pictures_are_none() -> None:
    assert living_docs.visuals([{"kind": "http", "summary": "GET /", "detail": {"status": 200}}]) == []
    assert living_docs.visuals([{"kind": "series", "summary": "x", "detail": {"points": [["a", "b"]]}}]) == []


def test_a_series_that_began_late_is_drawn_in_the_window_asked_for_from_zero() -> None:
    root = parse(svg.line_chart([[1100.0, 0.4]], mark=1101.0, start=980.0, end=1101.0, title="sli"))
    (dot,) = [c for c in root.iter(f"{{{NS['s']}}}circle")]
    (mark,) = [m for m in root.iter(f"{{{NS['s']}}}line") if m.get("class") == "mark"]
    assert float(dot.get("cx")) > 0.9 * float(mark.get("x1"))  # late in the window, not at its start
    labels = [t.text for t in root.iter(f"{{{NS['s']}}}text")]
    assert "0" in labels and "0.4" in labels  # the axis reads from 0 to the value
    assert labels[-2:] == ["00:16:20", "00:18:21 UTC"]  # the window's edges
