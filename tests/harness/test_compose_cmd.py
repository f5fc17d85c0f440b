"""The compose wrapper: v1 and v2 command lines, version parsing, detection and `config` run for real
through a runner; the engine's health report that the one wait uses."""

from __future__ import annotations

import shutil
import sys
import time

import pytest

from harness.base.errors import LabError
from harness.base.progress import run
from harness.lab import compose as compose_mod
from harness.lab.compose import Compose, ComposeCommand, parse_version_output, services_in
from harness.lab.engine import ContainerInfo, ServiceState, health_report
from harness.lab.runner import LocalRunner

V1 = ComposeCommand(("docker-compose",), "1.29.2")
V2 = ComposeCommand(("docker", "compose"), "2.29.7")
V2_OLD = ComposeCommand(("docker", "compose"), "2.10.2")


def make(
    command: ComposeCommand, files=("/s/compose.yaml", "/s/compose.jaeger-victorialogs.yaml")
) -> Compose:
    return Compose("obslab", list(files), LocalRunner(env={"A": "1"}), command=command)


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("1.29.2\n", "1.29.2"),
        ("v2.29.7\n", "2.29.7"),
        ("2.20.2+ds1-0ubuntu1~22.04.1\n", "2.20.2+ds1-0ubuntu1~22.04.1"),
        ("Docker Compose version v2.24.6-desktop.1\n", "2.24.6-desktop.1"),
        ("docker-compose version 1.29.2, build unknown\ndocker-py version: 5.0.3\n", "1.29.2"),
        ("docker: 'compose' is not a docker command.\n", None),
    ],
)
def test_parse_version_output(output: str, expected: str | None) -> None:
    assert parse_version_output(output) == expected


def test_command_versions() -> None:
    assert str(V1) == "v1 1.29.2" and V1.major == 1
    assert str(V2) == "v2 2.29.7" and V2.at_least(2, 17) and not V2_OLD.at_least(2, 17)
    assert compose_mod.version_tuple("v2.24.6-desktop.1") == (2, 24, 6)


def test_base_arguments_name_project_and_files_in_order() -> None:
    assert make(V1).args("ps") == [
        "docker-compose",
        "-p",
        "obslab",
        "-f",
        "/s/compose.yaml",
        "-f",
        "/s/compose.jaeger-victorialogs.yaml",
        "ps",
    ]
    assert make(V2).args("ps")[:4] == ["docker", "compose", "-p", "obslab"]


def test_up_never_waits_itself_and_no_build_when_local() -> None:
    """The health wait is the engine's (the same on v1 and v2), so up has no --wait on either."""
    for command in (V1, V2, V2_OLD):
        args = make(command).up_args(no_build=True)
        assert args[args.index("up") :] == ["up", "-d", "--remove-orphans", "--no-build"]
    assert "--no-build" not in make(V1).up_args(no_build=False)


def test_down_keeps_volumes_unless_asked() -> None:
    assert make(V1).down_args()[-2:] == ["down", "--remove-orphans"]
    assert make(V2).down_args(volumes=True)[-3:] == ["down", "--remove-orphans", "--volumes"]


def test_no_files_is_an_error() -> None:
    with pytest.raises(LabError):
        Compose("obslab", [])


def _info(
    service: str, status: str = "running", health: str | None = "healthy", out: str = ""
) -> ContainerInfo:
    return ContainerInfo(
        service=service,
        id=service * 4,
        name=f"obslab_{service}_1",
        state=ServiceState(status, health, exit_code=1 if status == "exited" else 0),
        last_health_output=out,
    )


def test_health_report_names_each_unready_service_with_its_last_check() -> None:
    infos = [
        _info("frontend"),
        _info("backend", health="unhealthy", out="GET http://127.0.0.1:5000/ready: 503\n"),
        _info("otel-collector", health="starting"),
        _info("prometheus", status="exited", health=None),
        _info("plain", health=None),  # no healthcheck: running is enough
    ]
    problems = health_report(
        infos, ["frontend", "backend", "otel-collector", "prometheus", "jaeger", "plain"]
    )
    assert problems == [
        "backend: running (unhealthy); last healthcheck: GET http://127.0.0.1:5000/ready: 503",
        "jaeger: no container",
        "otel-collector: running (starting)",
        "prometheus: exited (exit 1)",
    ]
    assert health_report([_info("a"), _info("b", health=None)], ["a", "b"]) == []


