"""What a newcomer hits first, each checked as they would hit it: `pytest features` (in a subprocess,
the real root conftest) and `lab` with bad values, a malformed endpoints file, one feature file, a
lab that cannot come up; the reports wherever --reports-dir points; the documents in the repo."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
NOWHERE = "127.0.0.78"  # loopback, and nothing of ours listens there


def pytest_features(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("LAB_", "PYTEST_"))}
    full.update({"LAB_REPORTS_DIR": str(tmp_path / "reports"), "LAB_PROJECT": "labnewcomer", **env})
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=REPO,
                          env=full, capture_output=True, text=True, timeout=240, check=False)


@pytest.mark.parametrize(("env", "expected"), [
    ({"LAB_TIMEOUT_SCALE": "nan"}, "LAB_TIMEOUT_SCALE='nan' is not a finite number"),
    ({"LAB_TIMEOUT_SCALE": "1e308"}, "LAB_TIMEOUT_SCALE='1e308' is more than 100"),
    ({"LAB_TARGET": "cloud"}, "target='cloud' (from LAB_TARGET or --target) is not valid"),
])
def test_pytest_refuses_a_bad_value_in_one_line(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    proc = pytest_features(tmp_path, "features", "--collect-only", "-q", **env)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert f"ERROR: {expected}" in proc.stderr and "Traceback" not in proc.stderr + proc.stdout


def test_pytest_refuses_a_malformed_endpoints_file_before_collecting(tmp_path: Path) -> None:
    bad = tmp_path / "lab.json"
    bad.write_text('{"frontend": "http://127.0.0.1:8080"')
    proc = pytest_features(tmp_path, "features", "-q", LAB_ENDPOINTS_FILE=str(bad))
    assert proc.returncode == 4
    assert "ERROR: endpoints file" in proc.stderr and "cannot read JSON" in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr and "collected" not in proc.stdout


def test_one_feature_file_runs_that_features_scenarios(tmp_path: Path) -> None:
    everything = pytest_features(tmp_path, "features", "--collect-only", "-q")
    total = int(re.search(r"^(\d+) tests collected", everything.stdout, re.M)[1])
    wanted = sum(len(re.findall(r"^\s*Scenario:", (REPO / "features" / f).read_text(), re.M))
                 for f in ("metrics.feature", "logs.feature"))
    proc = pytest_features(tmp_path, "features/metrics.feature", "features/logs.feature",
                           "--collect-only", "-q")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    expected = rf"^{wanted}/{total} tests collected \({total - wanted} deselected\)"
    assert re.search(expected, proc.stdout, re.M), proc.stdout[-400:]


def test_a_lab_that_cannot_come_up_is_said_once_and_the_report_keeps_the_traceback(
    tmp_path: Path
) -> None:
    """Every scenario fails (the lab is not there), but the terminal says why once, every other
    scenario in one line, ends with the one-screen summary — and the traceback is in the report."""
    proc = pytest_features(tmp_path, "features", "-q", "--tb=short",
                           LAB_TARGET="existing", LAB_HOST=NOWHERE, LAB_TIMEOUT_SCALE="0.05")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert "Traceback" not in out and "_pytest" not in out, "no pytest-internal tracebacks"
    failed = out.count("\nFAILED ")
    assert failed >= 20
    assert len(out.splitlines()) < 3 * failed + 40, f"{len(out.splitlines())} lines for one cause"
    assert out.count("the lab could not be started: the existing lab does not answer") >= 20
    assert "reusing it" not in out, "nothing answers: there is nothing to reuse"
    summary = out[out.index("lab run: "):]
    assert re.match(r"lab run: 0 passed|lab run: \d+ failed", summary)
    assert "first failure: " in summary and "living docs: " in summary
    results = (tmp_path / "reports" / "results.json").read_text()
    assert "the existing lab does not answer" in results and '"traceback"' in results
    junit = (tmp_path / "reports" / "junit.xml").read_text()
    assert "<failure" in junit and "<skipped" in junit, "junit.xml is written where --reports-dir points"


def test_no_document_points_outside_the_repository() -> None:
    for path in [REPO / "README.md", *(REPO / "docs").rglob("*.md")]:
        text = path.read_text()
        assert "../shared" not in text and "ARCHITECTURE.md" not in text, path


def test_vagrant_missing_is_one_line_without_python_vagrants_own(tmp_path: Path) -> None:
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path), "LAB_PROJECT": "labnewcomer"}
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "status", "--target", "vagrant"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "vagrant is not on PATH" in proc.stderr, proc.stderr
    assert "cannot be found" not in proc.stderr
