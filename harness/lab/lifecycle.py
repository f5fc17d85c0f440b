"""The lab as a test run sees it: a target, its endpoints and one client per signal, plus the
lifecycle policy (reuse what runs, destroy per ``LAB_DESTROY``, never destroy what we did not make).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from harness.base import waiting
from harness.base.config import LabConfig
from harness.base.errors import LabError
from harness.clients.app import AppClient
from harness.clients.grafana import GrafanaClient
from harness.clients.model import LogStore, TraceStore
from harness.clients.prometheus import PrometheusClient
from harness.clients.stores import store_clients
from harness.lab.targets import choose
from harness.lab.targets.base import OWNS_LAB, Endpoints, Target


@dataclass
class Lab:
    """A running lab: its target, its endpoints and one client per thing the harness reads. The
    stores are one client per signal the store set stores (:func:`harness.clients.stores.
    store_clients`), so a new signal's store needs no field here."""

    config: LabConfig
    target: Target
    endpoints: Endpoints
    front: AppClient
    backend: AppClient
    prometheus: PrometheusClient
    stores: Mapping[str, Any]  # signal -> the client of its store
    grafana: GrafanaClient | None = None
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def traces(self) -> TraceStore:
        """The trace store of the lab's set (Jaeger, Tempo)."""
        return self.stores["traces"]

    @property
    def logs(self) -> LogStore:
        """The log store of the lab's set (VictoriaLogs, Loki)."""
        return self.stores["logs"]

    @classmethod
    def connect(cls, config: LabConfig, target: Target) -> Lab:
        ep = target.endpoints()
        grafana = None
        if ep.grafana:
            from harness.lab.deploy import grafana_admin_password

            grafana = GrafanaClient(ep.grafana, "admin", grafana_admin_password(config))
        return cls(
            config=config,
            target=target,
            endpoints=ep,
            front=AppClient(ep.frontend),
            backend=AppClient(ep.backend),
            prometheus=PrometheusClient(ep.prometheus),
            stores=store_clients(ep),
            grafana=grafana,
        )


class LabStartFailed(LabError):
    """The lab did not come up; ``first`` is False for every scenario after the one that tried."""

    def __init__(self, message: str, first: bool):
        super().__init__(message)
        self.first = first


class LabLifecycle:
    """Bring the lab up once per run and decide at the end whether to destroy it.

    ``passing`` destroys only after a green run (a failed lab stays for debugging), ``always``
    destroys even after Ctrl-C, ``never`` keeps it. A lab that was already running when the run
    began is reused and never destroyed: the run did not make it.
    """

    def __init__(
        self, config: LabConfig, out: TextIO | None = None, on_start: Callable[[str, str], None] | None = None
    ):
        self.config = config
        self.on_start = on_start
        self.out = out or sys.stderr
        self.target: Target | None = None
        self.reason = ""
        # Until the check below has answered, assume the lab is not ours: an interrupted check must
        # never lead to destroying a lab that was running before the run.
        self.was_running = True
        self.lab: Lab | None = None
        self._failure: BaseException | None = None
        self._finished = False

    def say(self, line: str) -> None:
        print(f"[lab] {line}", file=self.out, flush=True)

    def start(self) -> Lab:
        waiting.configure(self.config.timeout_scale)
        self.target, self.reason = choose(self.config)
        self.say(f"target {self.target.name}: {self.reason}; stores {self.config.stores}; "
                 f"topology {self.config.topology}")
        if self.on_start:
            self.on_start("target", self.target.name)
            self.on_start("target reason", self.reason)
        if OWNS_LAB not in self.target.capabilities:
            self.was_running = True  # not ours, whatever it answers: never destroyed
            self.say(f"using the lab at {self.target.endpoints().frontend} (not deployed by this run, "
                     "never destroyed by it)")
        else:
            self.was_running = self.target.is_running()
            if self.was_running:
                self.say("a lab is already running for this project: reusing it (it will not be destroyed)")
        self.target.up()
        self.lab = Lab.connect(self.config, self.target)
        return self.lab

    def get(self) -> Lab:
        """The lab, started on first use; a failed start is remembered, not retried per scenario
        (:class:`LabStartFailed` says so in one line for every scenario after the first)."""
        if self.lab is not None:
            return self.lab
        if self._failure is not None:
            raise LabStartFailed(self.failure_line(), first=False)
        try:
            return self.start()
        except BaseException as exc:
            self._failure = exc
            raise

    def failure_line(self, limit: int = 160) -> str:
        """The failed start in one short line (the whole story is in the first scenario and the
        report)."""
        text = str(self._failure or "").strip().splitlines()
        first = text[0] if text else type(self._failure).__name__
        if len(first) > limit:
            first = first[:limit].rsplit(" ", 1)[0] + " … (the first failure says all)"
        return f"the lab could not be started: {first}"

    def should_destroy(self, passed: bool, interrupted: bool = False) -> bool:
        """A shard's lab is the shard's own: an interrupted sharded run (Ctrl-C) leaves nothing
        behind under ``passing`` too; a failed one keeps it for debugging, as any lab."""
        if self.target is None or self.was_running:
            return False
        policy = self.config.destroy
        shard_interrupted = interrupted and self.config.shard is not None
        return policy == "always" or (policy == "passing" and (passed or shard_interrupted))

    def finish(self, passed: bool, interrupted: bool = False) -> bool:
        """Destroy or keep the lab per the policy; False when the teardown itself failed (said in
        one line: the run must not pass with a lab half taken down)."""
        if self.target is None or self._finished:
            return True
        self._finished = True
        how = "interrupted" if interrupted else "passed" if passed else "failed"
        outcome = f"LAB_DESTROY={self.config.destroy}, run {how}"
        try:
            if self.should_destroy(passed, interrupted):
                self.say(f"destroying the lab ({outcome})")
                try:
                    self.target.down(volumes=True)
                except LabError as exc:
                    self.say(f"the lab could not be destroyed: {' '.join(str(exc).split())}")
                    return False
            elif OWNS_LAB not in self.target.capabilities:
                self.say(f"the {self.target.name} lab is not this run's: nothing to take down")
            elif self.was_running:
                self.say("leaving the lab running: it was running before this run")
            else:
                self.say(f"keeping the lab ({outcome}); remove it with `lab down --volumes`")
        finally:
            self.target.close()
        return True
