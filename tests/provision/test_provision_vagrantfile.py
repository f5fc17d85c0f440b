"""The Vagrantfile: what it configures for each LAB_* setting, and `vagrant validate`.

tests/provision/vagrantfile_probe.rb evaluates the real Vagrantfile against a recording stand-in for
Vagrant's config object (needs only Ruby), so every branch is checked without Vagrant or libvirt;
`vagrant validate` then checks the real thing where Vagrant is installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness.base import services

REPO = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("vagrantfile_probe.rb")
BOOTSTRAP = REPO / "provision" / "vm" / "bootstrap.sh"
DOCUMENTED_PORTS = set(services.all_ports())

needs_ruby = pytest.mark.skipif(shutil.which("ruby") is None,
                                reason="ruby not installed (comes with vagrant)")


def clean_env(**env: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LAB_", "KVM_"))}
    return {**base, **env}


def probe(**env: str) -> dict[str, Any]:
    proc = subprocess.run(
        ["ruby", str(PROBE), str(REPO / "Vagrantfile")],
        env=clean_env(**{"KVM_WORKS": "0", **env}), capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def lab_machine(result: dict[str, Any]) -> dict[str, Any]:
    (config,) = result["configs"]
    return config["children"]["vm"]["children"]["define:lab"]


def provider(machine: dict[str, Any]) -> dict[str, Any]:
    return machine["children"]["vm"]["children"]["provider:libvirt"]


def calls(node: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [c for c in node["calls"] if c["name"] == name]


def forwarded(machine: dict[str, Any]) -> list[dict[str, Any]]:
    networks = calls(machine["children"]["vm"], "network")
    return [c["kwargs"] for c in networks if c["args"] == ["forwarded_port"]]


@needs_ruby
def test_defaults() -> None:
    result = probe()
    machine = lab_machine(result)
    vm = machine["children"]["vm"]
    assert vm["values"]["box"] == "lab/debian12"
    assert vm["values"]["hostname"] == "lab"
    assert {"name": "synced_folder", "args": [".", "/vagrant"], "kwargs": {"disabled": True}} in vm["calls"]
    (private,) = [c["kwargs"] for c in calls(vm, "network") if c["args"] == ["private_network"]]
    assert private["ip"] == "10.77.0.10"
    assert private["libvirt__network_name"] == "obslab0"
    assert private["libvirt__dhcp_enabled"] is False
    libvirt = provider(machine)["values"]
    assert libvirt["cpus"] == 2 and libvirt["memory"] == 4096
    expected_prefix = "obslab-" + hashlib.sha1(str(REPO).encode()).hexdigest()[:8] + "_"
    assert libvirt["default_prefix"] == expected_prefix


@needs_ruby
def test_overrides_from_env() -> None:
    machine = lab_machine(probe(LAB_BOX="debian/bookworm64", LAB_VM_CPUS="4", LAB_VM_MEMORY="8192",
                                LAB_VM_IP="10.78.0.5", LAB_VM_NETWORK="obslab9", LAB_VM_PREFIX="ci_"))
    vm = machine["children"]["vm"]
    assert vm["values"]["box"] == "debian/bookworm64"
    (private,) = [c["kwargs"] for c in calls(vm, "network") if c["args"] == ["private_network"]]
    assert private["ip"] == "10.78.0.5" and private["libvirt__network_name"] == "obslab9"
    libvirt = provider(machine)["values"]
    assert (libvirt["cpus"], libvirt["memory"], libvirt["default_prefix"]) == (4, 8192, "ci_")


@needs_ruby
def test_every_documented_port_forwarded_to_loopback_only() -> None:
    ports = forwarded(lab_machine(probe()))
    assert {p["guest"] for p in ports} == DOCUMENTED_PORTS
    for p in ports:
        assert p["host"] == p["guest"]
        assert p["host_ip"] == "127.0.0.1", "forwarded ports never listen beyond loopback"
        assert p["auto_correct"] is False, "the harness must know the port; no silent renumbering"


@needs_ruby
def test_port_offset_and_switch_off() -> None:
    ports = forwarded(lab_machine(probe(LAB_VM_PORT_OFFSET="10000")))
    assert {p["host"] for p in ports} == {p + 10000 for p in DOCUMENTED_PORTS}
    assert {p["guest"] for p in ports} == DOCUMENTED_PORTS
    assert forwarded(lab_machine(probe(LAB_VM_FORWARD_PORTS="0"))) == []


@needs_ruby
@pytest.mark.parametrize(("env", "driver", "cpu"), [
    ({"LAB_VM_ACCEL": "tcg"}, "qemu", ("custom", "qemu64")),
    ({"LAB_VM_ACCEL": "kvm"}, "kvm", ("host-passthrough", None)),
    ({"KVM_WORKS": "0"}, "qemu", ("custom", "qemu64")),     # auto, the probe says no
    ({"KVM_WORKS": "1"}, "kvm", ("host-passthrough", None)),  # auto, the probe says yes
])
def test_accel_choice(env: dict[str, str], driver: str, cpu: tuple[str, str | None]) -> None:
    result = probe(**env)
    libvirt = provider(lab_machine(result))["values"]
    assert libvirt["driver"] == driver
    assert (libvirt["cpu_mode"], libvirt.get("cpu_model")) == cpu
    assert result["constants"]["ACCEL"] == ("kvm" if driver == "kvm" else "tcg")


@needs_ruby
def test_serial_console_logs_under_reports(tmp_path: Path) -> None:
    libvirt = provider(lab_machine(probe()))
    (serial,) = calls(libvirt, "serial")
    path = serial["kwargs"]["source"]["path"]
    assert serial["kwargs"]["type"] == "file"
    assert path == str(REPO / "reports" / "vagrant" / "serial-lab.log")
    libvirt = provider(lab_machine(probe(LAB_REPORTS_DIR=str(tmp_path / "r"))))
    moved = calls(libvirt, "serial")[0]["kwargs"]["source"]["path"]
    assert moved == str(tmp_path / "r/vagrant/serial-lab.log")
    assert (tmp_path / "r" / "vagrant").is_dir(), "libvirt needs the directory to exist"


@needs_ruby
def test_shell_provisioner_uploads_bootstrap_with_the_ports(tmp_path: Path) -> None:
    machine = lab_machine(probe(LAB_DEPLOY_PUBKEY="ssh-ed25519 AAAAkey harness"))
    (prov,) = calls(machine["children"]["vm"], "provision")
    kw = prov["kwargs"]
    assert prov["args"] == ["bootstrap"] and kw["type"] == "shell"
    assert kw["path"] == str(BOOTSTRAP)
    assert kw["env"]["LAB_DEPLOY_PUBKEY"] == "ssh-ed25519 AAAAkey harness"
    assert {int(p) for p in kw["env"]["LAB_PORTS"].split()} == DOCUMENTED_PORTS

    keyfile = tmp_path / "k.pub"
    keyfile.write_text("ssh-ed25519 AAAAfile harness\n")
    (prov,) = calls(lab_machine(probe(LAB_DEPLOY_PUBKEY_FILE=str(keyfile)))["children"]["vm"], "provision")
    assert prov["kwargs"]["env"]["LAB_DEPLOY_PUBKEY"] == "ssh-ed25519 AAAAfile harness"


def test_bootstrap_default_ports_match_the_vagrantfile() -> None:
    """bootstrap.sh runs stand-alone too (its default list) — it must equal the Vagrantfile's."""
    text = BOOTSTRAP.read_text()
    match = re.search(r"PORTS=\$\{LAB_PORTS:-([0-9 ]+)\}", text)
    assert match, "bootstrap.sh lost its default port list"
    assert {int(p) for p in match.group(1).split()} == DOCUMENTED_PORTS
    vagrantfile = (REPO / "Vagrantfile").read_text()
    block = vagrantfile.split("LAB_PORTS = {", 1)[1].split("}", 1)[0]
    assert {int(p) for p in re.findall(r"=> (\d+)", block)} == DOCUMENTED_PORTS


