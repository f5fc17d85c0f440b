"""Runtime faults: what is done to a running lab, through its target's engine (docker here, the
docker CLI over ssh in the VM), so the same fault runs on every target that can control services."""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.base.errors import LabError
from harness.faults.model import Action

if TYPE_CHECKING:
    from harness.lab.lifecycle import Lab


@dataclass(frozen=True)
class StopService(Action):
    """The service's container stops (killed by an operator, an OOM kill with no restart policy)."""

    service: str

    def apply(self, lab: Lab) -> str:
        lab.target.stop(self.service)
        return f"stopped {self.service}"

    def describe(self) -> str:
        return f"stop the {self.service} container"


@dataclass(frozen=True)
class FillDisk(Action):
    """Fill the file system holding ``path`` in the service's container (run as root there) until
    the writer gets "no space left on device". Only ever pointed at a size-limited tmpfs that the
    fault's own edit mounts (the host's disk is never filled)."""

    service: str
    path: str
    settle_s: float = 0.0  # time the service takes to notice (VictoriaLogs checks free space each second)

    def apply(self, lab: Lab) -> str:
        target = f"{self.path.rstrip('/')}/.lab-fault-fill"
        mount = shlex.quote(f" {self.path.rstrip('/')} tmpfs ")
        script = (f"grep -q {mount} /proc/mounts || {{ echo 'not a tmpfs: refusing to fill it'; exit 3; }}; "
                  f"dd if=/dev/zero of={shlex.quote(target)} bs=1M 2>&1")
        result = lab.target.engine.exec(self.service, ["sh", "-c", script], user="root")
        if "No space left on device" not in result.output:
            raise LabError(f"filling {self.path} in {self.service} did not reach a full disk: "
                           f"{' '.join(result.output.split())[:200]!r}")
        if self.settle_s:
            time.sleep(self.settle_s)  # a disk that is full has been full for a while
        return f"filled {self.path} in {self.service}: {' '.join(result.output.split())[:160]}"

    def describe(self) -> str:
        return f"fill {self.path} in {self.service} (a size-limited tmpfs) to the last block"
