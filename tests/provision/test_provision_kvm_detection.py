"""provision/host/kvm-works.sh: KVM only when a guest really starts under it.

Fake QEMUs stand in for the three cases that matter: QEMU exits at once (broken nested KVM: on our
hosts it aborts with `kvm_buf_set_msrs: Assertion ... failed`), QEMU keeps running (KVM works), and
no QEMU at all.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "provision" / "host" / "kvm-works.sh"


def fake(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


def detect(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    device = tmp_path / "kvm"
    device.touch()
    full = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "KVM_DEVICE": str(device),
        "KVM_CACHE_FILE": str(tmp_path / "cache"),
        **env,
    }
    return subprocess.run(["bash", str(SCRIPT), "-v", *args], env=full, capture_output=True, text=True,
                          timeout=30, check=False)


def test_qemu_that_aborts_means_no_kvm(tmp_path: Path) -> None:
    qemu = fake(tmp_path, "qemu", "echo 'kvm_buf_set_msrs: Assertion failed' >&2; kill -ABRT $$")
    proc = detect(tmp_path, KVM_QEMU=str(qemu))
    assert proc.returncode == 1
    assert "kvm_buf_set_msrs" in proc.stderr, "the reason is shown"
    assert "Aborted" not in proc.stderr.replace("kvm-works:", ""), "no shell job noise"
    assert (tmp_path / "cache").read_text().strip() == "0"


def test_qemu_that_keeps_running_means_kvm(tmp_path: Path) -> None:
    args_log = tmp_path / "args"
    qemu = fake(tmp_path, "qemu", f'echo "$@" >> {args_log}; exec sleep 30')
    started = time.monotonic()
    proc = detect(tmp_path, KVM_QEMU=str(qemu))
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < 15, "the probe is bounded"
    calls = args_log.read_text().splitlines()
    assert all("-accel kvm" in c for c in calls), "never falls back to TCG silently"
    # creates the VM (-S: stopped before the first instruction), then runs it
    assert any(" -S" in c for c in calls) and any(" -S" not in c for c in calls)
    assert (tmp_path / "cache").read_text().strip() == "1"


def test_cached_result_is_reused_and_no_cache_probes_again(tmp_path: Path) -> None:
    (tmp_path / "cache").write_text("1\n")
    missing = str(tmp_path / "no-such-qemu")
    assert detect(tmp_path, KVM_QEMU=missing).returncode == 0
    assert detect(tmp_path, "--no-cache", KVM_QEMU=missing).returncode == 1


@pytest.mark.parametrize(("value", "rc"), [("1", 0), ("0", 1)])
def test_forced(tmp_path: Path, value: str, rc: int) -> None:
    assert detect(tmp_path, KVM_WORKS=value, KVM_QEMU="/nonexistent").returncode == rc


def test_missing_or_unusable_device(tmp_path: Path) -> None:
    qemu = fake(tmp_path, "qemu", "exec sleep 30")
    proc = detect(tmp_path, KVM_QEMU=str(qemu), KVM_DEVICE=str(tmp_path / "absent"))
    assert proc.returncode == 1 and "missing" in proc.stderr


def test_this_host_answers_quickly() -> None:
    """Whatever the answer (no KVM here; KVM on a user's host), the real probe is bounded."""
    started = time.monotonic()
    proc = subprocess.run(["bash", str(SCRIPT), "--no-cache"], capture_output=True, text=True, timeout=30,
                          check=False, env={**os.environ, "KVM_CACHE_FILE": "/dev/null"})
    assert proc.returncode in (0, 1)
    assert time.monotonic() - started < 12