# --- the real binaries ------------------------------------------------------------------------
def _has_v1() -> bool:
    return shutil.which("docker-compose") is not None


def _has_v2() -> bool:
    return shutil.which("docker") is not None and run(["docker", "compose", "version"], timeout=20).ok


needs_compose = pytest.mark.skipif(
    not (_has_v1() or _has_v2()), reason="no docker compose (v1 or v2) installed"
)


@needs_compose
def test_detect_prefers_v2_then_v1() -> None:
    compose_mod._detected.clear()
    found = compose_mod.detect()
    if _has_v2():
        assert found.argv == ("docker", "compose") and found.major >= 2
    else:
        assert found.argv == ("docker-compose",)
        assert found.version == run(["docker-compose", "version", "--short"], timeout=20).output.strip()


@pytest.mark.skipif(not _has_v1(), reason="docker-compose (v1) not installed")
def test_override_selects_the_command() -> None:
    compose_mod._detected.clear()
    assert compose_mod.detect(override="docker-compose").argv == ("docker-compose",)


def test_override_to_a_missing_v2_says_what_failed(fake_bin) -> None:
    """A docker CLI without the compose plugin (as Debian's docker.io alone): what it said, in one line."""
    said = "docker: 'compose' is not a docker command."
    (fake_bin / "docker").write_text(f'#!/bin/sh\necho "{said}" >&2\nexit 1\n')
    (fake_bin / "docker").chmod(0o755)
    compose_mod._detected.clear()
    with pytest.raises(LabError, match=r"no Docker Compose on this host: `docker compose version` exited"):
        compose_mod.detect(override="docker compose")
    compose_mod._detected.clear()


TINY = """\
services:
  web:
    image: ${WEB_IMAGE:-lab/base:bookworm}
    command: ["sleep", "infinity"]
    healthcheck:
      test: ["CMD", "true"]
      interval: 2s
  worker:
    image: lab/base:bookworm
    command: ["sleep", "infinity"]
"""
OVERRIDE = """\
services:
  web:
    environment:
      MODE: override
"""


@needs_compose
def test_config_runs_the_real_binary_with_files_and_env(tmp_path) -> None:
    (tmp_path / "compose.yaml").write_text(TINY)
    (tmp_path / "compose.override-test.yaml").write_text(OVERRIDE)
    files = [tmp_path / "compose.yaml", tmp_path / "compose.override-test.yaml"]
    compose = Compose("labunit", files, LocalRunner(tmp_path, env={"WEB_IMAGE": "example.invalid/web:1.2"}))
    assert compose.version.startswith(("v1 ", "v2 "))
    config = compose.config()
    assert config["services"]["web"]["image"] == "example.invalid/web:1.2"
    assert config["services"]["web"]["environment"]["MODE"] == "override"
    assert config["services"]["worker"]["image"] == "lab/base:bookworm"
    assert services_in(files) == ["web", "worker"] == sorted(config["services"])


@needs_compose
def test_config_failure_is_a_lab_error_with_the_output(tmp_path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: [not, a, string]\n")
    with pytest.raises(LabError, match="compose config"):
        Compose("labunit", [tmp_path / "compose.yaml"]).config()


def test_run_times_out_and_kills_the_process_group() -> None:
    started = time.monotonic()
    result = run(
        [
            sys.executable,
            "-c",
            "import subprocess, time; subprocess.Popen(['sleep', '30']); "
            "print('started', flush=True); time.sleep(30)",
        ],
        timeout=1,
    )
    assert result.timed_out and not result.ok
    assert time.monotonic() - started < 10
    assert "started" in result.output
    with pytest.raises(LabError, match="timed out"):
        result.check()


def test_run_of_a_missing_program_is_exit_127() -> None:
    result = run(["/nonexistent/program-xyz"], timeout=5)
    assert result.exit_code == 127 and "FileNotFoundError" in result.output


def test_run_streams_lines() -> None:
    lines: list[str] = []
    run([sys.executable, "-c", "print('a'); print('b')"], timeout=30, on_line=lines.append)
    assert lines == ["a", "b"]
