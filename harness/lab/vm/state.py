"""Whether a running VM can be reused: the configuration it was made with, kept as a fingerprint.

Two runs with the same fingerprint would make the same VM, so a running one is reused; a changed
provisioner means ``vagrant provision``, a changed Vagrantfile or machine setting a reload, a
changed box a new VM. The fingerprint is saved in
``vagrant-state.json`` of the lab's state dir (``.lab/``, ``.lab/shard-k/``) once the VM is up.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.base.config import DEFAULT_BOX
from harness.base.statefile import read_json, write_json
from harness.lab.vm.vagrant_cli import NOT_CREATED, RUNNING

STATE_FILE = Path("vagrant-state.json")  # in the lab's state dir (LabConfig.lab_state_dir)
# Variables of the Vagrantfile that do not change the machine (where reports go, how long to wait),
# and those it only hands to the provisioner (a change means `vagrant provision`, not a reload).
NOT_MACHINE_VARS = frozenset({"LAB_REPORTS_DIR", "LAB_TIMEOUT_SCALE", "LAB_VM_BOOT_TIMEOUT"})
PROVISION_VARS = frozenset({"LAB_DEPLOY_PUBKEY", "LAB_DEPLOY_PUBKEY_FILE", "LAB_DOCKER_SOURCE"})


def _lab_vars(text: str) -> set[str]:
    return set(re.findall(r"\bLAB_[A-Z0-9_]+\b", text))


def fingerprint(repo_root: Path, env: Mapping[str, str]) -> dict[str, str]:
    """Hashes of what made the VM: ``machine`` (the Vagrantfile and the LAB_* variables it reads),
    ``provision`` (every file under provision/vm, and the variables the Vagrantfile only hands to
    the provisioner) and ``box``.

    Two runs with the same fingerprint would make the same VM, so a running one is reused.
    """
    root = Path(repo_root)
    vagrantfile = root / "Vagrantfile"
    text = vagrantfile.read_text() if vagrantfile.is_file() else ""
    names = _lab_vars(text) - NOT_MACHINE_VARS
    machine = hashlib.sha256(text.encode())
    for var in sorted(names - PROVISION_VARS):
        machine.update(f"\0{var}={env.get(var, '')}".encode())
    provision = hashlib.sha256()
    prov_dir = root / "provision" / "vm"
    if prov_dir.is_dir():
        for path in sorted(p for p in prov_dir.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            provision.update(f"\0{path.relative_to(root)}\0".encode() + path.read_bytes())
    for var in sorted(names & PROVISION_VARS):
        provision.update(f"\0{var}={env.get(var, '')}".encode())
    return {
        "machine": machine.hexdigest(),
        "provision": provision.hexdigest(),
        "box": env.get("LAB_BOX") or DEFAULT_BOX,
    }


def vm_action(state: str, saved: Mapping[str, str] | None, current: Mapping[str, str]) -> tuple[str, str]:
    """What to do with the machine in ``state`` given the fingerprint it was made with (``saved``,
    None when unknown) and the current one: (action, reason). Actions: ``reuse``, ``up``,
    ``provision``, ``reload``, ``recreate``."""
    if state == NOT_CREATED:
        return "up", "no VM yet"
    if saved is not None and saved.get("box") and saved.get("box") != current["box"]:
        return (
            "recreate",
            f"the box changed ({saved.get('box')} -> {current['box']}); volumes in the VM are lost",
        )
    machine_same = saved is not None and saved.get("machine") == current["machine"]
    provision_same = saved is not None and saved.get("provision") == current["provision"]
    if state == RUNNING:
        if saved is None:
            return (
                "provision",
                "a running VM made by an unknown configuration: provisioning it again (idempotent)",
            )
        if machine_same and provision_same:
            return "reuse", "a running VM whose configuration is unchanged"
        if machine_same:
            return "provision", "provision/vm changed: provisioning the running VM again"
        return "reload", "the Vagrantfile or its LAB_* settings changed: reloading the VM"
    if saved is not None and machine_same and provision_same:
        return "up", f"the VM is {state}: starting it (configuration unchanged)"
    return (
        "up-provision",
        f"the VM is {state}: starting it and provisioning again (configuration changed or unknown)",
    )


def load_state(state_dir: Path) -> dict[str, Any]:
    return read_json(state_dir / STATE_FILE)


def save_state(state_dir: Path, data: Mapping[str, Any] | None) -> None:
    write_json(state_dir / STATE_FILE, data)
