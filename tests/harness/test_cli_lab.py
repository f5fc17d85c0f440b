"""The `lab` CLI: bad input is one line and exit 2; `lab endpoints --json` is one JSON object."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness import cli

ENDPOINT_KEYS = {
    "frontend",
    "backend",
    "prometheus",
    "traces",
    "logs",
    "collector_health",
    "collector_metrics",
    "target",
    "stores",
    "running",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path) -> None:
    for var in (
        "LAB_TARGET",
        "LAB_STORES",
        "LAB_HOST",
        "LAB_ENDPOINTS_FILE",
        "LAB_PROJECT",
        "LAB_IMAGE_SOURCE",
        "LAB_TIMEOUT_SCALE",
        "LAB_COMPOSE",
        "LAB_DOCKER_HOST",
        "CI",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(cli, "REPO_ROOT", tmp_path)  # last-deploy memory goes to a throwaway place


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["up", "--stores", "elk"], "argument --stores: invalid choice: 'elk'"),
        (["up", "--target", "cloud"], "argument --target: invalid choice: 'cloud'"),
        (["up", "--image-source", "ftp"], "argument --image-source: invalid choice: 'ftp'"),
        (["launch"], "invalid choice: 'launch'"),
        (["down", "--vols"], "`lab down` has no option --vols (see `lab down --help`)"),
        (["status", "--image-source", "local"],
         "`lab status` has no option --image-source; it is an option of lab up (see `lab status --help`)"),
        (["up", "--project", "x"], "`lab up` has no option --project (see `lab up --help`)"),
        (["images", "build", "--only"], "expected at least one argument"),
        (["images"], "`lab images` needs an action"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str], expected: str, capsys) -> None:
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert err.count("\n") == 1 and err.startswith("lab: ")
    assert "Traceback" not in err


def _exit_code(argv: list[str]) -> int:
    """main()'s return value, or argparse's SystemExit code."""
    try:
        return cli.main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def test_argparse_errors_exit_2(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["up", "--stores", "elk"])
    assert exit_info.value.code == 2


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("LAB_TIMEOUT_SCALE", "nan", "LAB_TIMEOUT_SCALE='nan' is not a finite number"),
    ("LAB_TIMEOUT_SCALE", "inf", "LAB_TIMEOUT_SCALE='inf' is not a finite number"),
    ("LAB_TIMEOUT_SCALE", "1e308", "LAB_TIMEOUT_SCALE='1e308' is more than 100"),
    ("LAB_DESTROY", "sometimes", "destroy='sometimes' (from LAB_DESTROY) is not valid"),
])
def test_values_that_once_crashed_are_one_line(monkeypatch, capsys, name, value, expected) -> None:
    monkeypatch.setenv(name, value)
    assert cli.main(["status", "--target", "docker"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lab: {expected}") and err.count("\n") == 1 and "Traceback" not in err
    assert "--destroy" not in err, "no option of that name exists"


def test_a_malformed_endpoints_file_is_refused_at_once(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "lab.json"
    bad.write_text("{not json")
    assert cli.main(["status", "--endpoints-file", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "cannot read JSON" in err and err.count("\n") == 1


def test_bad_environment_is_one_line_and_exit_2(monkeypatch, capsys) -> None:
    monkeypatch.setenv("LAB_TIMEOUT_SCALE", "fast")
    assert cli.main(["endpoints", "--json", "--target", "docker"]) == 2
    err = capsys.readouterr().err
    assert err == "lab: LAB_TIMEOUT_SCALE='fast' is not a number; use e.g. 1, 2.5 or 10\n"


def test_no_command_prints_help_and_exit_2(capsys) -> None:
    assert cli.main([]) == 2
    assert "usage: lab" in capsys.readouterr().err


def test_endpoints_json_is_one_object_on_stdout(capsys, monkeypatch) -> None:
    monkeypatch.setenv("LAB_PROJECT", "labnothingrunshere")
    assert cli.main(["endpoints", "--json", "--target", "docker"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["running"] is False and "the lab is not running" in captured.err, "says so"
    assert set(data) == ENDPOINT_KEYS  # no grafana in jaeger-victorialogs
    assert data["target"] == "docker" and data["stores"] == "jaeger-victorialogs"
    assert data["frontend"] == "http://127.0.0.1:8080" and data["traces"] == "http://127.0.0.1:16686"
    assert data["logs"] == "http://127.0.0.1:9428" and data["collector_health"] == "http://127.0.0.1:13133"
    assert captured.err.splitlines()[0].startswith("target docker: chosen explicitly")


def test_endpoints_json_with_grafana_and_lab_host(capsys) -> None:
    assert cli.main(["endpoints", "--json", "--lab-host", "127.0.0.77", "--stores", "tempo-loki"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == ENDPOINT_KEYS | {"grafana"}
    assert data["target"] == "existing" and data["grafana"] == "http://127.0.0.77:3000"


def test_common_options_work_before_and_after_the_command(capsys) -> None:
    assert cli.main(["--stores", "tempo-loki", "endpoints", "--json", "--target", "docker"]) == 0
    assert json.loads(capsys.readouterr().out)["stores"] == "tempo-loki"


def test_endpoints_file_round_trip(tmp_path: Path, capsys) -> None:
    assert cli.main(["endpoints", "--json", "--target", "docker"]) == 0
    path = tmp_path / "endpoints.json"
    path.write_text(capsys.readouterr().out)
    assert cli.main(["endpoints", "--json", "--endpoints-file", str(path)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["target"] == "existing"
    assert "LAB_ENDPOINTS_FILE" in captured.err.splitlines()[0]


def test_human_endpoints_start_with_the_target_line(capsys) -> None:
    assert cli.main(["endpoints", "--target", "docker"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("target docker: chosen explicitly")
    assert any("frontend" in line and "http://127.0.0.1:8080" in line for line in lines[1:])


def test_last_deploy_stores_are_remembered(tmp_path: Path, capsys) -> None:
    cli._remember(tmp_path, "obslab", {"stores": "tempo-loki", "target": "docker"})
    assert cli.main(["endpoints", "--json", "--target", "docker"]) == 0
    assert json.loads(capsys.readouterr().out)["stores"] == "tempo-loki"
    cli._remember(tmp_path, "obslab", None)
    assert cli.main(["endpoints", "--json", "--target", "docker"]) == 0
    assert json.loads(capsys.readouterr().out)["stores"] == "jaeger-victorialogs"


@pytest.mark.skipif(
    shutil.which("lab", path=str(Path(sys.executable).parent)) is None,
    reason="the `lab` console script is not installed in this environment (pip install -e .)",
)
def test_console_script(tmp_path: Path) -> None:
    lab = shutil.which("lab", path=str(Path(sys.executable).parent))
    assert lab is not None
    done = subprocess.run(
        [lab, "endpoints", "--json", "--target", "docker"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout)) == ENDPOINT_KEYS
    bad = subprocess.run(
        [lab, "up", "--stores", "nope"], capture_output=True, text=True, timeout=60, check=False
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def test_plain_progress_lines(capsys) -> None:
    from harness.base.progress import Display

    display = Display(stream=sys.stdout, plain=True)
    display.info("target docker: test")
    with display.phase("compose up"):
        display.detail("Creating x ... done")
    with pytest.raises(RuntimeError), display.phase("waiting"):
        raise RuntimeError("boom")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "target docker: test"
    assert lines[1] == "… compose up" and lines[2] == "  Creating x ... done"
    assert lines[3].startswith("✓ compose up (") and lines[5].startswith("✗ waiting (")


def test_ci_forces_plain_output(monkeypatch) -> None:
    from harness.base.progress import Display

    monkeypatch.setenv("CI", "true")
    assert Display(stream=sys.stdout).plain
