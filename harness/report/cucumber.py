"""``cucumber.json`` from ``results.json``: the standard Cucumber JSON the Jenkins plugin reads.

Shape (what cucumber-reporting, the library behind the Jenkins Cucumber Reports plugin, parses):
a list of features ``{uri, id, keyword, name, line, description, tags, elements}``; each element
``{type: "scenario", keyword, id, name, line, description, tags[{name, line}], steps, before?,
after?}``; each step ``{keyword, name, line, match{location}, result{status, duration (ns),
error_message?}, embeddings?, output?, doc_string?, rows?}``.

Choices:
- Background steps are kept inline at the head of each scenario's steps (as pytest-bdd runs them)
  rather than as a separate ``background`` element, so a scenario's status is computed from
  everything it ran.
- Statuses are the model's: the failed step ``failed``, the steps after it ``skipped``, an
  undefined step ``undefined``; a skipped scenario is present with every step ``skipped`` and the
  reason as the steps' ``error_message`` (``Skipped: <reason>``, as Cucumber-JVM does).
- Evidence goes both ways the plugin shows: ``output`` gets one readable line per item (kind,
  what was asked, status/time/ids) that Jenkins prints under the step, and ``embeddings`` gets the
  whole item as ``application/json`` (base64, named ``evidence-N-KIND.json``), which Jenkins
  offers as an attachment. Empty lists are left out: the plugin's ``output`` parser fails on ``[]``.
- Pytest's setup/teardown phases become ``before``/``after`` hooks, only when they carry evidence
  or an error (a failing fixture makes the scenario failed, as in Cucumber).
- A scenario pytest counts as an expected failure (xfail) has its failed step reported
  ``skipped`` with the failure in the message, so Jenkins does not fail on what pytest accepts.
- No ``start_timestamp``: older plugin versions reject the timestamp formats Python writes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from typing import Any

from harness.report.model import FAILED, SKIPPED

NS = 1_000_000_000
OUTPUT_VALUE_LIMIT = 120


def to_cucumber(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The Cucumber JSON document (a list of features) for a results dict."""
    return [_feature(f) for f in results["features"]]


def dumps(results: Mapping[str, Any]) -> str:
    """``cucumber.json`` text (indented: people open it when Jenkins shows something odd)."""
    return json.dumps(to_cucumber(results), indent=2, ensure_ascii=False) + "\n"


def _feature(feature: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "uri": feature["file"],
        "id": feature["id"],
        "keyword": feature.get("keyword") or "Feature",
        "name": feature.get("name") or feature["file"],
        "line": feature.get("line") or 1,
        "description": feature.get("description") or "",
        "tags": _tags(feature.get("tags", [])),
        # a repeated scenario (--repeat) is each of its runs: Cucumber has no "flaky", its runs say it
        "elements": [_element(feature, run, f" (run {i} of {len(s['runs'])})" if s.get("runs") else "")
                     for s in feature["scenarios"] for i, run in enumerate(s.get("runs") or [s], 1)],
    }


def _element(feature: Mapping[str, Any], scenario: Mapping[str, Any], suffix: str = "") -> dict[str, Any]:
    examples = scenario.get("examples")
    rule = scenario.get("rule")
    xfail = scenario.get("xfail_reason") if scenario.get("outcome") == "xfailed" else None
    inherited: list[Mapping[str, Any]] = [*feature.get("tags", [])]
    if rule:
        inherited += rule.get("tags", [])
    inherited += scenario.get("tags", [])
    if examples:
        inherited += examples.get("tags", [])
    element: dict[str, Any] = {
        "id": scenario["id"],
        "keyword": scenario["keyword"],
        "type": "scenario",
        "name": scenario["name"] + suffix,
        "line": (examples or {}).get("row_line") or scenario["line"],
        "description": scenario.get("description") or "",
        "tags": _tags(_unique(inherited)),
        "steps": [_step(s, xfail) for s in scenario["steps"]],
    }
    hooks = {h["phase"]: h for h in scenario.get("hooks", [])}
    before = [_hook(hooks["setup"])] if "setup" in hooks and _has_content(hooks["setup"]) else []
    after = [_hook(hooks[p]) for p in ("call", "teardown") if p in hooks and _has_content(hooks[p])]
    if before:
        element["before"] = before
    if after:
        element["after"] = after
    return element


