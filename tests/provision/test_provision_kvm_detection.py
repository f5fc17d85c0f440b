"""provision/host/kvm-works.sh: KVM only when a guest booted under it makes progress.

Fake QEMUs stand in for the cases that matter on hosts of our kind: QEMU aborts at once (broken
nested KVM: `failed to set MSR 0x10a`), QEMU starts and the guest hangs silently (what a fresh
host showed: the serial log stops after "Loading initial ramdisk"), a guest that prints and then
stops half way, and a guest that boots to the end of the kernel's init (KVM works). The real QEMU
boots the real probe kernel under TCG to prove the probe's own success path is reachable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "provision" / "host" / "kvm-works.sh"

# A fake QEMU finds the file its guest's serial port writes to (-serial file:PATH).
SERIAL_OF_ARGS = """
serial=""
prev=""
for a in "$@"; do
  [ "$prev" = "-serial" ] && serial=${a#file:}
  prev=$a
done
"""
END_OF_INIT = "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)"


def fake(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + SERIAL_OF_ARGS + body + "\n")
    path.chmod(0o755)
    return path


def detect(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    device = tmp_path / "kvm"
    device.touch()
    kernel = tmp_path / "vmlinuz-test"
    kernel.write_bytes(b"not really a kernel")
    full = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "KVM_DEVICE": str(device),
        "KVM_CACHE_FILE": str(tmp_path / "cache"),
        "KVM_PROBE_KERNEL": str(kernel),
        "KVM_PROBE_TIMEOUT": "3",
        **env,
    }
    return subprocess.run(["bash", str(SCRIPT), "-v", *args], env=full, capture_output=True, text=True,
                          timeout=60, check=False)


def cached(tmp_path: Path) -> str:
    return (tmp_path / "cache").read_text().split()[0]


def test_qemu_that_aborts_means_no_kvm(tmp_path: Path) -> None:
    qemu = fake(tmp_path, "qemu", "echo 'kvm_buf_set_msrs: Assertion failed' >&2; kill -ABRT $$")
    proc = detect(tmp_path, KVM_QEMU=str(qemu))
    assert proc.returncode == 1
    assert "kvm_buf_set_msrs" in proc.stderr, "the reason is shown"
    assert "Aborted" not in proc.stderr.replace("kvm-works:", ""), "no shell job noise"
    assert cached(tmp_path) == "0"


def test_qemu_that_hangs_silently_means_no_kvm(tmp_path: Path) -> None:
    """The fresh host's case: QEMU runs (so the old "alive for 3 s" probe said KVM works), the guest
    never prints. The probe waits its timeout, says why, and chooses TCG."""
    args_log = tmp_path / "args"
    qemu = fake(tmp_path, "qemu", f'echo "$@" >> {args_log}; exec sleep 60')
    started = time.monotonic()
    proc = detect(tmp_path, KVM_QEMU=str(qemu))
    elapsed = time.monotonic() - started
    assert proc.returncode == 1, proc.stderr
    assert "hangs" in proc.stderr and "0 bytes" in proc.stderr
    assert elapsed < 20, f"the probe is bounded by KVM_PROBE_TIMEOUT (took {elapsed:.1f}s)"
    assert cached(tmp_path) == "0"
    call = args_log.read_text()
    assert "-accel kvm" in call and "-kernel" in call and "console=ttyS0" in call


def test_guest_that_stops_half_way_means_no_kvm(tmp_path: Path) -> None:
    qemu = fake(tmp_path, "qemu", 'printf "Loading initial ramdisk ...\\r\\n" > "$serial"; exec sleep 60')
    proc = detect(tmp_path, KVM_QEMU=str(qemu))
    assert proc.returncode == 1
    assert "last: Loading initial ramdisk" in proc.stderr, "what the guest last printed is shown"


def test_guest_that_boots_to_the_end_of_init_means_kvm(tmp_path: Path) -> None:
    body = f'printf "[ 0.000] Linux version 6.1\\n[ 0.900] {END_OF_INIT}\\n" > "$serial"; exec sleep 60'
    qemu = fake(tmp_path, "qemu", body)
    started = time.monotonic()
    proc = detect(tmp_path, KVM_QEMU=str(qemu))
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < 10, "success is seen as soon as the guest prints it"
    assert cached(tmp_path) == "1"


def test_no_kernel_to_boot_means_no_kvm(tmp_path: Path) -> None:
    qemu = fake(tmp_path, "qemu", f'printf "{END_OF_INIT}\\n" > "$serial"; exec sleep 60')
    proc = detect(tmp_path, KVM_QEMU=str(qemu), KVM_PROBE_KERNEL=str(tmp_path / "absent"))
    assert proc.returncode == 1 and "no kernel to boot" in proc.stderr


def test_cached_result_is_reused_and_no_cache_probes_again(tmp_path: Path) -> None:
    (tmp_path / "cache").write_text("1 booted earlier\n")
    missing = str(tmp_path / "no-such-qemu")
    reused = detect(tmp_path, "--reason", KVM_QEMU=missing)
    assert reused.returncode == 0 and "booted earlier" in reused.stdout
    assert detect(tmp_path, "--no-cache", KVM_QEMU=missing).returncode == 1


def test_an_answer_cached_by_the_old_alive_only_probe_is_probed_again(tmp_path: Path) -> None:
    """The old probe wrote a bare "1" when QEMU merely stayed alive — a hanging guest does that."""
    (tmp_path / "cache").write_text("1\n")
    qemu = fake(tmp_path, "qemu", "exec sleep 60")
    proc = detect(tmp_path, KVM_QEMU=str(qemu))
    assert proc.returncode == 1 and "older probe" in proc.stderr and "hangs" in proc.stderr
    assert cached(tmp_path) == "0"


def test_record_writes_the_answer_without_probing(tmp_path: Path) -> None:
    """What the harness does when a lab VM hung under KVM although the probe had passed."""
    (tmp_path / "cache").write_text("1 booted earlier\n")
    proc = detect(tmp_path, "--record", "0", "a lab VM hung at boot under KVM", KVM_QEMU="/nonexistent")
    assert proc.returncode == 1
    assert (tmp_path / "cache").read_text().strip() == "0 a lab VM hung at boot under KVM"
    assert detect(tmp_path, KVM_QEMU="/nonexistent").returncode == 1, "later runs use the recorded answer"


@pytest.mark.parametrize(("value", "rc"), [("1", 0), ("0", 1)])
def test_forced(tmp_path: Path, value: str, rc: int) -> None:
    assert detect(tmp_path, KVM_WORKS=value, KVM_QEMU="/nonexistent").returncode == rc


def test_missing_or_unusable_device(tmp_path: Path) -> None:
    qemu = fake(tmp_path, "qemu", "exec sleep 30")
    proc = detect(tmp_path, KVM_QEMU=str(qemu), KVM_DEVICE=str(tmp_path / "absent"))
    assert proc.returncode == 1 and "missing" in proc.stderr


def _probe_kernel() -> str | None:
    """The kernel the real probe boots on this host (the host's, or the one it fetched)."""
    for pattern in ("/boot/vmlinuz-*", "/var/cache/obslab/kvm-probe/vmlinuz-*"):
        found = sorted(Path("/").glob(pattern.lstrip("/")))
        if found:
            return str(found[-1])
    return None


@pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None,
                    reason="qemu-system-x86_64 not installed (provision/host/setup.sh installs it)")
def test_real_qemu_boots_the_probe_kernel_under_tcg(tmp_path: Path) -> None:
    """The success path with nothing faked: the real probe kernel under the real QEMU (TCG, which
    works everywhere) reaches the end of its init, so "works" is a reachable answer."""
    kernel = _probe_kernel()
    assert kernel, "no probe kernel: provision/host/setup.sh runs kvm-works.sh, which fetches one"
    proc = subprocess.run(
        ["bash", str(SCRIPT), "-v", "--no-cache"], capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "KVM_PROBE_ACCEL": "tcg", "KVM_PROBE_KERNEL": kernel, "KVM_PROBE_TIMEOUT": "60"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "end of init" in proc.stderr


@pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None,
                    reason="qemu-system-x86_64 not installed (provision/host/setup.sh installs it)")
def test_this_host_answers_quickly_with_a_reason() -> None:
    """Whatever the answer (no KVM here; KVM on a user's host), the real probe is bounded and says why."""
    started = time.monotonic()
    proc = subprocess.run(["bash", str(SCRIPT), "-v", "--no-cache"], capture_output=True, text=True,
                          timeout=60, check=False, env={**os.environ, "KVM_CACHE_FILE": "/dev/null"})
    assert proc.returncode in (0, 1)
    assert "KVM works:" in proc.stderr
    assert time.monotonic() - started < 40
