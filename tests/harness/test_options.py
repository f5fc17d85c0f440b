"""The one options table (harness/base/options.py) against what reads it and what documents it: the
README's options table row for row, the pytest options, the `lab` options and LabConfig's fields."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from harness.base import options
from harness.base.config import LabConfig
from harness.base.errors import ConfigError
from harness.bdd.scenario import RunOptions
from harness.cli import build_parser

REPO = Path(__file__).parents[2]


def readme_rows() -> list[tuple[str, str, str]]:
    """(flag or "—", variable, default) of each row of the README's "Options" table, backticks off."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("\n## Options"):]
    section = section[:section.index("\n## ", 1)]
    rows = []
    for line in section.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[1].startswith(("LAB_", "GF_")):
            rows.append((cells[0], cells[1], cells[2]))
    return rows


def test_the_readme_options_table_is_the_options_table_row_for_row() -> None:
    documented = readme_rows()
    declared = [(o.flag or "—", o.env, o.documented_default) for o in options.OPTIONS.values()]
    assert documented, "no options table found in README.md"
    missing = [row for row in declared if row not in documented]
    undeclared = [row for row in documented if row not in declared]
    assert not missing, f"rows of harness/base/options.py that the README lacks or says otherwise: {missing}"
    assert not undeclared, f"README rows that harness/base/options.py does not declare so: {undeclared}"
    assert documented == declared, "the README lists the options in another order than the table"


def test_every_lab_row_is_a_field_of_the_config_with_the_row_s_default() -> None:
    config_fields = {f.name for f in fields(LabConfig)}
    default = LabConfig()
    for row in options.rows(scope=options.LAB):
        assert row.name in config_fields, row.name
        if row.name != "reports_dir":  # resolved against the repository
            assert getattr(default, row.name) == row.value({}, {}), row.name
    run_fields = {f.name for f in fields(RunOptions)} - {"only"} | {"shard"}  # only: the parsed --shard
    assert {r.name for r in options.rows(scope=options.RUN)} == run_fields


def test_the_lab_command_has_the_flags_the_table_gives_it() -> None:
    parser = build_parser()
    common = {o for a in parser._actions for o in a.option_strings} - {"-h", "--help", "--version", "--shard"}
    assert common == {o.flag for o in options.rows(command=options.LAB_COMMON)}
    up = parser._subparsers._group_actions[0].choices["up"]  # type: ignore[union-attr]
    up_flags = {o for a in up._actions for o in a.option_strings}
    assert {o.flag for o in options.rows(command=options.LAB_UP)} <= up_flags


def test_pytest_has_the_flags_the_table_gives_it() -> None:
    """Every flag of a pytest row (the run's plugin's and the report plugin's) in `pytest --help`,
    with its variable in the help line."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    for row in options.rows(command=options.PYTEST) + options.rows(command=options.REPORT):
        found = re.search(rf"(?<![\w-]){re.escape(row.flag)}[ =]", text)
        assert found, f"pytest has no {row.flag}"
        assert row.env in text[found.end():found.end() + 400], f"{row.flag}'s help does not name {row.env}"


@pytest.mark.parametrize(("row", "given", "env", "expected"), [
    ("target", {"target": "docker"}, {"LAB_TARGET": "vagrant"}, "docker"),  # the flag wins
    ("target", {"target": None}, {"LAB_TARGET": "vagrant"}, "vagrant"),  # None: not given
    ("target", {}, {"LAB_TARGET": "  "}, "auto"),  # an empty variable is unset
    ("destroy", {"keep": True}, {"LAB_DESTROY": "always"}, "never"),  # a flag without a value
    ("timeout_scale", {}, {"LAB_TIMEOUT_SCALE": "2.5"}, 2.5),
    ("compose_command", {}, {"LAB_COMPOSE": " docker   compose "}, "docker compose"),
])
def test_a_row_resolves_flag_then_variable_then_default(row: str, given: dict, env: dict,
                                                         expected: object) -> None:
    assert options.OPTIONS[row].value(given, env) == expected


def test_a_bad_value_names_the_variable_and_the_flag() -> None:
    with pytest.raises(ConfigError, match=r"^stores='elk' \(from LAB_STORES or --stores\) is not valid; "
                                          "use one of: jaeger-victorialogs, tempo-loki$"):
        options.OPTIONS["stores"].value({}, {"LAB_STORES": "elk"})
    with pytest.raises(ConfigError, match=r"\(from LAB_DESTROY\)"):  # --keep takes no value
        options.OPTIONS["destroy"].value({}, {"LAB_DESTROY": "sometimes"})