def _step(step: Mapping[str, Any], xfail: str | None = None) -> dict[str, Any]:
    status = step["status"]
    message = _error_message(step.get("error"))
    if xfail is not None and status == FAILED:  # pytest counts it as expected, so must Jenkins
        status, message = SKIPPED, f"Expected to fail (xfail: {xfail}): {message}"
    result: dict[str, Any] = {"status": status, "duration": _ns(step.get("duration", 0.0))}
    if step["status"] == SKIPPED and step.get("skip_reason") and not message:
        message = f"Skipped: {step['skip_reason']}"
    if message:
        result["error_message"] = message
    out: dict[str, Any] = {
        "keyword": f"{step['keyword']} ",
        "name": step["text"],
        "line": step["line"],
        "match": {"location": step.get("location") or ""},
        "result": result,
    }
    if step.get("docstring") is not None:
        out["doc_string"] = {"value": step["docstring"], "line": step["line"] + 1}
    if step.get("datatable"):
        out["rows"] = [{"cells": list(row)} for row in step["datatable"]]
    _add_evidence(out, step.get("evidence", []))
    return out


def _hook(hook: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"status": hook["status"], "duration": _ns(hook.get("duration", 0.0))}
    message = _error_message(hook.get("error"))
    if message:
        result["error_message"] = message
    out: dict[str, Any] = {"match": {"location": f"pytest {hook['phase']} (fixtures)"}, "result": result}
    _add_evidence(out, hook.get("evidence", []))
    return out


def _has_content(hook: Mapping[str, Any]) -> bool:
    return bool(hook.get("evidence")) or bool(hook.get("error"))


def _add_evidence(target: dict[str, Any], items: list[Mapping[str, Any]]) -> None:
    if not items:
        return
    target["output"] = [output_line(item) for item in items]
    target["embeddings"] = [
        {
            "mime_type": "application/json",
            "data": base64.b64encode(json.dumps(item, indent=2, ensure_ascii=False).encode()).decode("ascii"),
            "name": f"evidence-{i}-{_file_safe(item.get('kind', 'note'))}.json",
        }
        for i, item in enumerate(items, 1)
    ]


def output_line(item: Mapping[str, Any]) -> str:
    """One readable line for an evidence item: ``[http] GET http://… | status=200 elapsed_ms=12.5``."""
    facts = []
    for key, value in (item.get("detail") or {}).items():
        text = str(value)
        if (
            isinstance(value, str | int | float | bool)
            and len(text) <= OUTPUT_VALUE_LIMIT
            and "\n" not in text
        ):
            facts.append(f"{key}={text}")
    line = f"[{item.get('kind', 'note')}] {item.get('summary', '')}"
    return f"{line} | {' '.join(facts)}" if facts else line


def _error_message(error: Mapping[str, Any] | None) -> str:
    if not error:
        return ""
    message = str(error.get("message") or "")
    tb = str(error.get("traceback") or "")
    return f"{message}\n\n{tb}".strip() if tb else message


def _tags(tags: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for tag in tags:
        entry: dict[str, Any] = {"name": f"@{tag['name']}"}
        if tag.get("line") is not None:
            entry["line"] = tag["line"]
        out.append(entry)
    return out


def _unique(tags: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    seen: dict[str, Mapping[str, Any]] = {}
    for tag in tags:
        seen.setdefault(tag["name"], tag)
    return list(seen.values())


def _ns(seconds: float) -> int:
    return max(0, round(float(seconds) * NS))


def _file_safe(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in str(text).lower()) or "note"
