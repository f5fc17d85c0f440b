"""The vagrant target without a VM: endpoints through forwarded ports, its settings, libvirt
leftovers, tunnels, the accelerator and the TCG fallback — and the whole orchestration (`up`,
`status`, `down`, and the same through the `lab` CLI) driven through fake vagrant, ssh and virsh
binaries, with the real rsync, the real compose and the real local Docker engine standing in for
the one in the VM (the fake ssh runs each command here)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import cli
from harness.base import config as hc
from harness.base.config import LabConfig, VmSettings
from harness.base.errors import ConfigError, LabError
from harness.base.progress import Display, run
from harness.lab.targets import vagrant as tv
from harness.lab.vm import boot
from harness.lab.vm.libvirt import box_volume_prefix
from harness.lab.vm.state import fingerprint, load_state

REPO = Path(__file__).parents[2]


def target_for(tmp_path: Path, repo_root: Path | None = None, display: Display | None = None,
               **env: str) -> tv.VagrantTarget:
    config = LabConfig.from_sources(
        {"target": "vagrant", "repo_root": repo_root or REPO, "reports_dir": str(tmp_path / "reports")},
        {"LAB_VAGRANT_LOCK": str(tmp_path / "lock"), **env},
    )
    return tv.VagrantTarget(config, display or Display.silent())


# --- endpoints and settings ----------------------------------------------------------------------------
def test_endpoints_go_through_forwarded_ports_on_loopback(tmp_path: Path) -> None:
    ep = target_for(tmp_path).endpoints()
    assert ep.frontend == "http://127.0.0.1:8080" and ep.traces == "http://127.0.0.1:16686"
    assert ep.target == "vagrant" and ep.grafana is None


def test_endpoints_with_a_port_offset_or_the_vm_address(tmp_path: Path) -> None:
    shifted = target_for(tmp_path, LAB_VM_PORT_OFFSET="10000").endpoints()
    assert shifted.frontend == "http://127.0.0.1:18080"
    assert shifted.collector_health == "http://127.0.0.1:23133"
    direct = target_for(tmp_path, LAB_VM_FORWARD_PORTS="0").endpoints()
    assert direct.frontend == "http://10.77.0.10:8080"
    given = target_for(tmp_path, LAB_HOST="10.77.0.20").endpoints()
    assert given.prometheus == "http://10.77.0.20:9090"
    grafana = target_for(tmp_path, LAB_VM_PORT_OFFSET="5", LAB_STORES="tempo-loki").endpoints()
    assert grafana.grafana == "http://127.0.0.1:3005" and grafana.logs == "http://127.0.0.1:3105"


def test_settings_errors_and_defaults(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LAB_VM_PORT_OFFSET='ten'"):
        VmSettings.from_env({"LAB_VM_PORT_OFFSET": "ten"}, tmp_path)
    with pytest.raises(ConfigError, match=r"LAB_VM_ACCEL='fast' is not valid; use one of: auto, kvm, tcg"):
        VmSettings.from_env({"LAB_VM_ACCEL": "fast"}, tmp_path)
    settings = VmSettings.from_env({}, tmp_path)
    assert settings.box == "lab/debian12" and not settings.box_given and settings.accel == "auto"
    assert settings.domain.startswith("obslab-") and settings.domain.endswith("_lab")
    assert box_volume_prefix("lab/debian12") == "lab-VAGRANTSLASH-debian12_vagrant_box_image_"


def test_domain_prefix_is_the_vagrantfiles() -> None:
    text = (REPO / "Vagrantfile").read_text()
    assert "obslab-" in text and "sha1" in text.lower() and "LAB_VM_PREFIX" in text
    assert hc.default_prefix(REPO).startswith("obslab-")


# --- libvirt leftovers against a fake virsh ---------------------------------------------------------------
def test_leftovers_are_this_labs_domain_volumes_and_the_box_volume(fake_virsh: Path, tmp_path: Path) -> None:
    (fake_virsh / "domains" / "obslab-t_lab").touch()
    box = "lab-VAGRANTSLASH-debian12_vagrant_box_image_0_17_box.img"
    for name in ("obslab-t_lab.img", box, "other.qcow2"):
        (fake_virsh / "volumes" / name).touch()
    libvirt = target_for(tmp_path, LAB_VM_PREFIX="obslab-t_").libvirt
    assert sorted(libvirt.leftovers()) == [
        "domain obslab-t_lab",
        "volume lab-VAGRANTSLASH-debian12_vagrant_box_image_0_17_box.img",
        "volume obslab-t_lab.img",
    ]
    assert "domain obslab-t_lab" in libvirt.remove_leftovers()
    assert libvirt.leftovers() == []
    assert sorted(p.name for p in (fake_virsh / "volumes").iterdir()) == ["other.qcow2"]  # not ours


def test_the_box_volume_stays_while_another_lab_may_use_it(fake_virsh: Path, tmp_path: Path) -> None:
    box = "lab-VAGRANTSLASH-debian12_vagrant_box_image_0_17_box.img"
    for name in ("obslab-t_lab.img", box, "obslab-0123abcd_lab.img"):
        (fake_virsh / "volumes" / name).touch()
    libvirt = target_for(tmp_path, LAB_VM_PREFIX="obslab-t_").libvirt
    assert libvirt.remove_leftovers() == ["obslab-t_lab.img"]
    assert (fake_virsh / "volumes" / box).exists()
    assert libvirt.leftovers() == [], "a box volume kept for another lab is not a leftover of this one"


def test_forwarded_ports_are_repaired_and_a_taken_port_is_an_error(tmp_path: Path, monkeypatch) -> None:
    repo = tmp_path / "repo"
    script = repo / "provision" / "host" / "forward-ports.sh"
    script.parent.mkdir(parents=True)
    script.write_text(
        "#!/bin/sh\necho 'forward-ports: 127.0.0.1:8080 -> 8080 up (pid 1)'\n"
        'echo "forward-ports: 127.0.0.1:8888 -> 8888 started (pid 2)"\nexit "${FAKE_EXIT:-0}"\n'
    )
    script.chmod(0o755)
    lines: list[str] = []

    class Recording(Display):
        def detail(self, text: str) -> None:
            lines.append(text)

    target_for(tmp_path, repo, Recording(plain=True)).ensure_tunnels()
    assert lines == ["forward-ports: 127.0.0.1:8888 -> 8888 started (pid 2)"]
    monkeypatch.setenv("FAKE_EXIT", "1")
    with pytest.raises(LabError, match="forwarded ports of the VM are not all up"):
        target_for(tmp_path, repo).ensure_tunnels()
    target_for(tmp_path, repo, LAB_VM_FORWARD_PORTS="0").ensure_tunnels()  # nothing forwarded: no check


# --- the accelerator: chosen by the probe, and TCG when a KVM guest hangs at boot ---------------------------
def _vm_repo(root: Path) -> Path:
    """A repository with the real Vagrantfile-side scripts the target runs and a tiny stack."""
    (root / "provision" / "vm").mkdir(parents=True)
    (root / "provision" / "host").mkdir(parents=True)
    (root / "Vagrantfile").write_text('cpus = ENV.fetch("LAB_VM_CPUS", "2")\nENV["LAB_VM_ACCEL"]\n')
    (root / "provision" / "vm" / "bootstrap.sh").write_text("echo bootstrap\n")
    shutil.copy(REPO / "provision" / "host" / "kvm-works.sh", root / "provision" / "host" / "kvm-works.sh")
    return root


@pytest.fixture
def hanging_vagrant(fake_vagrant: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake vagrant whose guest hangs under KVM (and writes a serial log), a repo to run it in."""
    (fake_vagrant / "hang_under").write_text("kvm")
    (fake_vagrant / "serial").write_text(str(tmp_path / "reports" / "vagrant" / "serial-lab.log"))
    (tmp_path / "reports" / "vagrant").mkdir(parents=True)
    monkeypatch.setattr(boot, "STALL_AFTER", 2.0)
    monkeypatch.setenv("KVM_CACHE_FILE", str(tmp_path / "kvm-cache"))
    return _vm_repo(tmp_path / "repo")


