"""The renderers and ``python -m harness.report`` on a saved results file, without running pytest-bdd.

The sample (fixtures/report/results_sample.json) holds what a real run can produce and the
plugin tests do not: a Rule, a data table, an xfail, a teardown error, a scenario never run, JSON
bodies, and markup in every field a hostile service or a careless feature file could fill.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.report import cucumber, living_docs, model
from harness.report.__main__ import main

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures" / "report"
SAMPLE = FIXTURES / "results_sample.json"


def _load_cucumber_shape() -> Any:
    spec = importlib.util.spec_from_file_location("report_cucumber_shape", FIXTURES / "cucumber_shape.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


assert_cucumber_shape = _load_cucumber_shape().assert_cucumber_shape


@pytest.fixture
def sample() -> dict[str, Any]:
    return model.load(SAMPLE)


def test_sample_summary_is_what_the_model_computes(sample: dict[str, Any]) -> None:
    assert model.summarize(sample["features"]) == sample["summary"]


def test_worst_orders_statuses() -> None:
    assert model.worst(["passed", "skipped", "undefined"]) == "undefined"
    assert model.worst(["passed", "failed", "undefined"]) == "failed"
    assert model.worst([]) == "passed"
    assert model.worst([], default="skipped") == "skipped"


def test_cucumber_from_sample_has_the_jenkins_shape(sample: dict[str, Any]) -> None:
    doc = cucumber.to_cucumber(sample)
    assert_cucumber_shape(doc)
    elements = {e["name"]: e for f in doc for e in f["elements"]}
    target_up = elements["Every target is up"]
    # inherited tags: feature, rule, scenario
    assert [t["name"] for t in target_up["tags"]] == ["@metrics", "@scrape", "@deployment"]
    # fixture setup evidence as a "before" hook, a teardown error as a failed "after" hook
    assert target_up["before"][0]["output"] == [
        "[command] docker-compose -f stack/compose.yaml up -d | exit_code=0 elapsed_ms=43950.2"
    ]
    [after] = target_up["after"]
    assert after["result"]["status"] == "failed"
    assert after["result"]["error_message"].startswith("RuntimeError: could not restore")
    table = target_up["steps"][2]["rows"]
    assert table == [
        {"cells": ["job", "health"]},
        {"cells": ["backend", "up"]},
        {"cells": ["<collector>", "up"]},
    ]
    query = target_up["steps"][1]
    assert query["doc_string"]["value"] == 'up{job="backend"} == 1'
    detail = json.loads(base64.b64decode(query["embeddings"][0]["data"]))["detail"]
    assert detail["query"] == 'up{job="backend"}'


def test_cucumber_reports_an_expected_failure_as_skipped(sample: dict[str, Any]) -> None:
    elements = {e["name"]: e for f in cucumber.to_cucumber(sample) for e in f["elements"]}
    xfail = elements["A known bug in the latency histogram"]
    assert [s["result"]["status"] for s in xfail["steps"]] == ["passed", "skipped"]
    message = xfail["steps"][1]["result"]["error_message"]
    assert message.startswith(
        "Expected to fail (xfail: bucket boundaries differ): AssertionError: p95 was 2.4 s"
    )
    assert "after" not in xfail and "before" not in xfail  # nothing to show: no evidence, no error
    not_run = elements["No anonymous admin"]
    assert not_run["steps"][0]["result"] == {
        "status": "skipped",
        "duration": 0,
        "error_message": "Skipped: not run: the session stopped before this scenario",
    }
    outline = elements["Datasource tempo works"]
    assert (outline["line"], outline["keyword"]) == (10, "Scenario Outline")


def test_output_line_keeps_short_scalars_only() -> None:
    item = {
        "kind": "http",
        "summary": "GET http://127.0.0.1:3000/api/health",
        "detail": {"status": 200, "body": "x" * 500, "headers": {"a": "b"}, "multi": "a\nb", "ok": True},
    }
    assert cucumber.output_line(item) == "[http] GET http://127.0.0.1:3000/api/health | status=200 ok=True"
    assert cucumber.output_line({"kind": "note", "summary": "nothing else"}) == "[note] nothing else"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, "\u2013"),
        (0.0004, "<1 ms"),
        (0.25, "250 ms"),
        (1.234, "1.23 s"),
        (12.34, "12.3 s"),
        (125, "2 min 05 s"),
        (3725, "1 h 02 min"),
    ],
)
def test_durations_read_like_a_person_wrote_them(seconds: float | None, shown: str) -> None:
    assert living_docs.format_duration(seconds) == shown


def test_living_docs_escape_every_field_and_show_what_matters(sample: dict[str, Any]) -> None:
    html = living_docs.render_html(sample)
    # hostile feature name, description, run info, error message, table cell: all inert text
    for raw in ("<img src=x", "<em>PromQL</em>", "<b>v1</b>", "<script>alert(2)", "<collector>"):
        assert raw not in html
    assert "Metrics &lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;/pre&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in html
    assert "&lt;collector&gt;" in html
    # summary, run info, table of contents with times
    assert "jaeger-victorialogs" in html and "vagrant is not installed" in html
    assert 'href="#f1"' in html and 'href="#s1-1"' in html and 'id="s2-2"' in html
    assert "3 min 06 s" in html  # wall time of the run
    # evidence: status colour, trace id, a pretty-printed JSON body
    assert '<span class="fact good">status 200</span>' in html
    assert '<span class="fact bad">status 503</span>' in html
    assert "0af7651916cd43dd8448eb211c80319c" in html
    assert "&#34;resultType&#34;: &#34;vector&#34;" in html and "\n  &#34;data&#34;: {" in html
    # reasons and expectations stated in words
    assert "the jaeger-victorialogs store set has no Grafana" in html
    assert "Expected to fail:</b> bucket boundaries differ" in html
    assert "Rule: Scrapes" in html
    assert "<script" not in html  # no script at all, ours or theirs


def test_living_docs_render_an_empty_run() -> None:
    empty = {"schema": model.SCHEMA, "run": {}, "summary": model.summarize([]), "features": []}
    html = living_docs.render_html(empty)
    assert "0 features, 0 scenarios" in html


def test_cli_rerenders_next_to_the_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "results.json"
    results.write_text(SAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    assert main([str(results)]) == 0
    assert (tmp_path / "living-docs" / "index.html").is_file()
    written = json.loads((tmp_path / "cucumber.json").read_text(encoding="utf-8"))
    assert written == cucumber.to_cucumber(model.load(SAMPLE))
    assert "2 features, 4 scenarios" in capsys.readouterr().out
    out = tmp_path / "elsewhere"
    assert main([str(results), "--out", str(out)]) == 0
    assert (out / "cucumber.json").is_file() and (out / "living-docs" / "index.html").is_file()


def test_cli_says_what_is_wrong_with_the_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "missing.json")]) == 2
    assert "does not exist; run the acceptance suite first" in capsys.readouterr().err
    other = tmp_path / "cucumber.json"
    other.write_text("[]", encoding="utf-8")
    assert main([str(other)]) == 2
    assert "is not a results file of this harness" in capsys.readouterr().err
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    assert main([str(broken)]) == 2
    assert "is not readable JSON" in capsys.readouterr().err


def test_python_dash_m_entry_point(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    results.write_text(SAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "harness.report", str(results)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "living-docs" / "index.html").is_file()
