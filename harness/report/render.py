"""Write the report files: those of a results dict (shared by the plugin and ``python -m
harness.report``) and those of a sensitivity run (``lab sensitivity``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.report import cucumber, junit, living_docs, model, sensitivity_report

RESULTS = "results.json"
CUCUMBER = "cucumber.json"
JUNIT = "junit.xml"
LIVING_DOCS = Path("living-docs") / "index.html"


def write_all(results: Mapping[str, Any], out_dir: Path) -> dict[str, Path]:
    """``results.json`` + the renderings, into ``out_dir``; returns what was written."""
    written = {"results": model.save(results, Path(out_dir) / RESULTS)}
    written.update(write_renderings(results, out_dir))
    return written


def write_renderings(results: Mapping[str, Any], out_dir: Path) -> dict[str, Path]:
    """``cucumber.json``, ``junit.xml`` and ``living-docs/index.html`` (re-rendering leaves results
    alone)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cucumber_path = out_dir / CUCUMBER
    _write(cucumber_path, cucumber.dumps(results))
    junit_path = out_dir / JUNIT
    _write(junit_path, junit.dumps(results))
    docs_path = out_dir / LIVING_DOCS
    _write(docs_path, living_docs.render_html(results, sensitivity_report.load_latest(out_dir)))
    return {"cucumber": cucumber_path, "junit": junit_path, "living_docs": docs_path}


def write_sensitivity(data: Mapping[str, Any], reports_dir: Path) -> dict[str, Path]:
    """A sensitivity run's table (:mod:`harness.report.sensitivity_report`): the JSON, the Markdown
    and the living docs; returns what was written."""
    out = Path(reports_dir) / sensitivity_report.DIR
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / sensitivity_report.JSON, out / sensitivity_report.MARKDOWN
    json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    md_path.write_text(sensitivity_report.markdown(data), encoding="utf-8")
    written = {"json": json_path, "markdown": md_path}
    results_path = Path(reports_dir) / RESULTS
    try:
        written.update(write_renderings(model.load(results_path), reports_dir))
    except model.ResultsError:  # no acceptance run here yet: a page with this section only
        docs = Path(reports_dir) / LIVING_DOCS
        docs.parent.mkdir(parents=True, exist_ok=True)
        run = {"target": data.get("target"), "stores": data.get("stores"), "started": data.get("started")}
        docs.write_text(living_docs.render_html({"features": [], "run": run}, data), encoding="utf-8")
        written["living_docs"] = docs
    return written


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
