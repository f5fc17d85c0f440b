"""The benchmarks' own lab: the docker target deployed from a throwaway copy of the lab's files.

The copy (:class:`harness.faults.workspace.Workspace`, the one the fault runs use) lets a
benchmark change a setting — the collector's batch timeout, Prometheus' scrape interval — for
one phase of a run and compare it with another in the same run, without touching the user's tree:
``apply`` edits the copy and restarts (collector) or reloads (Prometheus) only what reads it.
Project, bind address and store set come from ``LAB_*`` like every other run
(``LAB_PROJECT=obslab-bench LAB_BIND_ADDRESS=127.0.0.14`` for this machine's bench).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench.common import REPO
from harness.base import waiting
from harness.base.config import LabConfig
from harness.base.progress import Display
from harness.faults.workspace import Workspace
from harness.lab.lifecycle import Lab
from harness.lab.targets.docker import DockerTarget


@dataclass(frozen=True)
class Settings:
    """The delivery settings a phase runs with (what the issue compares)."""

    name: str
    collector_batch_timeout: str  # the collector's batch processor timeout
    scrape_interval: str  # Prometheus' global scrape and evaluation interval
    app_export_delay_ms: str = ""  # the backend's OTEL_BSP/BLRP_SCHEDULE_DELAY; "" = as compose.yaml ships it

    def describe(self) -> str:
        app = f", app export delay {self.app_export_delay_ms} ms" if self.app_export_delay_ms else ""
        return f"collector batch {self.collector_batch_timeout}, scrape {self.scrape_interval}{app}"


def seconds(text: str) -> float:
    """'500ms' / '5s' / '1m' -> seconds."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"not a duration: {text!r}")
    return float(match[1]) * {"ms": 0.001, "s": 1.0, "m": 60.0}[match[2]]


BATCH_RE = re.compile(r"(\n  batch:\n    timeout: )(\S+)")
EXPORT_RE = re.compile(r'(\n      OTEL_B(?:SP|LRP)_SCHEDULE_DELAY: ")(\d+)(")')
SCRAPE_RE = re.compile(r"(\n  scrape_interval: )(\S+)(\n  scrape_timeout: )(\S+)"
                       r"(\n  evaluation_interval: )(\S+)")


def current_settings(stack: Path, stores: str, name: str = "lab") -> Settings:
    """The settings the lab's files ship with."""
    collector = (stack / "collector" / f"config.{stores}.yaml").read_text()
    prometheus = (stack / "prometheus" / f"prometheus.{stores}.yml").read_text()
    batch, scrape = BATCH_RE.search(collector), SCRAPE_RE.search(prometheus)
    export = EXPORT_RE.search((stack / "compose.yaml").read_text())
    if batch is None or scrape is None or export is None:
        raise SystemExit("bench: cannot find the batch timeout / scrape interval / export delay in the "
                         "lab's files")
    return Settings(name, batch[2], scrape[2], export[2])


