"""Write the report files from a results dict (shared by the plugin and ``python -m harness.report``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.report import cucumber, junit, living_docs, model, sensitivity

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
    _write(docs_path, living_docs.render_html(results, sensitivity.load_latest(out_dir)))
    return {"cucumber": cucumber_path, "junit": junit_path, "living_docs": docs_path}


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
