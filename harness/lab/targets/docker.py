"""The ``docker`` target: the lab on the local Docker engine, deployed with compose here.

What it prepares before compose up: the local images the plan still lacks (and the healthcheck
binary the compose files mount). Everything else — compose up, the health wait, service control,
down — is :class:`harness.lab.targets.base.DeployingTarget`'s, over the local engine
(:class:`harness.lab.engine.SdkEngine`, ``DOCKER_HOST`` or the default socket).
"""

from __future__ import annotations

from harness.base.config import LabConfig
from harness.base.progress import Display
from harness.lab import deploy
from harness.lab.engine import SdkEngine
from harness.lab.runner import LocalRunner
from harness.lab.targets.base import LOCAL, DeployingTarget, Endpoints
from harness.lab.targets.shell import LocalRootShell


class DockerTarget(DeployingTarget):
    """The lab on the local Docker engine."""

    name = "docker"
    CAPABLE_OF = DeployingTarget.CAPABLE_OF | {LOCAL}
    auto_rank = 2

    @classmethod
    def usable(cls, config: LabConfig) -> tuple[bool, str]:
        """Where the Docker engine answers (:func:`harness.lab.targets.docker_answers`)."""
        from harness.lab import targets

        return targets.docker_answers()

    def __init__(self, config: LabConfig, display: Display | None = None,
                 plan: deploy.DeployPlan | None = None):
        super().__init__(config, display)
        self._plan = plan
        self._plan_given = plan is not None  # a test's own project: nothing to build

    @property
    def engine(self) -> SdkEngine:
        return self.local_engine

    def runner(self, plan: deploy.DeployPlan) -> LocalRunner:
        # Probes are cheap on the local engine: every 2 s sees a (re)started service ready within a
        # probe (the compose default, 5 s, is for VMs, where each probe is an exec in a slow guest).
        env = {"LAB_HEALTHCHECK_INTERVAL": self.config.lab_env.get("LAB_HEALTHCHECK_INTERVAL") or "2s",
               **plan.env}
        return LocalRunner(cwd=plan.stack_dir, env=env)

    def compose_files(self, plan: deploy.DeployPlan) -> list[str]:
        return [str(f) for f in plan.files]

    def prepare(self, plan: deploy.DeployPlan) -> None:
        if not self._plan_given:
            deploy.ensure_local_images(plan, self.engine, self.display, self.config.repo_root)

    def endpoints(self) -> Endpoints:
        return Endpoints.for_host(self.config.host_address, self.name, self.config.stores,
                                  topology=self.config.topology)

    def published_address(self) -> str:
        return self.engine.published_address(self.config.host_address)

    def testinfra_host(self, service: str | None = None) -> str:
        """``docker://<id>`` for a service's container; ``local://`` for the host itself."""
        if service is None:
            return "local://"
        return f"docker://{self.engine.container(service).id}"

    def host_shell(self) -> LocalRootShell:
        """This machine runs the containers: root here (or ``sudo -n``)."""
        return LocalRootShell()
