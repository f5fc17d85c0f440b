"""What a deploy of the lab is made of, and the one way every target brings it up and down.

The plan (decided once, whatever the target): which compose files (base, store set, image source —
in that order), which variables compose interpolates (store set, registry mirror, bind address,
generated secrets) and where the images come from (``auto`` means local images when they are all
there, else registry), with the reason, which the CLI prints at the start of a run.

:class:`Deployment` is the up/down path the docker and the vagrant targets share: compose ``up``
through the target's runner (here, or in the VM over ssh), then the target's engine waits until
every service of the plan is running and healthy, showing "waiting: n/m healthy" as it goes.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock
from rich.markup import escape

from harness.base import services, timeouts
from harness.base.config import LabConfig
from harness.base.errors import ConfigError, LabError
from harness.base.progress import Display
from harness.base.statefile import read_env_file, write_private
from harness.lab import images
from harness.lab.compose import Compose, services_in
from harness.lab.engine import WAIT_TIMEOUT, Engine

SECRETS_FILE = Path(".lab") / "secrets.env"
GENERATED_SECRETS = ("GF_SECURITY_ADMIN_PASSWORD",)
SECRET_KEYS = frozenset(GENERATED_SECRETS)


@dataclass(frozen=True)
class ImageSource:
    """Where images come from for this deploy, and why."""

    source: str  # "local" or "registry"
    reason: str
    missing: dict[str, str] = field(default_factory=dict)  # local: build step -> tag still absent

    def __str__(self) -> str:
        return f"images {self.source}: {self.reason}"


RegistryProbe = Callable[[], tuple[bool, str]]  # does the registry answer, and what it said


def resolve_image_source(config: LabConfig, present: Iterable[str] | None,
                         registry: RegistryProbe | None = None) -> ImageSource:
    """``config.image_source`` made concrete; ``present`` = image tags in the engine (None = unknown).

    ``auto``: local images when they are all there; for a set that can be built here, when some
    are missing, the registry if it answers (``registry``, asked only then), else the missing ones
    are built here — so the default works on a host with no registry, once, and then from cache.
    """
    stores = config.stores
    wanted = config.image_source
    if wanted == "registry":
        via = f" through the mirror {config.registry_mirror}" if config.registry_mirror else ""
        return ImageSource(
            "registry",
            f"chosen explicitly (--image-source/LAB_IMAGE_SOURCE); pinned official images pulled{via}",
        )
    if wanted == "local":
        images.local_images_for(stores)  # ConfigError for tempo-loki: Tempo/Loki/Grafana cannot be built here
        missing = images.missing_local_images(stores, present, config.topology) if present is not None else {}
        if missing:
            return ImageSource(
                "local",
                f"chosen explicitly; {len(missing)} image(s) to build first: "
                f"{', '.join(sorted(missing.values()))}",
                missing,
            )
        return ImageSource("local", "chosen explicitly (--image-source/LAB_IMAGE_SOURCE); lab/*:local images")
    # auto
    if services.local_images(stores) is None:
        names = ", ".join(n.capitalize() for n in services.unbuildable(stores))
        return ImageSource(
            "registry",
            f"auto: the {stores} set runs {names}, whose images cannot be built here, so they come "
            "from the registry",
        )
    if present is None:
        return ImageSource("registry", "auto: the engine's images are not known, so the registry is used")
    needed = images.local_images_for(stores, config.topology)
    missing = images.missing_local_images(stores, present, config.topology)
    if not missing:
        return ImageSource(
            "local", f"auto: all {len(needed)} lab/*:local images the {stores} set needs are in the engine"
        )
    answers, said = registry() if registry is not None else (True, "not asked")
    if answers:
        return ImageSource(
            "registry",
            f"auto: {', '.join(sorted(missing.values()))} not in the engine and the registry answers "
            "(`lab images build` makes them locally instead), so the registry is used",
        )
    return ImageSource(
        "local",
        f"auto: no registry answers ({said}), so the {len(missing)} missing lab/*:local image(s) are "
        f"built here first (minutes, once; cached afterwards): {', '.join(sorted(missing.values()))}",
        missing,
    )


SPLIT_FILE = "compose.split.yaml"
# The split topology's own images (compose.split.yaml names them by these variables).
SPLIT_LOCAL_IMAGES = {"LAB_AGENT_IMAGE": "lab/otel-collector:local", "LAB_LINK_IMAGE": "lab/link:local"}


def compose_files(stack_dir: Path, stores: str, image_source: str,
                  topology: str = "single") -> tuple[Path, ...]:
    """Base, store set, image source, topology — the ``-f`` order of ADR 0001 (ADR 0018: the split
    topology's overlay last)."""
    files = [stack_dir / "compose.yaml", stack_dir / f"compose.{stores}.yaml"]
    if image_source == "local":
        files.append(stack_dir / "compose.local-images.yaml")
    if topology == "split":
        files.append(stack_dir / SPLIT_FILE)
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise ConfigError(f"compose file(s) missing: {', '.join(missing)}")
    return tuple(files)


def load_secrets(repo_root: Path, create: bool = True) -> dict[str, str]:
    """Generated secrets of this checkout (``.lab/secrets.env``, mode 0600, gitignored).

    Made once, so a redeploy keeps the same Grafana admin password (Grafana stores it in its volume
    on first start); never a default in the repository.
    """
    path = repo_root / SECRETS_FILE
    values = read_env_file(path)
    missing = [k for k in GENERATED_SECRETS if not values.get(k)]
    if missing and create:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Shards deploy at once: one makes the secrets, the others read what it made (not their own).
        with FileLock(str(path) + ".lock", timeout=timeouts.of("inspect")):
            values = read_env_file(path)
            missing = [k for k in GENERATED_SECRETS if not values.get(k)]
            for key in missing:
                values[key] = secrets.token_urlsafe(24)
            if missing:
                write_private(
                    path,
                    "# Generated by the lab harness; keep private. Deleting it makes new secrets on the\n"
                    "# next deploy (Grafana keeps its first admin password in its volume until\n"
                    "# `lab down --volumes`).\n" + "".join(f"{k}={v}\n" for k, v in sorted(values.items())),
                )
    if path.exists():
        os.chmod(path, 0o600)
    return values


def secret_values(config: LabConfig, create: bool = True) -> dict[str, str]:
    """The secrets a deploy uses: ``.lab/secrets.env``, each overridable from the environment."""
    values = load_secrets(config.repo_root, create=create)
    values.update({k: v for k, v in config.secrets.items() if k in SECRET_KEYS and v})
    return values


def grafana_admin_password(config: LabConfig) -> str:
    """Grafana's admin password as deployed (``GF_SECURITY_ADMIN_PASSWORD`` in the environment wins)."""
    return secret_values(config)["GF_SECURITY_ADMIN_PASSWORD"]


def compose_env(config: LabConfig, secret_values: Mapping[str, str],
                bind_address: str | None = None) -> dict[str, str]:
    """The variables compose interpolates (on top of the caller's environment)."""
    env = {"LAB_STORES": config.stores, "LAB_BIND_ADDRESS": bind_address or config.bind_address,
           "LAB_TOPOLOGY": config.topology}
    mirror = mirror_host(config.registry_mirror)
    if mirror:
        env["LAB_REGISTRY_MIRROR"] = mirror  # the compose files default to docker.io
    env.update({k: v for k, v in secret_values.items() if k in SECRET_KEYS})
    return env


def mirror_host(mirror: str | None) -> str:
    """``https://mirror.example:5000/`` -> ``mirror.example:5000`` (what replaces ``docker.io`` in image
    names); unset -> ""."""
    if not mirror:
        return ""
    return mirror.split("://", 1)[-1].strip().strip("/")


@dataclass(frozen=True)
class DeployPlan:
    """Everything needed to run compose for one config."""

    project: str
    stores: str
    images: ImageSource
    files: tuple[Path, ...]
    env: dict[str, str]
    stack_dir: Path

    @property
    def image_source(self) -> str:
        return self.images.source

    @property
    def services(self) -> list[str]:
        return services_in(self.files)

    def public_env(self) -> dict[str, str]:
        """``env`` with secrets masked, for evidence and logs."""
        return {k: ("***" if k in SECRET_KEYS else v) for k, v in self.env.items()}

    def needs_healthcheck_binary(self) -> bool:
        return any("lab-healthcheck" in f.read_text() for f in self.files)


def plan(
    config: LabConfig, present: Iterable[str] | None = None, *, create_secrets: bool = True,
    registry: RegistryProbe | None = None,
) -> DeployPlan:
    """Files, environment and image source for ``config``; ``present`` = tags in the target's engine."""
    source = resolve_image_source(config, present, registry)
    files = compose_files(config.stack_dir, config.stores, source.source, config.topology)
    env = compose_env(config, secret_values(config, create=create_secrets))
    if config.split and source.source == "local":
        env.update({**SPLIT_LOCAL_IMAGES, "LAB_SPLIT_PULL_POLICY": "never"})
    return DeployPlan(
        project=config.project,
        stores=config.stores,
        images=source,
        files=files,
        env=env,
        stack_dir=config.stack_dir,
    )


def down_plan(config: LabConfig) -> DeployPlan:
    """Enough of a plan to take the lab down: the project and its base and store-set files."""
    return DeployPlan(
        project=config.project,
        stores=config.stores,
        images=ImageSource("registry", "down"),
        files=compose_files(config.stack_dir, config.stores, "registry", config.topology),
        env=compose_env(config, secret_values(config, create=False)),
        stack_dir=config.stack_dir,
    )


def ensure_local_images(plan: DeployPlan, engine: Engine | None, display: Display, repo_root: Path) -> None:
    """Build what the plan's local image source still lacks (and the healthcheck binary the compose
    files mount), in the local engine; LabError when the build did not make them."""
    wanted = list(plan.images.missing)
    binary = repo_root / images.HEALTHCHECK_BINARY
    if not binary.is_file() and plan.needs_healthcheck_binary():
        wanted.insert(0, "healthcheck")
    if not wanted:
        return
    images.build(wanted, display=display, repo_root=repo_root)
    if plan.image_source == "local" and engine is not None:
        still = images.missing_local_images(plan.stores, set(engine.image_ids()),
                                             plan.env.get("LAB_TOPOLOGY", "single"))
        if still:
            raise LabError(
                f"after the build, still missing: {', '.join(sorted(still.values()))} "
                "(see `lab images build` output)"
            )
    if not binary.is_file() and "healthcheck" in wanted:
        raise LabError(f"{images.HEALTHCHECK_BINARY} was not built (Go is needed: see stack/images/build.sh)")


class Deployment:
    """compose up/down through ``compose``'s runner, health through ``engine``: one path for every
    target that deploys. ``timings`` holds the seconds of the last up's phases."""

    def __init__(self, compose: Compose, engine: Engine, display: Display, where: str = ""):
        self.compose = compose
        self.engine = engine
        self.display = display
        self.where = where
        self.timings: dict[str, float] = {}

    def _progress(self, ready: int, total: int, problems: list[str]) -> None:
        first = f" — {problems[0]}" if problems else ""
        self.display.update(escape(f"waiting: {ready}/{total} services healthy{first[:90]}"))

    def up(self, plan: DeployPlan, wait_timeout: float = WAIT_TIMEOUT) -> None:
        """``compose up`` (keeps volumes, recreates only what changed), then wait until every
        service of the plan is running and healthy."""
        files = " ".join(f"-f {f.name}" for f in plan.files)
        started = time.monotonic()
        with self.display.phase(
            f"compose up{self.where} ({self.compose.version}, project {plan.project}, {files})"
        ):
            self.compose.up(no_build=plan.image_source == "local")
        self.timings["compose-up"] = round(time.monotonic() - started, 1)
        started = time.monotonic()
        with self.display.phase(f"waiting for every service{self.where} to be running and healthy"):
            self.engine.wait_all(plan.services, timeout=wait_timeout, on_progress=self._progress)
        self.timings["wait-healthy"] = round(time.monotonic() - started, 1)
        for service, state in sorted(self.engine.states().items()):
            self.display.detail(f"{service:<15} {state}")

    def down(self, volumes: bool = False) -> None:
        """Remove the project's containers and networks; volumes only with ``volumes=True`` (also
        those of a store set these files do not name)."""
        what = "containers, networks and volumes" if volumes else "containers and networks (volumes kept)"
        with self.display.phase(f"compose down{self.where} ({self.compose.version}, "
                                f"project {self.compose.project}): {what}"):
            self.compose.down(volumes=volumes)
            if volumes:
                self.engine.remove_volumes()
