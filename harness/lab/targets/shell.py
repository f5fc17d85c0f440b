"""A root shell on the host that runs the lab's containers, as a target gives it
(:meth:`harness.lab.targets.base.Target.host_shell`): this machine for the docker target (as root, or
through ``sudo -n``), the lab VM over ssh for the vagrant target (the ``vagrant`` user's sudo).

Network faults (:mod:`harness.faults.network`) run ``nsenter``, ``tc`` and ``nft`` through it; which
host that is, and how root is reached there, is the target's to say, not the fault's.
"""

from __future__ import annotations

import os
import shlex
from typing import Protocol

from harness.base.progress import CommandResult, run
from harness.lab.remote import Remote


class HostShell(Protocol):
    """Runs shell code as root on the host of the lab's containers."""

    where: str  # for messages and evidence: "this host", "the VM (lab)"

    def run(self, script: str, timeout: float) -> CommandResult: ...


class LocalRootShell:
    """This machine: ``sh -c`` as root, or through ``sudo -n`` (never a password prompt)."""

    where = "this host"

    def run(self, script: str, timeout: float) -> CommandResult:
        argv = ["sh", "-c", script] if os.geteuid() == 0 else ["sudo", "-n", "sh", "-c", script]
        return run(argv, timeout=timeout, record=False)


class RemoteRootShell:
    """Another host over ssh, as a user with passwordless sudo."""

    def __init__(self, remote: Remote, name: str = "the VM"):
        self.remote = remote
        self.where = f"{name} ({remote.where})"

    def run(self, script: str, timeout: float) -> CommandResult:
        return self.remote.run(f"sudo -n sh -c {shlex.quote(script)}", timeout=timeout, record=False)
