"""The Jenkins nightly: the pipeline has what the issue asks, and every shell command it runs is one
that .ci/run runs too (so CI exercises the nightly's logic on every submission)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).parents[2]
JENKINSFILE = REPO / "Jenkinsfile"


def sh_commands(text: str) -> list[str]:
    """The ``sh '…'`` / ``sh "…"`` commands of a declarative pipeline, in order."""
    return [m[1] or m[2] for m in re.finditer(r"""\bsh\s*\(?\s*(?:'([^']*)'|"([^"]*)")""", text)]


def core(command: str) -> str:
    """A command as run, without what only says how: leading ``VAR=value`` settings, ``sudo -n`` (a
    non-root Jenkins agent needs it, CI runs as root), ``timeout N`` and ``bash``."""
    words = command.split()
    while words and (re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]) or words[0] in ("sudo", "-n", "bash")):
        words.pop(0)
    if words[:1] == ["timeout"]:
        words = words[2:]
    if words[:1] == ["bash"]:
        words.pop(0)
    return " ".join(words)


def ci_commands(text: str) -> list[str]:
    """The command lines of a shell script (continuations joined, comments dropped), as ``core``."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [core(line) for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_pipeline_shape() -> None:
    text = JENKINSFILE.read_text()
    assert re.search(r"triggers\s*\{\s*cron\('[^']+'\)", text), "no nightly cron trigger"
    assert "LAB_DESTROY = 'always'" in text and "LAB_TARGET = 'vagrant'" in text
    assert "params.LAB_TIMEOUT_SCALE" in text
    for stage in ("Host check", "Acceptance on the VM", "Sensitivity (docker, whole catalogue)"):
        assert f"stage('{stage}')" in text
    sensitivity = [c for c in sh_commands(text) if core(c).startswith("tox -e sensitivity")]
    assert sensitivity and "LAB_TARGET=docker" in sensitivity[0], "the nightly runs the catalogue on docker"
    assert core(sensitivity[0]) == "tox -e sensitivity", "the nightly runs the whole catalogue"
    post = text[text.index("post {") :]
    assert "always {" in post
    assert "junit(testResults: 'reports/junit.xml'" in post
    assert "cucumber(fileIncludePattern: 'cucumber.json', jsonReportDirectory: 'reports')" in post
    assert "reports/living-docs/**" in post
    assert "lab down --volumes" in post, "the post step must always tear down"


def test_commands_are_the_ones_ci_runs() -> None:
    commands = [core(c) for c in sh_commands(JENKINSFILE.read_text())]
    assert commands == [
        "provision/host/setup.sh",
        "tox -e acceptance",
        "tox -e sensitivity",
        "tox exec -e acceptance -- lab down --volumes",
    ]
    ci = ci_commands((REPO / ".ci" / "run").read_text())
    missing = [c for c in commands if not any(line == c or line.startswith(c + " ") for line in ci)]
    assert not missing, f"Jenkinsfile commands that .ci/run never runs: {missing}"


def test_command_normalisation() -> None:
    assert sh_commands("sh 'a b'\n sh \"c\"\n sh('d')\nfish 'no'\n") == ["a b", "c", "d"]
    assert core("sudo -n provision/host/setup.sh") == "provision/host/setup.sh"
    assert (
        core('LAB_TARGET=vagrant X="$ROOT/r" timeout 600 tox exec -e acceptance') == "tox exec -e acceptance"
    )
    assert ci_commands("# c\nA=1 \\\n  timeout 9 bash x.sh --y\n") == ["x.sh --y"]
