"""The README's first screen and what CI runs stay one thing.

The README gives two commands (``sudo ./obslab acceptance``, ``sudo ./obslab unit``); ``./obslab``
turns each into a set-up (``provision/host/prepare.sh`` with flags) and a tox command. CI
(``.ci/run``) must run that same set-up with at least those flags, and the same tox jobs. The
set-up itself is checked where it can be without installing anything: its one-line refusals.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.harness.test_vagrant_jenkinsfile import bare, ci_commands, core

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CI_RUN = ROOT / ".ci" / "run"
OBSLAB = ROOT / "obslab"
PREPARE = ROOT / "provision" / "host" / "prepare.sh"
PREPARE_CMD = "provision/host/prepare.sh"


def first_screen_commands(readme: str) -> list[str]:
    """The commands of the first code block under '## Start here' (comments dropped)."""
    section = readme.split("## Start here", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "README: no ```sh block under '## Start here'"
    return [ln.split("#", 1)[0].strip() for ln in block.group(1).splitlines() if ln.split("#", 1)[0].strip()]


def plan(job_args: list[str], env: dict[str, str] | None = None) -> tuple[str, str]:
    """What ``./obslab`` would run for a job: (the set-up line, the tox line)."""
    out = subprocess.run([str(OBSLAB), "plan", *job_args], capture_output=True, text=True, timeout=30,
                         env={**os.environ, **(env or {})}, check=True).stdout.splitlines()
    assert len(out) == 2, out
    return out[0].strip(), out[1].strip()


def flags(setup_line: str) -> set[str]:
    words = setup_line.split()
    assert words[0] == PREPARE_CMD, setup_line
    return set(words[1:])


def ci_setups(ci_text: str) -> list[str]:
    return [c for c in ci_commands(ci_text) if c.split()[:1] == [PREPARE_CMD]]


def drift(readme: str, ci_text: str) -> list[str]:
    """What the README's commands would run that CI does not (empty when none)."""
    problems = []
    commands = first_screen_commands(readme)
    jobs = []
    for command in commands:
        words = command.split()
        if words[:2] != ["sudo", "./obslab"] or len(words) < 3:
            problems.append(f"README first screen: {command!r} is not `sudo ./obslab JOB`")
            continue
        jobs.append(words[2:])
    if sorted(j[0] for j in jobs) != ["acceptance", "unit"]:
        problems.append(f"README first screen: jobs {[j[0] for j in jobs]}, not acceptance and unit")
    setups = ci_setups(ci_text)
    if len(setups) != 1:
        problems.append(f".ci/run: {len(setups)} calls of {PREPARE_CMD}, not one")
    ci_cores = {core(c) for c in ci_commands(ci_text)}
    for job in jobs:
        setup, tox = plan(job)
        if setups and not flags(setup) <= flags(setups[0]):
            problems.append(f"`./obslab {' '.join(job)}` sets up {sorted(flags(setup))}; "
                            f".ci/run only {sorted(flags(setups[0]))}")
        if core(tox) not in ci_cores:
            problems.append(f"`./obslab {' '.join(job)}` runs `{tox}`, which .ci/run never runs")
    return problems


def test_readme_commands_are_what_ci_runs() -> None:
    assert drift(README.read_text(), CI_RUN.read_text()) == []


def test_drift_is_caught() -> None:
    readme, ci = README.read_text(), CI_RUN.read_text()
    (setup,) = ci_setups(ci)
    assert any("sets up" in p for p in drift(readme, ci.replace(f"{setup}\n", f"{PREPARE_CMD} --vms\n")))
    assert any("runs `tox -e unit`" in p for p in drift(readme, re.sub(r"tox -e unit\b", "tox -e other", ci)))
    assert any("not one" in p for p in drift(readme, ci.replace(f"bash {PREPARE_CMD}", "bash other.sh")))
    assert any("not acceptance and unit" in p
               for p in drift(readme.replace("sudo ./obslab unit", "sudo ./obslab acceptance"), ci))
    assert any("is not `sudo ./obslab JOB`" in p
               for p in drift(readme.replace("sudo ./obslab unit", "tox -e unit"), ci))
    assert bare(setup).startswith(PREPARE_CMD)


