"""The living-docs check (harness.report.docs_check) in Chromium, over the reports of a real pytest-bdd run
(pytester): a pass with a screenshot in its evidence, a failure whose step has evidence, a skip.
The check passes on the page as rendered, and names what is wrong on pages that are not right."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.base.errors import LabError
from harness.drive.browser import EXECUTABLES, chromium_executable
from harness.report import docs_check

REPO = Path(__file__).resolve().parents[2]
# a 2x2 PNG: what a step's screenshot evidence points at
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==")

FEATURE = """\
Feature: Docs demo
  Scenario: Passing with a screenshot
    When I look at the page
    Then it is fine

  Scenario: Failing with evidence
    When I ask for something
    Then the answer is wrong

  @skipme
  Scenario: Skipped
    When I look at the page
"""

CONFTEST = f"""\
import base64
from pathlib import Path

import pytest
from pytest_bdd import then, when

from harness.base import evidence

PNG = base64.b64decode({base64.b64encode(PNG).decode()!r})


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("skipme"):
            item.add_marker(pytest.mark.skip(reason="not on this target"))


@when("I look at the page")
def look():
    shots = Path("reports/living-docs/screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    (shots / "page.png").write_bytes(PNG)
    evidence.attach("screenshot", "the page", file="screenshots/page.png")


@then("it is fine")
def fine():
    pass


@when("I ask for something")
def ask():
    evidence.attach("http", "GET /api/tasks", status=200)


@then("the answer is wrong")
def wrong():
    evidence.attach("http", "GET /api/tasks/1", status=404, body='{{"error": "not found"}}')
    raise AssertionError("expected 200, got 404")
"""

pytestmark = [
    pytest.mark.skipif(not any(Path(f"/usr/bin/{n}").exists() for n in EXECUTABLES),
                       reason="Chromium is not installed (apt-get install chromium-headless-shell)"),
    pytest.mark.timeout(180),
]


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real run of the demo project; its reports directory."""
    pytester_dir = tmp_path_factory.mktemp("docs")
    (pytester_dir / "pytest.ini").write_text(f"[pytest]\npythonpath = {REPO}\nmarkers =\n    skipme: skip\n")
    (pytester_dir / "features").mkdir()
    (pytester_dir / "features" / "demo.feature").write_text(FEATURE)
    (pytester_dir / "conftest.py").write_text(CONFTEST)
    (pytester_dir / "test_demo.py").write_text(
        'from pytest_bdd import scenarios\n\nscenarios("features/demo.feature")\n')
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "harness.report.plugin", "-p", "no:cacheprovider", "-q"],
        cwd=pytester_dir, capture_output=True, text=True, timeout=120)
    assert "1 failed, 1 passed, 1 skipped" in result.stdout, result.stdout[-2000:] + result.stderr[-2000:]
    return pytester_dir / "reports"


def test_the_page_of_a_real_run_passes_the_check(reports: Path) -> None:
    chromium_executable()
    outcome = docs_check.check(reports)
    assert outcome.problems == []
    assert outcome.scenarios == 3
    assert outcome.expanded == "a failed step's evidence is shown expanded and folds and unfolds"
    assert outcome.images == 1
    assert outcome.screenshot == reports / "living-docs" / "screenshot.png"
    assert outcome.screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert docs_check.main([str(reports)]) == 0


def test_the_check_names_what_is_wrong(reports: Path, tmp_path: Path) -> None:
    broken = tmp_path / "reports"
    (broken / "living-docs").mkdir(parents=True)
    results = json.loads((reports / "results.json").read_text())
    (broken / "results.json").write_text(json.dumps(results))
    html = (reports / "living-docs" / "index.html").read_text()
    # one scenario's badge says another status, the failed step's evidence is folded, the image is gone
    html = html.replace('<details class="evidence" open>', '<details class="evidence">')
    first = html.index('<article class="scenario status-passed"')
    passed = '<span class="badge status-passed">passed</span>'
    badge = html.index(passed, first)
    html = html[:badge] + '<span class="badge status-skipped">skipped</span>' + html[badge + len(passed):]
    (broken / "living-docs" / "index.html").write_text(html)
    outcome = docs_check.check(broken)
    assert "a failed step's evidence is folded: a reader must see it at once" in outcome.problems
    assert "scenario 'Passing with a screenshot' (passed) is not on the page" in outcome.problems
    assert ("the page shows 'Passing with a screenshot' as skipped, which results.json does not say"
            in outcome.problems)
    assert "screenshot screenshots/page.png does not load" in outcome.problems
    assert docs_check.main([str(broken)]) == 1


def test_without_results_it_says_so(tmp_path: Path) -> None:
    assert docs_check.main([str(tmp_path)]) == 2
    from harness.report.model import SCHEMA

    (tmp_path / "results.json").write_text(json.dumps({"schema": SCHEMA, "features": [], "run": {}}))
    with pytest.raises(LabError, match="does not exist"):
        docs_check.check(tmp_path)
