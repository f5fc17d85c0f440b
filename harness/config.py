"""The one config object: every option of the CLI and of pytest, resolved once, validated with
one-line errors (what is wrong and what would be right).

Precedence: explicit option > environment variable > default. ``target`` may stay ``auto`` here;
:func:`harness.targets.choose` resolves it and says why.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent

TARGETS = ("auto", "docker", "vagrant", "existing")
STORE_SETS = ("jaeger-victorialogs", "tempo-loki")
IMAGE_SOURCES = ("auto", "registry", "local")
DESTROY_POLICIES = ("passing", "always", "never")
COMPOSE_COMMANDS = ("docker compose", "docker-compose")

# Which store set provides which backends; used for skipping scenarios the set cannot serve.
STORE_FEATURES: dict[str, frozenset[str]] = {
    "jaeger-victorialogs": frozenset({"jaeger", "victorialogs"}),
    "tempo-loki": frozenset({"tempo", "loki", "grafana"}),
}


def _choice(name: str, value: str, allowed: tuple[str, ...], env: str) -> str:
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} (from {env} or --{name.replace('_', '-')}) is not valid; "
                          f"use one of: {', '.join(allowed)}")
    return value


@dataclass(frozen=True)
class LabConfig:
    target: str = "auto"
    stores: str = "jaeger-victorialogs"
    image_source: str = "auto"
    lab_host: str | None = None
    endpoints_file: Path | None = None
    destroy: str = "passing"
    timeout_scale: float = 1.0
    project: str = "obslab"
    registry_mirror: str | None = None
    docker_host: str | None = None  # LAB_DOCKER_HOST: the engine that runs an existing lab (control)
    compose_command: str | None = None  # LAB_COMPOSE: "docker compose" or "docker-compose"; None = detect
    reports_dir: Path = field(default_factory=lambda: REPO_ROOT / "reports")
    repo_root: Path = REPO_ROOT

    @property
    def stack_dir(self) -> Path:
        return self.repo_root / "stack"

    @property
    def has_grafana(self) -> bool:
        return "grafana" in STORE_FEATURES[self.stores]

    def with_(self, **changes: object) -> LabConfig:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_sources(cls, options: Mapping[str, object | None] | None = None,
                     env: Mapping[str, str] | None = None) -> LabConfig:
        """Build from CLI/pytest options (None = not given) over environment variables."""
        opts = {k: v for k, v in (options or {}).items() if v is not None}
        env = os.environ if env is None else env

        def pick(key: str, env_key: str, default: str | None) -> str | None:
            if key in opts:
                return str(opts[key])
            return env.get(env_key) or default

        target = _choice("target", pick("target", "LAB_TARGET", "auto"), TARGETS, "LAB_TARGET")
        stores = _choice("stores", pick("stores", "LAB_STORES", "jaeger-victorialogs"), STORE_SETS,
                         "LAB_STORES")
        image_source = _choice("image_source", pick("image_source", "LAB_IMAGE_SOURCE", "auto"),
                               IMAGE_SOURCES, "LAB_IMAGE_SOURCE")
        destroy = pick("destroy", "LAB_DESTROY", "passing")
        if opts.get("keep"):
            destroy = "never"
        destroy = _choice("destroy", str(destroy), DESTROY_POLICIES, "LAB_DESTROY")

        raw_scale = pick("timeout_scale", "LAB_TIMEOUT_SCALE", "1")
        try:
            scale = float(raw_scale or "1")
        except ValueError:
            raise ConfigError(
                f"LAB_TIMEOUT_SCALE={raw_scale!r} is not a number; use e.g. 1, 2.5 or 10") from None
        if scale <= 0:
            raise ConfigError(
                f"LAB_TIMEOUT_SCALE={raw_scale!r} must be greater than 0; use e.g. 1, 2.5 or 10")

        project = pick("project", "LAB_PROJECT", "obslab") or "obslab"
        if not project.replace("-", "").replace("_", "").isalnum() or project != project.lower():
            raise ConfigError(f"LAB_PROJECT={project!r} is not a valid compose project name; "
                              "use lowercase letters, digits, '-' or '_'")

        lab_host = pick("lab_host", "LAB_HOST", None)
        endpoints = pick("endpoints_file", "LAB_ENDPOINTS_FILE", None)
        endpoints_file = Path(endpoints) if endpoints else None
        if endpoints_file is not None and not endpoints_file.is_file():
            raise ConfigError(f"LAB_ENDPOINTS_FILE={endpoints!r} does not exist; "
                              "give the path of a file written by `lab endpoints --json`")
        if target == "existing" and not (lab_host or endpoints_file):
            raise ConfigError("target 'existing' needs the lab's address: set LAB_HOST (or --lab-host) "
                              "or LAB_ENDPOINTS_FILE (a `lab endpoints --json` file)")

        compose_command = pick("compose_command", "LAB_COMPOSE", None)
        if compose_command is not None:
            compose_command = " ".join(compose_command.split())
            if compose_command not in COMPOSE_COMMANDS:
                raise ConfigError(f"LAB_COMPOSE={compose_command!r} is not valid; use one of: "
                                  f"{', '.join(repr(c) for c in COMPOSE_COMMANDS)} (or unset it to detect)")

        reports = pick("reports_dir", "LAB_REPORTS_DIR", None)
        return cls(
            target=target,
            stores=stores,
            image_source=image_source,
            lab_host=lab_host,
            endpoints_file=endpoints_file,
            destroy=destroy,
            timeout_scale=scale,
            project=project,
            registry_mirror=pick("registry_mirror", "LAB_REGISTRY_MIRROR", None),
            docker_host=pick("docker_host", "LAB_DOCKER_HOST", None),
            compose_command=compose_command,
            reports_dir=Path(reports) if reports else REPO_ROOT / "reports",
        )
