"""``junit.xml`` rendered from the results model, like ``cucumber.json``: one ``testsuite`` per
feature, one ``testcase`` per scenario (its first failing step's message as ``<failure>``, its skip
reason as ``<skipped>``). Written by the plugin into the reports directory on every acceptance
run — with or without tox, wherever ``--reports-dir`` points — so every CI's test view reads the
same run the living docs show."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree as ET

from harness.report.model import FAILED, FLAKY, PASSED, SKIPPED, UNDEFINED


def _first_error(scenario: Mapping[str, Any]) -> tuple[str, str] | None:
    """(message, detail) of the first failed or undefined step or hook."""
    for part in [*scenario.get("hooks", []), *scenario.get("steps", [])]:
        if part.get("status") in (FAILED, UNDEFINED):
            error = part.get("error") or {}
            where = part.get("text") or part.get("phase") or ""
            message = error.get("message") or f"{part.get('status')}: {where}"
            return message, f"{part.get('keyword', '')} {where}\n{error.get('traceback', '')}".strip()
    return None


def dumps(results: Mapping[str, Any]) -> str:
    suites = ET.Element("testsuites", name="obslab acceptance")
    for feature in results.get("features", []):
        scenarios = feature.get("scenarios", [])
        suite = ET.SubElement(suites, "testsuite", name=feature.get("name", ""), file=feature.get("file", ""))
        counts = {"tests": len(scenarios), "failures": 0, "skipped": 0, "errors": 0}
        for scenario in scenarios:
            classname = feature.get("file", "").replace("/", ".").removesuffix(".feature")
            case = ET.SubElement(
                suite, "testcase", classname=classname,
                name=scenario.get("name", ""), time=f"{scenario.get('duration', 0.0):.3f}",
                file=feature.get("file", ""), line=str(scenario.get("line", 0)),
            )
            if scenario.get("status") == FLAKY:
                # Never a pass: a failure, with each failed run as surefire's <flakyFailure>.
                runs = scenario.get("runs", [])
                passed = sum(r.get("status") == PASSED for r in runs)
                first = _first_error(scenario)
                message = f"flaky: passed {passed} of {len(runs)} runs" + (f"; {first[0]}" if first else "")
                ET.SubElement(case, "failure", message=message, type="flaky").text = first[1] if first else ""
                for i, run in enumerate(runs, 1):
                    if run.get("status") in (FAILED, UNDEFINED):
                        error = _first_error(run) or (run.get("status", ""), "")
                        ET.SubElement(case, "flakyFailure", message=f"run {i}: {error[0]}",
                                      type="flaky").text = error[1]
                counts["failures"] += 1
            elif scenario.get("status") in (FAILED, UNDEFINED):
                message, detail = _first_error(scenario) or (scenario.get("status", ""), "")
                ET.SubElement(case, "failure", message=message).text = detail
                counts["failures"] += 1
            elif scenario.get("status") == SKIPPED:
                reason = scenario.get("skip_reason") or "skipped"
                ET.SubElement(case, "skipped", message=reason).text = reason
                counts["skipped"] += 1
        for key, value in counts.items():
            suite.set(key, str(value))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
