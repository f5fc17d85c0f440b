"""harness.lab.vm.vagrant_cli (and the boot watchdog of harness.lab.vm.boot): python-vagrant with timeouts,
call logs, a host lock, state read back and one retry — tested against real `vagrant status` output
and a fake vagrant executable on PATH."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.base import waiting
from harness.base.progress import Display
from harness.lab.vm import boot
from harness.lab.vm import vagrant_cli as hv

FIXTURES = Path(__file__).parent / "fixtures" / "vagrant"


# --- parsing real output -------------------------------------------------------------------------
def test_status_of_a_machine_not_created_real_sample() -> None:
    statuses = hv.parse_status((FIXTURES / "status-not-created.txt").read_text())
    assert statuses == [hv.MachineStatus(name="lab", state="not_created", provider="libvirt")]


def test_status_of_a_running_machine_real_sample() -> None:
    (status,) = hv.parse_status((FIXTURES / "status-running.txt").read_text())
    assert status.state == hv.RUNNING and status.provider == "libvirt"


def test_status_normalises_libvirt_states_and_ignores_noise() -> None:
    output = (
        "Vagrant warning: something on stderr\n"
        "1795725531,lab,metadata,provider,libvirt\n"
        "1795725531,lab,provider-name,libvirt\n"
        "1795725531,lab,state,shutoff\n"
        "1795725531,lab,state-human-long,The domain is stopped%!(VAGRANT_COMMA) run `vagrant up`\n"
        "1795725531,ci,provider-name,libvirt\n"
        "1795725531,ci,state,paused\n"
        "1795725531,,ui,info,Current machine states:\\n\\nlab  shutoff\n"
    )
    assert hv.parse_status(output) == [
        hv.MachineStatus("lab", hv.POWEROFF, "libvirt"),
        hv.MachineStatus("ci", hv.SAVED, "libvirt"),
    ]


def test_status_error_exit_is_an_error_with_vagrants_words() -> None:
    with pytest.raises(
        hv.VagrantError, match="MachineNotFound: The machine with the name 'nosuch' was not found"
    ):
        hv.parse_status((FIXTURES / "status-machine-not-found.txt").read_text())


def test_machine_readable_unescapes_commas_and_newlines() -> None:
    rows = hv.parse_machine_readable("1,lab,state-human-long,a%!(VAGRANT_COMMA) b\\nc\n")
    assert rows == [("1", "lab", "state-human-long", "a, b\nc")]


def test_ssh_config_parsed_and_rendered_with_multiplexing() -> None:
    text = "Warning: noise first\n" + (FIXTURES / "ssh-config-lab.txt").read_text()
    conf = hv.parse_ssh_config(text, host="lab")
    assert conf.host == "lab" and conf.user == "vagrant" and conf.port == 22
    assert conf.hostname.count(".") == 3
    assert conf.identity_files and conf.identity_files[0].endswith("private_key")
    rendered = conf.render({"ControlMaster": "auto", "LogLevel": "ERROR"})
    assert rendered.startswith("Host lab\n")
    assert "  ControlMaster auto" in rendered
    assert "LogLevel ERROR" not in rendered  # vagrant's own LogLevel is kept, not doubled
    assert "Warning" not in rendered


def test_ssh_config_without_the_host_is_an_error() -> None:
    with pytest.raises(hv.VagrantError, match="no Host block for lab"):
        hv.parse_ssh_config("Host other\n  HostName 10.0.0.1\n", host="lab")


def test_lock_path_is_shared_with_the_box_script(monkeypatch, tmp_path) -> None:
    assert hv.lock_path({"LAB_VAGRANT_LOCK": str(tmp_path / "x.lock")}) == tmp_path / "x.lock"
    script = (Path(__file__).parents[2] / "provision" / "box" / "build.sh").read_text()
    assert str(hv.DEFAULT_LOCK) in script and "LAB_VAGRANT_LOCK" in script


# --- a fake vagrant on PATH ------------------------------------------------------------------------
@pytest.fixture
def fake(fake_vagrant: Path) -> Path:
    """The files that drive tests/harness/fixtures/vagrant/bin/vagrant (tests/harness/conftest.py)."""
    return fake_vagrant


def _vagrant(tmp_path: Path, **kw: object) -> hv.Vagrant:
    kw.setdefault("lock_file", tmp_path / "vagrant.lock")
    return hv.Vagrant(tmp_path, log_dir=tmp_path / "reports" / "vagrant", display=Display.silent(), **kw)


def _calls(state: Path) -> list[str]:
    return (state / "calls").read_text().splitlines()


def test_state_is_read_from_vagrant_status(fake: Path, tmp_path: Path) -> None:
    v = _vagrant(tmp_path)
    assert v.state() == hv.NOT_CREATED
    (fake / "state").write_text("shutoff\n")
    assert v.state() == hv.POWEROFF  # read again, never remembered
    assert _calls(fake) == ["status --machine-readable lab"] * 2


def test_every_call_is_logged_to_its_own_file(fake: Path, tmp_path: Path) -> None:
    v = _vagrant(tmp_path)
    v.state()
    v.up()
    logs = sorted((tmp_path / "reports" / "vagrant").glob("*.log"))
    names = [p.name.split("-", 2)[-1] for p in logs]
    assert names == ["status.log", "up.log", "status.log"]
    up_log = logs[1].read_text()
    assert up_log.startswith("# ") and "up lab --provider=libvirt" in up_log.splitlines()[0]
    assert "Machine booted and ready!" in up_log
    assert up_log.rstrip().splitlines()[-1].startswith("# exit 0 after")


def test_a_failed_up_is_retried_once_after_destroy(fake: Path, tmp_path: Path) -> None:
    (fake / "up_failures").write_text("1\n")
    v = _vagrant(tmp_path)
    v.up()
    assert [c.split()[0] for c in _calls(fake)] == ["up", "destroy", "up", "status"]
    assert v.state() == hv.RUNNING


def test_two_failed_ups_raise_with_both_errors_and_the_log(fake: Path, tmp_path: Path) -> None:
    (fake / "up_failures").write_text("2\n")
    v = _vagrant(tmp_path)
    with pytest.raises(hv.VagrantError) as err:
        v.up()
    message = str(err.value)
    assert "vagrant up failed twice" in message and message.count("fake failure") == 2
    assert err.value.log is not None and err.value.log.is_file()
    assert [c.split()[0] for c in _calls(fake)] == ["up", "destroy", "up"]


def test_up_checks_the_state_afterwards(fake: Path, tmp_path: Path) -> None:
    (fake / "after_up").write_text("shutoff\n")  # vagrant said yes, the domain is not running
    with pytest.raises(hv.VagrantError, match="is 'poweroff', not running"):
        _vagrant(tmp_path).up()


def test_a_hung_vagrant_is_killed_at_its_timeout(fake: Path, tmp_path: Path, monkeypatch) -> None:
    (fake / "sleep").write_text("30\n")
    monkeypatch.setitem(hv.TIMEOUTS, "status", 1.0)
    v = _vagrant(tmp_path)
    started = time.monotonic()
    with pytest.raises(hv.VagrantError, match=r"timed out after 1s") as err:
        v.state()
    assert time.monotonic() - started < 10
    assert err.value.log is not None and "# timed out after" in err.value.log.read_text()


def test_timeouts_scale_with_lab_timeout_scale(fake: Path, tmp_path: Path, monkeypatch) -> None:
    (fake / "sleep").write_text("1.5\n")
    monkeypatch.setitem(hv.TIMEOUTS, "status", 1.0)
    waiting.configure(4)
    assert _vagrant(tmp_path).state() == hv.NOT_CREATED


def test_ssh_config_and_boxes_through_python_vagrant(fake: Path, tmp_path: Path) -> None:
    v = _vagrant(tmp_path)
    with pytest.raises(hv.VagrantError, match="exited 1"):
        v.ssh_config()  # not running: vagrant refuses
    assert v.box_names() == set()
    (fake / "boxes").write_text("lab/debian12\n")
    assert v.box_names() == {"lab/debian12"}
    v.up()
    assert v.ssh_config().user == "vagrant"


def test_vagrant_missing_from_path_says_what_to_do(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(hv.VagrantError, match=r"vagrant is not on PATH; run provision/host/setup\.sh"):
        _vagrant(tmp_path).state()


# --- the host lock -----------------------------------------------------------------------------------
def _hold_lock(path: Path, seconds: float) -> subprocess.Popen[bytes]:
    """Another process holding the lock, as provision/box/build.sh does with flock(1)."""
    code = (
        "import fcntl, sys, time\n"
        f"f = open({str(path)!r}, 'a')\n"
        "fcntl.flock(f, fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\n"
        f"time.sleep({seconds})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"locked"
    return proc


def test_up_waits_for_the_host_lock_and_says_so(fake: Path, tmp_path: Path) -> None:
    lock = tmp_path / "vagrant.lock"
    holder = _hold_lock(lock, 2.0)
    lines: list[str] = []

    class Recording(Display):
        def info(self, text: str) -> None:
            lines.append(text)

    v = hv.Vagrant(tmp_path, log_dir=tmp_path / "logs", display=Recording(plain=True), lock_file=lock)
    started = time.monotonic()
    v.up()
    waited = time.monotonic() - started
    holder.wait(timeout=10)
    assert waited >= 1.0, "up ran while another process held the lock"
    assert any("waiting for the vagrant lock" in line for line in lines)


def test_a_lock_held_too_long_is_an_error_not_a_hang(fake: Path, tmp_path: Path) -> None:
    lock = tmp_path / "vagrant.lock"
    holder = _hold_lock(lock, 5.0)
    try:
        v = _vagrant(tmp_path, lock_file=lock, lock_timeout=0.5)
        with pytest.raises(hv.VagrantError, match="was held by another process"):
            v.up()
        assert not (fake / "calls").exists(), "vagrant up ran without the lock"
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_is_released_when_up_is_interrupted(fake: Path, tmp_path: Path, monkeypatch) -> None:
    import filelock

    v = _vagrant(tmp_path)

    def interrupted(provision: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(v, "_up", interrupted)
    with pytest.raises(KeyboardInterrupt):
        v.up()
    with filelock.FileLock(str(tmp_path / "vagrant.lock"), timeout=0.5):
        pass  # free again


def test_interrupts_are_deferred_during_teardown() -> None:
    import os
    import signal

    with pytest.raises(KeyboardInterrupt), hv.interrupts_deferred() as received:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        finished = True  # the block was not cut short
    assert finished and received == [signal.SIGINT]


def test_progress_redraws_become_one_line_per_ten_percent() -> None:
    shown = hv.ProgressFilter()
    lines = ["==> lab: Uploading base box image as volume into Libvirt storage..."]
    lines += [f"\x1b[KProgress: {p}%" for p in (0, 0, 1, 5, 9, 10, 10, 11, 55, 60, 100, 100)]
    lines += ["\x1b[K==> lab: Creating image (snapshot of base box volume)."]
    out = [x for x in (shown(line) for line in lines) if x is not None]
    assert out == [
        "==> lab: Uploading base box image as volume into Libvirt storage...",
        "Progress: 0%",
        "Progress: 10%",
        "Progress: 55%",
        "Progress: 100%",
        "==> lab: Creating image (snapshot of base box volume).",
    ]


# --- the boot watchdog --------------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_boot_watch_is_armed_by_the_domain_start_and_fires_on_a_silent_serial_log(tmp_path: Path) -> None:
    serial = tmp_path / "serial.log"
    clock = Clock()
    watch = boot.BootWatch(serial, stall_after=30, clock=clock)
    clock.now += 1000
    assert watch() is None, "not armed before vagrant starts the domain (box import may take long)"
    watch.on_line("==> lab: Starting domain.")
    serial.write_text("Loading initial ramdisk ...\r\n")
    clock.now += 5
    assert watch() is None, "the log grew: progress"
    clock.now += 29
    assert watch() is None
    clock.now += 2
    reason = watch()
    assert reason and "no boot progress for 31s" in reason and "'Loading initial ramdisk ...'" in reason


def test_boot_watch_keeps_quiet_while_the_guest_prints_and_after_it_is_up(tmp_path: Path) -> None:
    serial = tmp_path / "serial.log"
    clock = Clock()
    watch = boot.BootWatch(serial, stall_after=10, clock=clock)
    watch.on_line("==> lab: Waiting for domain to get an IP address...")
    for i in range(20):  # a slow TCG boot: a line every 8 s
        serial.write_text(serial.read_text() if serial.exists() else "")
        with serial.open("a") as fh:
            fh.write(f"[{i}] systemd: Starting something\n")
        clock.now += 8
        assert watch() is None
    with serial.open("a") as fh:
        fh.write("lab login: ")
    assert watch() is None
    clock.now += 3600
    assert watch() is None, "a login prompt means booted: provisioning may be silent on the console"
    other = boot.BootWatch(serial, stall_after=10, clock=clock)
    other.on_line("==> lab: Starting domain.")
    other.on_line("    lab: SSH address: 192.168.121.5:22")
    clock.now += 3600
    assert other() is None, "vagrant reaching SSH disarms it too"


def test_a_guest_that_hangs_at_boot_stops_up_within_the_stall_time(fake: Path, tmp_path: Path,
                                                                   monkeypatch) -> None:
    serial = tmp_path / "reports" / "vagrant" / "serial-lab.log"
    serial.parent.mkdir(parents=True)
    (fake / "serial").write_text(str(serial))
    (fake / "hang_under").write_text("kvm")
    monkeypatch.setattr(boot, "STALL_AFTER", 2.0)
    v = _vagrant(tmp_path, serial_log=serial, env={**os.environ, "LAB_VM_ACCEL": "kvm"})
    started = time.monotonic()
    with pytest.raises(boot.BootStalled) as err:
        v.up()
    assert time.monotonic() - started < 15, "minutes at most, not the up timeout"
    assert err.value.last == "Loading initial ramdisk ..."
    assert "destroy" not in " ".join(_calls(fake)), "a stalled boot is not retried blindly"
    assert "# stopped: the guest made no boot progress" in err.value.log.read_text()


def test_a_healthy_boot_is_not_stopped(fake: Path, tmp_path: Path, monkeypatch) -> None:
    serial = tmp_path / "serial-lab.log"
    (fake / "serial").write_text(str(serial))
    monkeypatch.setattr(boot, "STALL_AFTER", 2.0)
    _vagrant(tmp_path, serial_log=serial, env={**os.environ, "LAB_VM_ACCEL": "tcg"}).up()
    assert "lab login:" in serial.read_text()
