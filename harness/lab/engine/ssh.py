"""The engine on a host reached over ssh (the lab VM): the Docker CLI, or its Engine API through
``curl --unix-socket``, run there through one :class:`harness.lab.remote.Remote`.

The Docker SDK is not used over ``ssh://``: it cannot be given the ssh config file that holds the
VM's address, user and key. Under QEMU TCG each run of the Go docker CLI costs about 2.5 s and a
curl of the Engine API 0.7 s, so listings go through curl when the VM has it.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from harness.base import timeouts
from harness.base.errors import LabError
from harness.lab.engine.base import Engine
from harness.lab.engine.model import PROJECT_LABEL
from harness.lab.remote import Remote, parse_image_ids

INSPECT_TIMEOUT = timeouts.base("inspect")
ACT_TIMEOUT = timeouts.base("exec")
LOGS_TIMEOUT = 30.0  # one `docker logs --tail` takes about 2.5 s under QEMU TCG
IMAGE_LIST_FORMAT = "{{.Repository}}:{{.Tag}} {{.ID}}"


def parse_inspect(text: str) -> list[Mapping[str, Any]]:
    """``docker inspect`` JSON (a list of containers, perhaps after stray lines) -> documents."""
    text = text.strip()
    if not text:
        return []
    start = text.find("[")
    data = json.loads(text[start:] if start > 0 else text)
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []


class SshEngine(Engine):
    """A compose project in the engine of the host ``remote`` reaches."""

    max_age = 1.5
    poll_interval = 2.0

    def __init__(self, remote: Remote, project: str, api: bool | None = None):
        super().__init__(project, f"the VM's engine ({remote.where})")
        self.remote = remote
        self.api = api  # True: Engine API via curl; False: docker CLI; None: curl when the host has it

    def inspect_script(self) -> str:
        """Shell code printing ``docker inspect`` JSON of the project's containers."""
        label = f"{PROJECT_LABEL}={self.project}"
        filters = quote(json.dumps({"label": [label]}, separators=(",", ":")), safe="")
        sock = "/var/run/docker.sock"
        api = (
            f"list=$(curl -sf --unix-socket {sock} 'http://d/containers/json?all=1&filters={filters}') "
            "|| exit 3; "
            'ids=$(printf \'%s\' "$list" | grep -o \'"Id": *"[0-9a-f]*"\' | cut -d\'"\' -f4); '
            "printf '['; sep=''; for id in $ids; do "
            f'c=$(curl -sf --unix-socket {sock} "http://d/containers/$id/json") '
            "&& printf '%s%s' \"$sep\" \"$c\" && sep=,; done; printf ']\\n'"
        )
        cli = (
            f"ids=$(docker ps -aq --no-trunc --filter {shlex.quote('label=' + label)}) || exit 3; "
            'if [ -z "$ids" ]; then echo "[]"; else docker inspect $ids 2>/dev/null; fi'
        )
        if self.api is True:
            return api
        if self.api is False:
            return cli
        return f"if command -v curl >/dev/null 2>&1; then {api}; else {cli}; fi"

    def ping(self) -> str:
        result = self.remote.run(["docker", "version", "--format", "{{.Server.Version}}"],
                                 timeout=INSPECT_TIMEOUT, record=False)
        if not result.ok:
            raise LabError(f"Docker engine at {self.where} does not answer: {result.tail(3)}")
        return result.output.strip()

    def inspect_project(self) -> list[Mapping[str, Any]]:
        result = self.remote.run(self.inspect_script(), timeout=INSPECT_TIMEOUT, record=False)
        if result.timed_out or result.exit_code not in (0, 1):
            raise LabError(
                f"cannot list the containers of project {self.project!r} in {self.where}: "
                f"{'timed out' if result.timed_out else result.tail(3)}"
            )
        try:
            return parse_inspect(result.output)
        except ValueError as exc:
            raise LabError(
                f"docker inspect in {self.where} printed no JSON ({exc}): {result.tail(3)}"
            ) from None

    def _act(self, verb: str, container_id: str) -> None:
        result = self.remote.run(["docker", verb, container_id], timeout=ACT_TIMEOUT, record=False)
        if not result.ok:
            raise LabError(f"docker {verb}: {'timed out' if result.timed_out else result.tail(3)}")

    def _exec(self, container_id: str, command: Sequence[str], user: str | None) -> tuple[int, str]:
        argv = ["docker", "exec", *(["-u", user] if user else []), container_id, *command]
        result = self.remote.run(argv, timeout=ACT_TIMEOUT, record=False)
        if result.timed_out or (result.exit_code == 255 and not result.output.strip()):
            raise LabError(
                f"exec in {container_id[:12]} over ssh failed: "
                f"{'timed out' if result.timed_out else 'ssh exit 255'}"
            )
        return result.exit_code, result.output

    def _logs(self, container_id: str, tail: int) -> str:
        argv = ["docker", "logs", "--tail", str(tail), "--timestamps", container_id]
        result = self.remote.run(argv, timeout=LOGS_TIMEOUT, record=False)
        if not result.ok:
            raise LabError(
                f"cannot read the log of {container_id[:12]} in {self.where}: "
                f"{'timed out' if result.timed_out else result.tail(3)}"
            )
        return result.output

    def remove_volumes(self) -> list[str]:
        label = shlex.quote(f"label={PROJECT_LABEL}={self.project}")
        result = self.remote.run(
            f"v=$(docker volume ls -q --filter {label}); [ -z \"$v\" ] || docker volume rm -f $v",
            timeout=ACT_TIMEOUT, check=f"remove the volumes of {self.project} in the VM",
        )
        return result.output.split()

    def image_ids(self) -> dict[str, str]:
        result = self.remote.run(
            f"docker images --no-trunc --format {shlex.quote(IMAGE_LIST_FORMAT)} 2>/dev/null",
            timeout=ACT_TIMEOUT, check=f"docker images ({self.where})",
        )
        return parse_image_ids(result.output)
