"""The living-docs check (harness.report.docs_check) in Chromium on the page of a fixture run with
pictures (fixtures/report/results_visuals.json): the waterfall, the chart, the hops and the links
are on the page and rendered, the scenario with the waterfall is kept as a PNG, and a page that
lost a picture or draws one in an empty box is named as wrong."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.drive.browser import chromium_executable
from harness.report import docs_check, living_docs

FIXTURE = Path(__file__).parent / "fixtures" / "report" / "results_visuals.json"


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    chromium_executable()  # skips with the reason where there is no Chromium
    out = tmp_path / "reports"
    (out / "living-docs").mkdir(parents=True)
    shutil.copy(FIXTURE, out / "results.json")
    (out / "living-docs" / "index.html").write_text(living_docs.render_html(json.loads(FIXTURE.read_text())))
    return out


def test_pictures_and_links_render_and_are_kept_as_a_screenshot(reports: Path) -> None:
    outcome = docs_check.check(reports)
    assert outcome.problems == []
    assert outcome.visuals == {"waterfall": 1, "chart": 1, "hops": 1, "links": 2}
    assert outcome.links == 21  # 7 links on each of the three steps that name the trace
    assert outcome.visuals_shot == reports / "living-docs" / "visuals.png"
    assert outcome.visuals_shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "1 waterfalls" in outcome.line() and "21 links rendered" in outcome.line()


def test_a_lost_or_empty_picture_is_named(reports: Path) -> None:
    page = reports / "living-docs" / "index.html"
    html = page.read_text()
    html = html.replace('<figure class="visual chart">', '<figure class="moved">', 1)  # lost
    waterfall = 'class="waterfall" role="img" '
    html = html.replace(waterfall, waterfall + 'style="width:0" ', 1)  # drawn in an empty box
    page.write_text(html.replace('<figure class="visual hops">', '<figure class="visual hops" hidden>', 1))
    outcome = docs_check.check(reports)
    assert outcome.problems == ["1 chart picture(s) of the evidence are not on the page",
                                "a waterfall SVG is on the page but not rendered (an empty box)",
                                "a hops SVG is on the page but not rendered (an empty box)"]
    assert docs_check.main([str(reports)]) == 1