def test_a_kvm_guest_that_hangs_is_retried_once_under_tcg_and_remembered(
    hanging_vagrant: Path, fake_vagrant: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fresh host's case: the probe said KVM (forced here), the guest hung after GRUB. The target
    stops the boot, records "no KVM" in the probe's cache, destroys the half-made VM and boots under
    TCG — the same run goes on."""
    monkeypatch.setenv("KVM_WORKS", "1")
    target = target_for(tmp_path, hanging_vagrant)
    assert target.accel()[0] == "kvm"
    target.ensure_vm()
    calls = (fake_vagrant / "calls").read_text().splitlines()
    assert len([c for c in calls if c.startswith("up")]) == 2 and any(c.startswith("destroy") for c in calls)
    assert (fake_vagrant / "hung").read_text().split() == ["kvm"], "hung once, under KVM only"
    assert target.env["LAB_VM_ACCEL"] == "tcg" and target.timings.facts["accel_fallback"]
    assert (tmp_path / "kvm-cache").read_text().startswith("0 a lab VM hung at boot under KVM")
    saved = load_state(hanging_vagrant / ".lab")
    assert saved["fingerprint"] == fingerprint(hanging_vagrant, target.env), "saved with TCG"


def test_kvm_forced_by_the_user_is_not_overridden_but_explained(
    hanging_vagrant: Path, tmp_path: Path
) -> None:
    target = target_for(tmp_path, hanging_vagrant, LAB_VM_ACCEL="kvm")
    with pytest.raises(LabError) as err:
        target.ensure_vm()
    message = str(err.value)
    assert "did not boot under KVM (LAB_VM_ACCEL=kvm)" in message
    assert "'Loading initial ramdisk ...'" in message and "set LAB_VM_ACCEL=tcg" in message
    assert "\n" not in message.split(" — ")[0], "one line says what was seen"


def test_the_probe_decides_auto_and_says_why(
    hanging_vagrant: Path, fake_vagrant: Path, tmp_path: Path
) -> None:
    (tmp_path / "kvm-cache").write_text("0 the guest hangs under -accel kvm: no end of kernel init\n")
    target = target_for(tmp_path, hanging_vagrant)
    which, why = target.accel()
    assert which == "tcg" and "the guest hangs under -accel kvm" in why
    target.ensure_vm()  # boots under TCG at once: no hang, one up
    calls = (fake_vagrant / "calls").read_text().splitlines()
    assert len([c for c in calls if c.startswith("up")]) == 1
    assert not (fake_vagrant / "hung").exists()


# --- the whole orchestration through the fakes, with the real engine as the VM's --------------------------
IMAGE = "lab/base:bookworm"
TINY_STACK = {
    "compose.yaml": f"""\
services:
  backend:
    image: {IMAGE}
    command: ["sleep", "infinity"]
    init: true
    stop_grace_period: 2s
    ports:
      - "${{LAB_BIND_ADDRESS:-127.0.0.1}}::5000"
    volumes:
      - tasks-data:/data
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
      retries: 3
volumes:
  tasks-data:
""",
    "compose.jaeger-victorialogs.yaml": f"""\
services:
  jaeger:
    image: {IMAGE}
    command: ["sleep", "infinity"]
    init: true
    stop_grace_period: 2s
""",
    "compose.local-images.yaml": "services:\n  backend:\n    labels:\n      lab.images: local\n",
}


def _engine_skip_reason() -> str | None:
    from harness.lab.engine import SdkEngine

    engine = SdkEngine("probe")
    try:
        tags = set(engine.image_ids())
    except LabError as exc:
        return f"no Docker engine: {exc}"
    finally:
        engine.close()
    from harness.lab.images import required_local_images

    missing = sorted(set(required_local_images("jaeger-victorialogs")) - tags)
    if missing or IMAGE not in tags:
        return f"images not present locally (build it: stack/images/build.sh): {missing or [IMAGE]}"
    if shutil.which("rsync") is None:
        return "rsync not installed (apt-get install rsync)"
    return None


@pytest.fixture
def vm_world(fake_vagrant: Path, fake_ssh: Path, fake_virsh: Path, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, dict[str, str]]]:
    """A repo with a tiny stack; the "VM's" home is a directory here; the real engine runs it."""
    reason = _engine_skip_reason()
    if reason:
        pytest.skip(reason)
    repo = _vm_repo(tmp_path / "repo")
    (repo / "app").mkdir()
    (repo / "app" / "README").write_text("app\n")
    (repo / "stack").mkdir()
    for name, text in TINY_STACK.items():
        (repo / "stack" / name).write_text(text)
    home = tmp_path / "vm-home"
    home.mkdir()
    monkeypatch.chdir(home)  # the fake ssh runs remote commands in its cwd: the deploy user's home
    monkeypatch.setenv("KVM_WORKS", "0")
    (fake_vagrant / "boxes").write_text("lab/debian12\n")
    project = f"labvm{uuid.uuid4().hex[:8]}"
    env = {"LAB_PROJECT": project, "LAB_IMAGE_SOURCE": "local", "LAB_VM_FORWARD_PORTS": "0",
           "LAB_VM_PREFIX": "obslab-t_", "LAB_VM_BIND_ADDRESS": "127.0.0.1"}
    try:
        yield repo, env
    finally:
        run(["docker", "compose", "-p", project, "down", "--volumes", "--remove-orphans"], timeout=120)


def test_up_status_and_down_through_the_fakes(vm_world: tuple[Path, dict[str, str]], fake_vagrant: Path,
                                              tmp_path: Path) -> None:
    repo, env = vm_world
    target = target_for(tmp_path, repo, **env)
    target.up(wait_timeout=90)
    home = Path.cwd()
    assert (home / "obslab" / "stack" / "compose.yaml").is_file(), "rsync shipped the stack"
    assert "LAB_STORES=jaeger-victorialogs" in (home / "obslab" / "lab.env").read_text()
    assert oct((home / "obslab" / "lab.env").stat().st_mode & 0o777) == "0o600"
    states = target.status()
    assert set(states) == {"backend", "jaeger"} and all(s.ready for s in states.values())
    assert target.timings.facts["images_sent"] == [], "same engine: every image has the same ID"
    assert {"box", "vm", "ssh", "deploy-files", "images", "compose-up", "wait-healthy", "total"} <= set(
        target.timings.phases
    )
    assert (tmp_path / "reports" / "vagrant" / "timings.json").is_file()
    ids = target.container_ids()

    again = target_for(tmp_path, repo, **env)  # a second run reuses the running VM and recreates nothing
    again.up(wait_timeout=90)
    assert again.timings.facts["vm_action"] == "reuse" and again.container_ids() == ids

    again.restart("backend")
    again.wait_healthy("backend", timeout=60)
    assert again.exec("backend", ["sh", "-c", "echo kept > /data/mark"]).exit_code == 0

    again.down(volumes=False)  # compose down in the VM, then halt: volumes stay
    assert again.status() == {} and (fake_vagrant / "state").read_text().strip() == "shutoff"
    third = target_for(tmp_path, repo, **env)
    third.up(wait_timeout=90)  # the VM is started again, the data is still there
    assert third.exec("backend", ["cat", "/data/mark"]).output.strip() == "kept"

    third.down(volumes=True)  # destroy: nothing of the lab is left in libvirt
    assert (fake_vagrant / "state").read_text().strip() == "not_created"
    assert load_state(repo / ".lab") == {}
    calls = (fake_vagrant / "calls").read_text().splitlines()
    assert [c.split()[0] for c in calls if c.split()[0] in ("up", "halt", "destroy")] == [
        "up", "halt", "up", "destroy"
    ]


def test_the_lab_cli_drives_the_same_orchestration(vm_world: tuple[Path, dict[str, str]], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    repo, env = vm_world
    monkeypatch.setattr(hc, "REPO_ROOT", repo)
    monkeypatch.setattr(cli, "REPO_ROOT", repo)
    for key, value in {**env, "LAB_VAGRANT_LOCK": str(tmp_path / "lock"),
                       "LAB_REPORTS_DIR": str(tmp_path / "reports")}.items():
        monkeypatch.setenv(key, value)
    assert cli.main(["--target", "vagrant", "up"]) == 0
    out = capsys.readouterr().out
    assert "target vagrant: chosen explicitly" in out and "lab is up (vagrant" in out
    assert cli.main(["--target", "vagrant", "status"]) == 0
    out = capsys.readouterr().out
    assert "backend" in out and "running (healthy)" in out
    assert cli.main(["--target", "vagrant", "down", "--volumes"]) == 0
    assert "lab is down (volumes removed)" in capsys.readouterr().out
    assert cli.main(["--target", "vagrant", "status"]) == 1, "nothing deployed any more"
    assert os.environ["LAB_PROJECT"] == env["LAB_PROJECT"]
