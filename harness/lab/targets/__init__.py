"""Where the lab runs, and which place a run uses — chosen once, with the reason said aloud.

Targets are registered by import path in :data:`harness.base.options.TARGET_CLASSES` (the lowest
floor: the options' choices are its names), so that a new one is one line there and a target whose
dependencies are missing does not break the others. What a target can do is asked of its class
(:meth:`Target.declared`) or of the target (:attr:`Target.capabilities`), never of its name.
"""

from __future__ import annotations

import importlib
import os
import shutil

from harness.base.config import AUTO, TARGET_CLASSES, LabConfig
from harness.base.errors import ConfigError, LabError
from harness.base.progress import Display, run
from harness.base.waiting import scaled
from harness.lab.targets.base import Endpoints, NotSupported, Target

__all__ = [
    "TARGET_CLASSES",
    "Endpoints",
    "NotSupported",
    "Target",
    "choose",
    "docker_answers",
    "registered_with",
    "target_class",
    "vagrant_usable",
    "validate",
]

PROBE_TIMEOUT = 20.0


def target_class(name: str) -> type[Target]:
    """The class registered for ``name`` (ConfigError when there is none in this version)."""
    if name not in TARGET_CLASSES:
        raise ConfigError(f"target {name!r} is not known; use one of: {', '.join(TARGET_CLASSES)}")
    module_name, _, attr = TARGET_CLASSES[name].partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    assert issubclass(cls, Target)
    return cls


def registered_with(*capabilities: str) -> list[str]:
    """The registered targets whose class can do every one of ``capabilities``, in registry order."""
    return [name for name in TARGET_CLASSES if set(capabilities) <= target_class(name).CAPABLE_OF]


def vagrant_usable(timeout: float = PROBE_TIMEOUT) -> tuple[bool, str]:
    """Vagrant on PATH and libvirt answering (``virsh -c qemu:///system version``)."""
    if shutil.which("vagrant") is None:
        return False, "vagrant is not on PATH"
    if shutil.which("virsh") is None:
        return False, "virsh (libvirt clients) is not on PATH"
    result = run(["virsh", "-c", "qemu:///system", "version"], timeout=scaled(timeout))
    if not result.ok:
        why = "timed out" if result.timed_out else (result.tail(1) or f"exit {result.exit_code}")
        return False, f"libvirt does not answer (virsh -c qemu:///system version: {why})"
    return True, "vagrant and libvirt are usable"


def docker_answers(timeout: float = PROBE_TIMEOUT) -> tuple[bool, str]:
    """Whether the Docker engine (``DOCKER_HOST`` or the default socket) answers, and its version."""
    from docker.errors import DockerException

    from harness.lab.engine import docker_client

    try:
        client = docker_client(timeout=timeout)
        try:
            version = client.version().get("Version", "?")
        finally:
            client.close()
    except (LabError, DockerException, OSError) as exc:
        return False, f"the Docker engine does not answer ({' '.join(str(exc).split())})"
    where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    return True, f"the Docker engine answers at {where} (Docker {version})"


def validate(config: LabConfig) -> None:
    """What can be checked before any target is made (ConfigError, one line): the same for `lab`
    and for `pytest features`, so a bad endpoints file is refused at once by both, and so is a
    target whose class finds the config lacking (:meth:`Target.check`)."""
    if config.endpoints_file is not None:
        from harness.lab.targets.existing import endpoints_from_file

        endpoints_from_file(config.endpoints_file)
    if config.target != AUTO:
        target_class(config.target).check(config)
    if config.split and config.target not in (AUTO, "docker"):
        raise ConfigError(f"LAB_TOPOLOGY=split (--topology split) runs on the docker target only so far "
                          f"(issue 26: the two-VM vagrant split is not built yet); not on {config.target}")


def choose(config: LabConfig, display: Display | None = None) -> tuple[Target, str]:
    """The target for ``config`` and a one-line reason.

    Explicit wins; ``auto`` asks the registered classes that take part in it, in their
    :attr:`Target.auto_rank` order, whether they can run here (:meth:`Target.usable`): an existing
    lab when LAB_HOST/LAB_ENDPOINTS_FILE name one, else vagrant when it is usable, else docker when
    the engine answers.
    """
    if config.target != AUTO:
        cls = target_class(config.target)
        return cls(config, display=display), f"chosen explicitly (--target or LAB_TARGET={config.target})"

    reasons: list[str] = []
    ranked = sorted((c for c in map(target_class, TARGET_CLASSES) if c.auto_rank is not None),
                    key=lambda c: c.auto_rank or 0)
    for cls in ranked:
        if config.split and cls.name == "vagrant":
            reasons.append("vagrant: the split topology runs on docker only so far")
            continue
        usable, why = cls.usable(config)
        if usable:
            return cls(config, display=display), f"auto: {'; '.join([*reasons, why])}"
        if why:
            reasons.append(why)
    # Not a bad setting: the host lacks what a target needs (the same exit as --target docker here).
    raise LabError(
        f"no target can run the lab: {'; '.join(reasons)}; start dockerd (or install "
        "docker.io), or point at a running lab with --target existing --lab-host HOST"
    )
