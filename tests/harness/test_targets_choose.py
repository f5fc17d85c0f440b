"""Choosing a target (explicit wins, auto says why) and the existing target (no deploy, no control)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.base.config import LabConfig, split_host
from harness.base.errors import ConfigError, LabError
from harness.base.progress import Display
from harness.lab import targets
from harness.lab.targets import NotSupported, choose
from harness.lab.targets.docker import DockerTarget
from harness.lab.targets.existing import ExistingTarget, endpoints_from_file
from harness.lab.targets.vagrant import VagrantTarget

QUIET = Display.silent()


def _engine() -> bool:
    return targets.docker_answers(timeout=5)[0]


def test_explicit_target_wins() -> None:
    target, reason = choose(LabConfig(target="docker"), QUIET)
    assert isinstance(target, DockerTarget)
    assert reason == "chosen explicitly (--target or LAB_TARGET=docker)"


def test_vagrant_is_registered_and_unknown_targets_are_not() -> None:
    target, reason = choose(LabConfig(target="vagrant"), QUIET)
    assert isinstance(target, VagrantTarget)
    assert reason == "chosen explicitly (--target or LAB_TARGET=vagrant)"
    with pytest.raises(ConfigError, match="target 'k8s' is not known"):
        targets.target_class("k8s")


def test_auto_with_a_lab_host_is_existing() -> None:
    target, reason = choose(LabConfig(lab_host="127.0.0.1"), QUIET)
    assert isinstance(target, ExistingTarget)
    assert "LAB_HOST=127.0.0.1" in reason


@pytest.mark.docker
@pytest.mark.skipif(not _engine(), reason="no Docker engine answers")
def test_auto_falls_back_to_docker_and_says_why(monkeypatch) -> None:
    monkeypatch.setattr(targets, "vagrant_usable", lambda timeout=20: (False, "vagrant is not on PATH"))
    target, reason = choose(LabConfig(), QUIET)
    assert target.name == "docker"
    assert reason.startswith("auto: vagrant is not on PATH; the Docker engine answers")


def test_auto_takes_vagrant_when_it_is_usable(monkeypatch) -> None:
    monkeypatch.setattr(
        targets, "vagrant_usable", lambda timeout=20: (True, "vagrant and libvirt are usable")
    )
    target, reason = choose(LabConfig(), QUIET)
    assert isinstance(target, VagrantTarget) and reason == "auto: vagrant and libvirt are usable"
    assert targets.TARGET_CLASSES["vagrant"] == "harness.lab.targets.vagrant:VagrantTarget"


def test_auto_with_nothing_usable_says_what_is_missing(monkeypatch) -> None:
    monkeypatch.setattr(targets, "vagrant_usable", lambda timeout=20: (False, "vagrant is not on PATH"))
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(LabError) as err:
        choose(LabConfig(), QUIET)
    message = str(err.value)
    assert not isinstance(err.value, ConfigError), "a host without an engine is not a bad setting"
    assert "vagrant is not on PATH" in message and "Docker engine does not answer" in message
    assert "--target existing" in message


def test_vagrant_usable_reports_why_not(monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert targets.vagrant_usable() == (False, "vagrant is not on PATH")


# --- existing -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("192.0.2.7", ("http", "192.0.2.7")),
        ("https://lab.example/", ("https", "lab.example")),
        ("2001:db8::7", ("http", "[2001:db8::7]")),
    ],
)
def test_split_host(raw: str, expected: tuple[str, str]) -> None:
    assert split_host(raw) == expected


def test_split_host_rejects_a_port() -> None:
    with pytest.raises(ConfigError, match="give the host only"):
        split_host("lab.example:8080")


def test_existing_from_lab_host_uses_documented_ports() -> None:
    target = ExistingTarget(LabConfig(target="existing", lab_host="192.0.2.7", stores="tempo-loki"), QUIET)
    data = target.endpoints().to_dict()
    assert data["frontend"] == "http://192.0.2.7:8080"
    assert data["grafana"] == "http://192.0.2.7:3000"
    assert data["traces"] == "http://192.0.2.7:3200" and data["logs"] == "http://192.0.2.7:3100"
    assert data["target"] == "existing"


def test_existing_without_docker_host_cannot_control() -> None:
    target = ExistingTarget(LabConfig(target="existing", lab_host="192.0.2.7"), QUIET)
    assert "control" not in target.capabilities
    assert "LAB_DOCKER_HOST" in (target.why_not("control") or "")
    assert "does not deploy" in (target.why_not("deploy") or "")
    with pytest.raises(NotSupported, match="cannot control services"):
        target.restart("backend")
    with pytest.raises(NotSupported):
        target.exec("backend", ["true"])


def test_endpoints_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"frontend": "http://x:1"}')
    with pytest.raises(ConfigError, match="missing backend, collector_health, prometheus, traces, logs"):
        endpoints_from_file(bad)
    bad.write_text("not json")
    with pytest.raises(ConfigError, match="cannot read JSON"):
        endpoints_from_file(bad)


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local_lab(tmp_path: Path) -> Iterator[Path]:
    """An endpoints file whose every URL is one loopback http.server (a stand-in lab)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    path = tmp_path / "endpoints.json"
    keys = ("frontend", "backend", "prometheus", "traces", "logs", "collector_health")
    path.write_text(
        json.dumps({**{k: base for k in keys}, "target": "docker", "stores": "jaeger-victorialogs"})
    )
    try:
        yield path
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_existing_up_and_down_only_check(local_lab: Path, capsys) -> None:
    config = LabConfig(target="existing", endpoints_file=local_lab, stores="tempo-loki")
    target = ExistingTarget(config, Display(plain=True))
    assert target.config.stores == "jaeger-victorialogs"  # the file says what runs there
    assert target.endpoints().target == "existing"
    target.up()
    target.down(volumes=True)
    out = capsys.readouterr().err
    assert "nothing is deployed" in out and "down removes nothing" in out and "--volumes ignored" in out
    status = target.status()
    assert set(status) == {"frontend", "backend", "prometheus", "otel-collector", "jaeger", "victorialogs"}
    assert all(v.running and str(v).startswith("reachable (HTTP 200") for v in status.values())


def test_existing_up_fails_with_what_did_not_answer(tmp_path: Path) -> None:
    from harness.base import waiting

    waiting.configure(0.1)
    dead = "http://127.0.0.1:9"  # discard port on loopback: nothing listens
    path = tmp_path / "e.json"
    path.write_text(
        json.dumps(
            {k: dead for k in ("frontend", "backend", "prometheus", "traces", "logs", "collector_health")}
        )
    )
    target = ExistingTarget(LabConfig(target="existing", endpoints_file=path), QUIET)
    with pytest.raises(LabError, match=r"does not answer: .*frontend: unreachable"):
        target.up()


@pytest.mark.docker
@pytest.mark.skipif(not _engine(), reason="no Docker engine answers")
def test_existing_with_an_engine_but_no_lab_containers(local_lab: Path) -> None:
    config = LabConfig(
        target="existing",
        endpoints_file=local_lab,
        docker_host="unix:///var/run/docker.sock",
        project="labnothinghere",
    )
    target = ExistingTarget(config, QUIET)
    assert target.capabilities == frozenset()
    assert "no containers of project 'labnothinghere'" in (target.why_not("control") or "")
    target.close()