@needs_ruby
@pytest.mark.parametrize(("env", "message"), [
    ({"LAB_VM_CPUS": "two"}, "LAB_VM_CPUS must be an integer"),
    ({"LAB_VM_ACCEL": "hvf"}, "LAB_VM_ACCEL must be auto, kvm or tcg"),
    ({"LAB_DEPLOY_PUBKEY_FILE": "/nonexistent/key.pub"}, "does not exist"),
])
def test_bad_settings_fail_with_one_line(env: dict[str, str], message: str) -> None:
    proc = subprocess.run(["ruby", str(PROBE), str(REPO / "Vagrantfile")],
                          env=clean_env(**{"KVM_WORKS": "0", **env}),
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr


@pytest.mark.skipif(shutil.which("vagrant") is None, reason="vagrant not installed (provision/host/setup.sh)")
@pytest.mark.parametrize("env", [
    {},
    {"LAB_VM_ACCEL": "kvm", "LAB_VM_PORT_OFFSET": "20000", "LAB_VM_CPUS": "1"},
])
def test_vagrant_validate(env: dict[str, str], tmp_path: Path) -> None:
    proc = subprocess.run(
        ["vagrant", "validate"], cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
        env=clean_env(KVM_WORKS="0", VAGRANT_DEFAULT_PROVIDER="libvirt",
                      LAB_REPORTS_DIR=str(tmp_path), **env),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "validated successfully" in proc.stdout