def test_plan_follows_the_target() -> None:
    assert plan(["unit"]) == (f"{PREPARE_CMD} --vms --images", "tox -e unit")
    assert plan(["acceptance"], {"LAB_TARGET": "docker"}) == (PREPARE_CMD, "tox -e acceptance")
    assert plan(["acceptance", "--target", "vagrant", "-k", "x"], {"LAB_TARGET": "docker"}) == (
        f"{PREPARE_CMD} --vms", "tox -e acceptance -- --target vagrant -k x")
    assert plan(["acceptance"], {"LAB_TARGET": "vagrant"})[0] == f"{PREPARE_CMD} --vms"


@pytest.mark.parametrize("args", [[], ["deploy"]])
def test_obslab_usage_errors_are_one_line(args: list[str]) -> None:
    done = subprocess.run([str(OBSLAB), *args], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1
    assert "usage: ./obslab acceptance|unit" in done.stderr


def _prepare(args: list[str], env: dict[str, str], script: Path = PREPARE, user: bool = False,
             ) -> subprocess.CompletedProcess[str]:
    cmd = ["bash", str(script), *args]
    if user:
        if os.geteuid() != 0 or not shutil.which("setpriv"):
            pytest.skip("checking the refusal of a user without root needs root and setpriv to drop it")
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "OBSLAB_TOOLS": "/nonexistent/obslab-tools", **env})


def _readable_copy() -> Path:
    """The set-up and what it reads, where a user without root can read them (a clone may live in a
    directory only root can enter, as CI's does)."""
    top = Path(tempfile.mkdtemp(prefix="obslab-prepare-", dir="/tmp"))
    for rel in ("provision/host/prepare.sh", "provision/host/compose-v2.sh", "stack/images/versions.env"):
        (top / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, top / rel)
    for path in [top, *top.rglob("*")]:
        path.chmod(0o777 if path == top else 0o755)
    return top


def test_prepare_without_root_stops_in_one_line_naming_the_command() -> None:
    """With tox absent (a tools dir that does not exist) there is something to do, so root is needed."""
    top = _readable_copy()
    try:
        logs = top / "logs"  # the user could make it (the folder is open to all): it must not
        done = _prepare([], {"PREPARE_AS": "sudo ./obslab unit", "SETUP_LOG_DIR": str(logs)},
                        script=top / "provision" / "host" / "prepare.sh", user=True)
        assert done.returncode == 2, done
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert "needs root" in lines[0] and "tox" in lines[0] and lines[0].endswith("run: sudo ./obslab unit")
        assert not logs.exists(), "it changed something before refusing"
    finally:
        shutil.rmtree(top)


def test_prepare_on_an_unknown_distribution_names_what_is_missing(tmp_path: Path) -> None:
    release = tmp_path / "os-release"
    release.write_text('ID=fedora\nVERSION_ID=41\nPRETTY_NAME="Fedora Linux 41"\n')
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    # a dpkg-query that knows no package: every package reads as missing, as on a non-Debian host
    (fake_bin / "dpkg-query").write_text("#!/bin/sh\nexit 1\n")
    (fake_bin / "dpkg-query").chmod(0o755)
    done = _prepare([], {"PREPARE_OS_RELEASE": str(release), "PATH": f"{fake_bin}:{os.environ['PATH']}",
                         "SETUP_LOG_DIR": str(tmp_path / "logs")})
    assert done.returncode == 3, done
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("prepare: Fedora Linux 41 is not a distribution this set-up knows")
    assert "docker.io" in line and "tox 4.67.15" in line
    assert not (tmp_path / "logs").exists()


def test_prepare_rejects_an_unknown_option() -> None:
    done = _prepare(["--vm"], {})
    assert done.returncode == 2
    assert done.stderr.strip() == "prepare: unknown option '--vm' (known: --vms, --images, --dry-run)"


def test_prepare_dry_run_changes_nothing_and_says_what_it_would_do(tmp_path: Path) -> None:
    done = _prepare(["--dry-run", "--vms"], {"SETUP_LOG_DIR": str(tmp_path / "logs")})
    assert done.returncode == 0, done
    assert "would do tox: tox 4.67.15 in /nonexistent/obslab-tools" in done.stdout
    assert "would make the VM host ready" in done.stdout
    assert not (tmp_path / "logs").exists()


def test_the_commands_are_on_the_first_screen_and_their_tox_environments_exist() -> None:
    readme, tox = README.read_text(), (ROOT / "tox.ini").read_text()
    assert readme.index("## Start here") < 400, "the two commands are on the first screen"
    for command in first_screen_commands(readme):
        _, tox_line = plan(command.split()[2:])
        env = re.search(r"-e (\w+)", tox_line)
        assert env and f"[testenv:{env[1]}]" in tox, tox_line
