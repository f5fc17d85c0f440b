""".ci/check-skips: CI fails on a skip that something .ci/run installs would have removed, and says
which; every skip reason the project's tests give for a missing tool or image is one it catches."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
SCRIPT = REPO / ".ci" / "check-skips"


def junit(tmp_path: Path, *reasons: str) -> Path:
    cases = "".join(f'<testcase classname="t" name="n{i}"><skipped message="{r}"/></testcase>'
                    for i, r in enumerate(reasons))
    path = tmp_path / "junit.xml"
    path.write_text(f'<testsuites><testsuite name="s">{cases}<testcase classname="t" name="ok"/>'
                    "</testsuite></testsuites>")
    return path


def check(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=30)


def test_a_skip_for_something_ci_installs_fails_the_phase_and_is_named(tmp_path: Path) -> None:
    done = check(junit(tmp_path, "needs a VM; the docker target has none", "Skipped: no docker CLI"))
    assert done.returncode == 1
    assert "2 skipped" in done.stdout and "t::n1: no docker CLI" in done.stdout
    assert "t::n0" not in done.stdout.split("must not have")[1], "an allowed skip is listed, not failed"


def test_allowed_skips_are_counted_and_pass(tmp_path: Path) -> None:
    done = check(junit(tmp_path, *["needs a VM; the docker target has none"] * 3))
    assert done.returncode == 0 and "3 \u00d7 needs a VM" in done.stdout


def test_an_unreadable_report_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "bad.xml").write_text("<testsuites>")
    assert check(tmp_path / "bad.xml").returncode == 2
    assert check().returncode == 2


# skip reasons in the tests that name a tool, package, engine, image or box .ci/run provides
_PROVIDED = re.compile(
    r"not installed|not built|no docker|docker engine|box .*(not added|added yet)|needs root", re.IGNORECASE)


def _skip_reasons() -> list[str]:
    found = []
    for path in [*REPO.glob("tests/**/*.py"), REPO / "conftest.py", *REPO.glob("steps/*.py")]:
        text = path.read_text()
        found += re.findall(r"""(?:pytest\.skip\(f?|reason=f?)["']([^"']{8,})""", text)
    return found


@pytest.mark.parametrize("reason", sorted({r for r in _skip_reasons() if _PROVIDED.search(r)}))
def test_every_skip_for_a_provided_tool_is_forbidden_in_ci(reason: str) -> None:
    patterns = [re.compile(ln.strip(), re.IGNORECASE) for ln in (REPO / ".ci" / "forbidden-skips").read_text()
                .splitlines() if ln.strip() and not ln.startswith("#")]
    assert any(p.search(reason) for p in patterns), f"{reason!r} is not in .ci/forbidden-skips"