class BenchLab:
    """Up, down, settings and container stats of the benchmark's lab."""

    def __init__(self, env: Mapping[str, str] | None = None, root: Path | None = None) -> None:
        env = dict(os.environ if env is None else env)
        env.setdefault("LAB_PROJECT", "obslab-bench")
        env.setdefault("LAB_IMAGE_SOURCE", "local")
        env["LAB_TARGET"] = "docker"
        self.root = root or Path(f"/tmp/{env['LAB_PROJECT']}-lab")
        self.workspace = Workspace(REPO, self.root)
        self.env = env
        self.config: LabConfig | None = None
        self.target: DockerTarget | None = None
        self.lab: Lab | None = None

    def create(self) -> BenchLab:
        self.workspace.create()
        binary = REPO / "stack" / "healthcheck" / "bin" / "lab-healthcheck"
        if binary.exists():  # git ignores it; every healthcheck mounts it
            (self.root / "stack" / "healthcheck" / "bin").mkdir(parents=True, exist_ok=True)
            (self.root / "stack" / "healthcheck" / "bin" / "lab-healthcheck").write_bytes(binary.read_bytes())
            os.chmod(self.root / "stack" / "healthcheck" / "bin" / "lab-healthcheck", 0o755)
        self.config = LabConfig.from_sources({"repo_root": self.root}, self.env)
        waiting.configure(self.config.timeout_scale)
        self.target = DockerTarget(self.config, display=Display.silent())
        return self

    @property
    def stack(self) -> Path:
        return self.root / "stack"

    def up(self) -> float:
        """Deploy (compose up + every service healthy); seconds it took."""
        assert self.target is not None
        started = time.monotonic()
        self.target.up()
        took = time.monotonic() - started
        self.lab = Lab.connect(self.config, self.target)  # type: ignore[arg-type]
        return took

    def down(self, volumes: bool = True) -> float:
        assert self.target is not None
        started = time.monotonic()
        self.target.down(volumes=volumes)
        return time.monotonic() - started

    # -- settings -------------------------------------------------------------------------------
    def apply(self, settings: Settings) -> None:
        """Edit the copy's collector and Prometheus configs; restart/reload what reads them."""
        assert self.target is not None and self.config is not None
        stores = self.config.stores
        collector = self.stack / "collector" / f"config.{stores}.yaml"
        prometheus = self.stack / "prometheus" / f"prometheus.{stores}.yml"
        text = collector.read_text()
        if BATCH_RE.search(text)[2] != settings.collector_batch_timeout:  # type: ignore[index]
            collector.write_text(BATCH_RE.sub(rf"\g<1>{settings.collector_batch_timeout}", text, count=1))
            self.target.restart("otel-collector")
            self.target.wait_healthy("otel-collector", timeout=120)
        compose = self.stack / "compose.yaml"
        text = compose.read_text()
        if settings.app_export_delay_ms and EXPORT_RE.search(text)[2] != settings.app_export_delay_ms:  # type: ignore[index]
            compose.write_text(EXPORT_RE.sub(rf"\g<1>{settings.app_export_delay_ms}\g<3>", text))
            self.up()  # compose recreates the backend (its environment changed), and only it
        text = prometheus.read_text()
        interval = settings.scrape_interval
        timeout = f"{min(seconds(interval), 4.0):g}s"
        new = SCRAPE_RE.sub(rf"\g<1>{interval}\g<3>{timeout}\g<5>{interval}", text, count=1)
        if new != text:
            prometheus.write_text(new)
            self.reload_prometheus()
        self.wait_quiet()

    def reload_prometheus(self) -> None:
        assert self.lab is not None
        response = requests.post(self.lab.endpoints.prometheus + "/-/reload", timeout=30)
        if response.status_code != 200:
            raise SystemExit(f"bench: Prometheus did not reload its config: {response.status_code} "
                             f"{response.text[:200]}")

    def wait_quiet(self, seconds_: float = 3.0) -> None:
        """Let a restart or reload settle (first scrapes, pipelines started)."""
        time.sleep(seconds_)

    # -- containers -----------------------------------------------------------------------------
    def container_stats(self) -> dict[str, dict[str, float]]:
        """Per service: CPU seconds so far and memory (RSS, and what `docker stats` shows), MiB."""
        assert self.target is not None
        client = self.target.engine.client
        out: dict[str, dict[str, float]] = {}
        for service, cid in self.target.container_ids().items():
            stats: dict[str, Any] = client.api.stats(cid, stream=False, one_shot=True)
            mem = stats.get("memory_stats") or {}
            detail = mem.get("stats") or {}
            rss = detail.get("total_rss", detail.get("rss", detail.get("anon", 0)))
            inactive = detail.get("total_inactive_file", detail.get("inactive_file", 0))
            out[service] = {
                "cpu_s": (stats.get("cpu_stats") or {}).get("cpu_usage", {}).get("total_usage", 0) / 1e9,
                "rss_mib": rss / 2**20,
                "mem_mib": max(0, mem.get("usage", 0) - inactive) / 2**20,
            }
        return out
