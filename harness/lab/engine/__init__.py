"""Where the lab's containers run: one :class:`Engine` interface, two ways to reach dockerd — the
Docker SDK (:class:`SdkEngine`, the local engine or an SDK URL) and the Docker CLI over ssh
(:class:`SshEngine`, the engine in the lab VM)."""

from harness.lab.engine.base import WAIT_TIMEOUT, Engine, ExecResult
from harness.lab.engine.model import (
    ONEOFF_LABEL,
    PROJECT_LABEL,
    SERVICE_LABEL,
    ContainerInfo,
    ServiceState,
    health_report,
)
from harness.lab.engine.sdk import SdkEngine, docker_client
from harness.lab.engine.ssh import SshEngine

__all__ = [
    "ONEOFF_LABEL",
    "PROJECT_LABEL",
    "SERVICE_LABEL",
    "WAIT_TIMEOUT",
    "ContainerInfo",
    "Engine",
    "ExecResult",
    "SdkEngine",
    "ServiceState",
    "SshEngine",
    "docker_client",
    "health_report",
]
