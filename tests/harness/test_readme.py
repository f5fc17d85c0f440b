"""The README's first screen is what a newcomer runs: its two commands exist as written in the tox
config and CI runs them literally (so a README that drifts from what works goes red here)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).parents[2]


def start_here_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Start here") :]
    block = section[section.index("```sh") + len("```sh") : section.index("```", section.index("```sh") + 5)]
    return [line.split("#", 1)[0].strip() for line in block.strip().splitlines() if line.strip()]


def ci_lines() -> list[str]:
    from tests.harness.test_vagrant_jenkinsfile import ci_commands

    return ci_commands((REPO / ".ci" / "run").read_text())


def test_the_first_screen_has_the_two_commands() -> None:
    assert start_here_commands() == ["tox -e acceptance", "tox -e unit"]
    text = (REPO / "README.md").read_text()
    assert text.index("## Start here") < 400, "the set-up commands are on the first screen"
    for prerequisite in ("Python 3.11", "tox ≥ 4.20", "Docker engine with compose"):
        assert prerequisite in text[: text.index("```sh")]


def test_ci_runs_the_readme_commands_literally() -> None:
    lines = ci_lines()
    for command in start_here_commands():
        assert command in lines, f"{command!r} is not run as written by .ci/run"


def test_the_tox_environments_the_readme_names_exist() -> None:
    tox = (REPO / "tox.ini").read_text()
    for command in start_here_commands():
        env = re.search(r"-e (\w+)", command)
        assert env and f"[testenv:{env[1]}]" in tox, command
