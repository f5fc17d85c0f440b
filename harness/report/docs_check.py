"""The living documentation of a run, checked in a real browser (the one the @ui scenarios drive).

``python -m harness.report.docs_check [REPORTS_DIR]`` (default ``reports``) opens
``living-docs/index.html`` in Chromium as a reader would (from the file, no server) and checks
that it renders (the header, the outcome counts of ``results.json``), that every scenario of the
run is on the page with its status, that a failed step's evidence is shown expanded and folds
and unfolds (without a failure: the first step with evidence unfolds), and that every screenshot
of the evidence loads. Where the run's evidence has pictures (a trace's waterfall, a series' chart,
the accounting's hops, a trace's links: :func:`harness.report.living_docs.visuals`), each is on the
page and rendered (its SVG and every link have a non-zero box); the first scenario with a waterfall
is kept as ``living-docs/visuals.png``. It keeps a full-page screenshot at
``living-docs/screenshot.png``.
One line on success; the problems, one a line, and exit 1 otherwise; exit 2 without results.
CI runs it after the docker acceptance run (.ci/run).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.base.errors import LabError
from harness.base.waiting import scaled
from harness.drive.browser import Browser
from harness.report import living_docs, model, render

SCREENSHOT = Path("living-docs") / "screenshot.png"
NAMES = {"waterfall": "waterfalls", "chart": "charts", "hops": "hop charts", "links": "link lists"}
VISUALS_SHOT = Path("living-docs") / "visuals.png"  # the first scenario with a waterfall (or any picture)
# a whole suite's page is ~90 000 px tall: its full-page PNG took 13.6 s (6 MB) on a loaded 2-core host
SCREENSHOT_TIMEOUT = 120.0
# (scenario name, status badge) of every scenario article, read from the page as rendered
SCENARIOS_JS = """() => Array.from(document.querySelectorAll('article.scenario')).map(a => {
  const h3 = a.querySelector('h3');
  const name = Array.from(h3.childNodes).filter(n => n.nodeType === 3)
    .map(n => n.textContent).join('').trim();
  const badge = h3.querySelector('.badge');
  const box = a.getBoundingClientRect();
  return {name, status: badge ? badge.textContent.trim().toLowerCase() : null, visible: box.height > 0};
})"""
# every picture the page shows: its type, whether its SVG has a box, and each of its links' boxes
VISUALS_JS = """() => Array.from(document.querySelectorAll('figure.visual')).map(f => {
  const s = f.querySelector('svg');
  const box = e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  return {type: Array.from(f.classList).find(c => c !== 'visual'), svg: s ? box(s) : null,
          links: Array.from(f.querySelectorAll('a.trace-link')).map(box)};
})"""
IMAGES_JS = """() => Array.from(document.querySelectorAll('.shot img')).map(
  i => ({src: i.getAttribute('src'), loaded: i.complete && i.naturalWidth > 0}))"""


@dataclass
class DocsCheck:
    """What was checked and what was wrong (empty ``problems``: the page is right)."""

    scenarios: int = 0
    expanded: str = ""
    images: int = 0
    visuals: dict[str, int] = field(default_factory=dict)  # rendered pictures by type
    links: int = 0  # rendered links into the UIs and APIs
    visuals_shot: Path | None = None
    screenshot: Path | None = None
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        drawn = ", ".join(f"{n} {NAMES.get(kind, kind)}" for kind, n in sorted(self.visuals.items()))
        drawn = drawn or "no pictures"
        shot = f" ({self.visuals_shot})" if self.visuals_shot else ""
        return (f"living docs: {self.scenarios} scenarios shown with their status; {self.expanded}; "
                f"{self.images} screenshots load; {drawn} and {self.links} links rendered{shot}; "
                f"page screenshot {self.screenshot}")


def check(reports_dir: Path) -> DocsCheck:
    """Check ``reports_dir/living-docs/index.html`` against ``reports_dir/results.json``."""
    results = model.load(reports_dir / render.RESULTS)
    page_file = reports_dir / render.LIVING_DOCS
    if not page_file.is_file():
        raise LabError(f"{page_file} does not exist (the run wrote results.json but no living docs)")
    outcome = DocsCheck()
    with Browser() as browser:
        page = browser.new_page()
        page.goto(page_file.resolve().as_uri(), wait_until="load")
        _renders(page, results, outcome)
        _scenarios(page, results, outcome)
        _evidence_unfolds(page, outcome)
        images = page.evaluate(IMAGES_JS)
        outcome.images = sum(1 for i in images if i["loaded"])
        outcome.problems += [f"screenshot {i['src']} does not load" for i in images if not i["loaded"]]
        _visuals(page, results, outcome, reports_dir)
        outcome.screenshot = reports_dir / SCREENSHOT
        page.screenshot(path=str(outcome.screenshot), full_page=True,
                        timeout=scaled(SCREENSHOT_TIMEOUT) * 1000)
    return outcome


def expected_visuals(results: dict[str, Any]) -> Counter[str]:
    """The pictures the page must show, by type, as the renderer derives them from the evidence."""
    view = living_docs.view(results)
    return Counter(v["type"] for f in view["features"] for sc in f["scenarios_view"]
                   for st in sc["steps_view"] for v in st["visuals"])


def _visuals(page: Any, results: dict[str, Any], outcome: DocsCheck, reports_dir: Path) -> None:
    want = expected_visuals(results)
    shown = page.evaluate(VISUALS_JS)
    got = Counter(v["type"] for v in shown)
    for kind, n in sorted((want - got).items()):
        outcome.problems.append(f"{n} {kind} picture(s) of the evidence are not on the page")
    for v in shown:
        if v["svg"] is False:
            outcome.problems.append(f"a {v['type']} SVG is on the page but not rendered (an empty box)")
        if not all(v["links"]):
            outcome.problems.append(f"{v['links'].count(False)} links of a {v['type']} are not rendered")
    outcome.visuals = dict(Counter(v["type"] for v in shown if v["svg"] or v["links"]))
    outcome.links = sum(sum(1 for ok in v["links"] if ok) for v in shown)
    for kind in ("waterfall", "chart", "hops", "links"):
        article = page.locator(f"article.scenario:has(figure.visual.{kind})").first
        if article.count():
            outcome.visuals_shot = reports_dir / VISUALS_SHOT
            article.screenshot(path=str(outcome.visuals_shot), timeout=scaled(SCREENSHOT_TIMEOUT) * 1000)
            break


def _renders(page: Any, results: dict[str, Any], outcome: DocsCheck) -> None:
    heading = page.locator("header.top h1")
    if not heading.count() or "living documentation" not in heading.inner_text():
        outcome.problems.append("the page has no living-documentation header")
        return
    counts = (results.get("summary") or model.summarize(results["features"]))["scenarios"]
    for status, number in counts.items():
        shown = page.locator(f"#summary .count.status-{status} .n").first
        text = shown.inner_text() if shown.count() else None
        if text != str(number):
            outcome.problems.append(
                f"the outcome panel shows {text!r} {status} scenarios, results.json {number}")


def _scenarios(page: Any, results: dict[str, Any], outcome: DocsCheck) -> None:
    shown = page.evaluate(SCENARIOS_JS)
    want = Counter((sc["name"], sc["status"]) for f in results["features"] for sc in f["scenarios"])
    got = Counter((s["name"], s["status"]) for s in shown)
    outcome.scenarios = sum((got & want).values())
    for (name, status), n in (want - got).items():
        times = f" ({n} times)" if n > 1 else ""
        outcome.problems.append(f"scenario {name!r} ({status}) is not on the page{times}")
    for (name, status), _n in (got - want).items():
        outcome.problems.append(f"the page shows {name!r} as {status}, which results.json does not say")
    outcome.problems += [f"scenario {s['name']!r} is not displayed" for s in shown if not s["visible"]]


def _evidence_unfolds(page: Any, outcome: DocsCheck) -> None:
    failed = page.locator("li.step.status-failed details.evidence")
    if failed.count():
        details, what = failed.first, "a failed step's evidence is shown expanded and folds and unfolds"
        if details.get_attribute("open") is None:
            outcome.problems.append("a failed step's evidence is folded: a reader must see it at once")
    else:
        details, what = page.locator("details.evidence").first, "no failed step; a step's evidence unfolds"
        if not details.count():
            outcome.expanded = "no step has evidence"
            return
    content, summary = details.locator(".ev").first, details.locator("summary").first
    first_state = content.is_visible()
    summary.click()
    second_state = content.is_visible()
    summary.click()
    third_state = content.is_visible()
    if first_state == second_state or second_state == third_state:
        outcome.problems.append(f"clicking an evidence summary does not fold/unfold it ({what})")
    outcome.expanded = what


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.report.docs_check",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("reports", type=Path, nargs="?", default=Path("reports"),
                        help="the run's reports directory (results.json, living-docs/); default: reports")
    args = parser.parse_args(argv)
    from playwright.sync_api import Error as BrowserError

    try:
        outcome = check(args.reports)
    except model.ResultsError as exc:
        print(f"docs check: {exc}", file=sys.stderr)
        return 2
    except LabError as exc:
        print(f"docs check: {exc}", file=sys.stderr)
        return 1
    except BrowserError as exc:  # Chromium gave up (a timeout): what it was doing, in one line
        print(f"docs check: Chromium: {exc.message.splitlines()[0]}", file=sys.stderr)
        return 1
    if outcome.problems:
        print("docs check: the living docs are wrong:\n  " + "\n  ".join(outcome.problems), file=sys.stderr)
        return 1
    print(outcome.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
