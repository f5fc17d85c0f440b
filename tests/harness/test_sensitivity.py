"""lab sensitivity's own logic without a lab: the verdict, catcher and time to red read from a run's
results.json, the table files and the living docs section, the workspace and snapshot, and the
command line (one-line errors, the catalogue listing, the docker-only rule)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from harness import cli
from harness.base.config import LabConfig
from harness.base.errors import ConfigError
from harness.faults import BY_NAME, FAULTS
from harness.faults.sensitivity import (
    CAUGHT,
    ERROR,
    ESCAPED,
    Row,
    SensitivityRun,
    choose_faults,
    read_outcome,
)
from harness.faults.workspace import HEALTHCHECK_BINARY, Workspace, snapshot
from harness.report import living_docs, render
from harness.report import sensitivity_report as report

REPO = Path(__file__).resolve().parents[2]
FAULT = BY_NAME["collector-traces-to-debug"]


def scenario(name: str, started: str, status: str, duration: float, steps: list[dict]) -> dict:
    return {"name": name, "started": started, "status": status, "duration": duration, "steps": steps,
            "hooks": []}


def step(text: str, status: str, duration: float, message: str | None = None) -> dict:
    return {"keyword": "Then", "text": text, "status": status, "duration": duration,
            "error": {"message": message, "traceback": "tb"} if message else None}


def results(*scenarios: dict) -> dict:
    return {"run": {"started": "2026-12-01T10:00:00.000+00:00"}, "features": [{"scenarios": list(scenarios)}]}


def test_caught_names_the_scenario_step_and_time_to_red() -> None:
    message = ("timed out after 30.0s waiting for trace abc in jaeger; traces by hop: the collector "
               "accepted 9 spans, sent 9 to debug")
    data = results(
        scenario("A", "2026-12-01T10:00:00.000+00:00", "failed", 40.0, [
            step("the lab is deployed", "passed", 25.0),
            step("the trace store has that trace within 30 seconds", "failed", 15.0, message),
        ]),
        scenario("B", "", "skipped", 0.0, [step("x", "skipped", 0.0)]),
    )
    out = read_outcome(data, FAULT)
    assert out["verdict"] == CAUGHT and out["scenario"] == "A"
    assert out["step"] == "Then the trace store has that trace within 30 seconds"
    assert out["time_to_red_s"] == 15.0, "counted from the end of the deploy step"
    assert (out["names_signal"], out["names_hop"]) == (True, True)


def test_a_runtime_faults_setup_counts_as_deploy() -> None:
    failed = scenario("A", "2026-12-01T10:00:00.000+00:00", "failed", 60.0, [
        step("the lab is deployed", "passed", 0.1), step("x", "failed", 30.0, "no trace in jaeger"),
    ])
    failed["hooks"] = [{"phase": "setup", "status": "passed", "duration": 29.9, "error": None}]
    assert read_outcome(results(failed), FAULT)["time_to_red_s"] == 30.0


def test_a_failure_outside_the_steps_is_not_a_catch() -> None:
    failed = scenario("A", "2026-12-01T10:00:00.000+00:00", "failed", 5.0, [step("x", "skipped", 0.0)])
    failed["hooks"] = [{"phase": "setup", "status": "failed", "duration": 5.0,
                        "error": {"message": "filling /x did not reach a full disk"}}]
    out = read_outcome(results(failed), FAULT)
    assert out["verdict"] == ERROR and out["step"] == "(setup)" and "full disk" in out["message"]


def test_a_deploy_that_fails_is_red_from_the_run_start() -> None:
    data = results(scenario("A", "2026-12-01T10:00:05.000+00:00", "failed", 300.0, [
        step("the lab is deployed", "failed", 300.0, "prometheus not healthy after 300s"),
    ]))
    out = read_outcome(data, FAULT)
    assert out["verdict"] == CAUGHT and out["time_to_red_s"] == 305.0


def test_green_is_an_escape_and_nothing_run_is_an_error() -> None:
    green = results(scenario("A", "2026-12-01T10:00:00.000+00:00", "passed", 5.0, [step("x", "passed", 5.0)]))
    assert read_outcome(green, FAULT)["verdict"] == ESCAPED
    nothing = results(scenario("A", "", "skipped", 0.0, [step("x", "skipped", 0.0)]))
    assert read_outcome(nothing, FAULT)["verdict"] == ERROR


def test_table_files_and_living_docs_section(tmp_path: Path) -> None:
    config = LabConfig.from_sources({"target": "docker", "reports_dir": str(tmp_path)}, {})
    run = SensitivityRun(config, [FAULT], work_dir=tmp_path / "work")
    run.rows.append(Row(FAULT.name, FAULT.hop, FAULT.signal, FAULT.kind, FAULT.summary, list(FAULT.catches),
                        verdict=CAUGHT, scenario="A", step="Then x | y", message="no trace | in jaeger",
                        names_signal=True, names_hop=True, time_to_red_s=12.0))
    written = render.write_sensitivity(run.to_dict(), config.reports_dir)  # as `lab sensitivity` does
    data = json.loads(written["json"].read_text())
    assert data["summary"]["caught_percent"] == 100.0 and data["rows"][0]["fault"] == FAULT.name
    md = written["markdown"].read_text()
    assert f"`{FAULT.name}`" in md and "\\|" in md and "| 12 s |" in md
    html = written["living_docs"].read_text()
    assert 'id="sensitivity"' in html and FAULT.name in html
    assert report.load_latest(tmp_path)["rows"][0]["verdict"] == CAUGHT
    assert "id=\"sensitivity\"" not in living_docs.render_html({"features": [], "run": {}})


def test_the_runner_refuses_other_targets(tmp_path: Path) -> None:
    config = LabConfig.from_sources({"target": "vagrant", "reports_dir": str(tmp_path)}, {})
    with pytest.raises(ConfigError, match="docker target"):
        SensitivityRun(config, FAULTS)


def test_choose_faults() -> None:
    single = [f for f in FAULTS if f.topology == "single"]
    assert choose_faults() == single
    assert choose_faults(topology="split") == [f for f in FAULTS if f.topology == "split"]
    assert len(choose_faults(topology="split")) >= 6
    assert {f.name for f in choose_faults(ci=True)} == {f.name for f in single if f.ci}
    with pytest.raises(ConfigError, match="--list"):
        choose_faults(["no-such-fault"])
    with pytest.raises(ConfigError, match="--topology split"):
        choose_faults(["split-agent-wrong-gateway"])


def test_workspace_and_snapshot_leave_the_tree_alone(tmp_path: Path) -> None:
    before = (REPO / "stack" / "compose.yaml").read_text()
    workspace = Workspace(REPO, tmp_path / "copy").create()
    workspace.apply(BY_NAME["compose-database-off-volume"])
    assert (REPO / "stack" / "compose.yaml").read_text() == before
    assert "sqlite:////tmp/tasks.db" in (workspace.root / "stack" / "compose.yaml").read_text()
    assert (workspace.root / "harness" / "faults" / "catalogue.py").is_file()
    if subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True).returncode == 0:
        base = snapshot(REPO, tmp_path / "head", "HEAD")
        assert (base / "stack" / "compose.yaml").is_file() and (base / "conftest.py").is_file()
        assert (base / HEALTHCHECK_BINARY).is_file() == (REPO / HEALTHCHECK_BINARY).is_file()


def test_cli_lists_the_catalogue_and_says_bad_options_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["sensitivity", "--list"]) == 0
    out = capsys.readouterr().out
    single = [f for f in FAULTS if f.topology == "single"]
    assert all(f.name in out for f in single) and f"{len(single)} faults" in out
    assert cli.main(["sensitivity", "--fault", "nope"]) == 2
    for argv in (["sensitivity", "--timeout", "0"], ["sensitivity", "--timeout", "soon"]):
        with pytest.raises(SystemExit) as stopped:  # argparse's own errors: one line, exit 2
            cli.main(argv)
        assert stopped.value.code == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and all(e.startswith("lab: ") for e in errors), errors
