"""pytest-testinfra connection strings for the lab VM and the containers in it.

The VM is ``ssh://vagrant@lab?ssh_config=<file>`` — the file is the block ``vagrant ssh-config lab``
printed, so testinfra needs no knowledge of the VM's address or key. A container *inside* the VM
is ``ssh-docker://deploy@lab?ssh_config=…&container=<id>``: testinfra's own ``docker://`` backend
runs the local ``docker`` CLI and cannot cross ssh, so :class:`SshDockerBackend` runs each command
as ``docker exec <id> /bin/sh -c …`` in the VM over the same ssh. It is registered in testinfra's
backend table by :func:`container_hostspec`, the one place such a string is made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import testinfra.backend
from testinfra.backend.ssh import SshBackend


class SshDockerBackend(SshBackend):
    """testinfra backend: a container of the VM's engine, through ssh + ``docker exec``."""

    NAME = "ssh-docker"

    def __init__(self, hostspec: str, *args: Any, container: str | None = None, **kwargs: Any):
        if not container:
            raise ValueError("ssh-docker:// needs ?container=<id or name>")
        self.container = container
        super().__init__(hostspec, *args, **kwargs)

    def run(self, command: str, *args: str, **kwargs: Any) -> Any:
        inner = self.get_command(command, *args)
        return self.run_ssh(self.get_command("docker exec %s /bin/sh -c %s", self.container, inner))


def register() -> None:
    testinfra.backend.BACKENDS.setdefault(SshDockerBackend.NAME, f"{__name__}.SshDockerBackend")


def vm_hostspec(ssh_config: Path, user: str = "vagrant", host: str = "lab") -> str:
    return f"ssh://{user}@{host}?ssh_config={quote(str(ssh_config))}&timeout=30"


def container_hostspec(ssh_config: Path, container: str, user: str = "deploy", host: str = "lab") -> str:
    register()
    return (f"ssh-docker://{user}@{host}?ssh_config={quote(str(ssh_config))}"
            f"&container={quote(container)}&timeout=30")
