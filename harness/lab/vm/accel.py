"""KVM or TCG for the lab VM, decided by ``provision/host/kvm-works.sh`` (a kernel must boot under
``-accel kvm`` to the end of its init) unless ``LAB_VM_ACCEL`` says which; and, when a lab VM hung
at boot under KVM anyway, remembered as "no KVM on this host" in the probe's cache."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from harness.base.progress import run

PROBE = Path("provision") / "host" / "kvm-works.sh"
PROBE_TIMEOUT = 60.0  # the probe boots a kernel for at most 20 s; cached afterwards
RECORD_TIMEOUT = 30.0


def decide(setting: str, repo_root: Path, env: Mapping[str, str]) -> tuple[str, str]:
    """(``kvm`` or ``tcg``, why): ``setting`` (LAB_VM_ACCEL) when it names one, else the probe."""
    if setting in ("kvm", "tcg"):
        return setting, f"LAB_VM_ACCEL={setting}"
    result = run([str(repo_root / PROBE), "--reason"], timeout=PROBE_TIMEOUT, env=env, record=False)
    lines = result.output.strip().splitlines()
    why = lines[-1] if lines else f"the probe gave no reason (exit {result.exit_code})"
    return ("kvm" if result.ok else "tcg"), f"auto: {why}"


def record_no_kvm(repo_root: Path, env: Mapping[str, str], why: str) -> None:
    """Tell the probe's cache that KVM hangs guests here (later runs and the Vagrantfile then use TCG)."""
    run([str(repo_root / PROBE), "--record", "0", why[:200]], timeout=RECORD_TIMEOUT, env=env, record=False)
