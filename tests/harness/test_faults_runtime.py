"""harness.faults.runtime: every runtime fault one vocabulary — each kind made, undone and held through
a recording target (what it asks the target, the engine and the host shell to do), a bounded fault
undone by its own timer, a crash loop that stops, a held fault that is undone when interrupted, a
fault during traffic that records when it was in effect and what it found, and the catalogue that
uses the partition and restart kinds. The real mechanics are tested on real containers elsewhere
(test_netfault.py: nft/tc; the @failure and @load scenarios: the rest)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from harness.base.errors import LabError
from harness.base.progress import CommandResult
from harness.drive import load
from harness.faults import FAULTS, runtime
from harness.faults.model import Action, Held, Made
from harness.faults.runtime import (
    Burst,
    Delay,
    EndMainProcess,
    FillDisk,
    LogBurst,
    Partition,
    Recreate,
    Repeated,
    Replace,
    Restart,
    Stop,
)
from harness.lab.engine import ExecResult, ServiceState
from harness.lab.engine.model import ContainerInfo
from harness.lab.targets.base import Endpoints
from tests.harness.fake_http import Reply, fake_server

DEAD = "http://127.0.0.1:9"


class Shell:
    """A host shell that records each script and answers every one with success."""

    where = "a recording shell"

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def run(self, script: str, timeout: float) -> CommandResult:
        kind = "nft drop" if "nft -f" in script else "netem" if "netem" in script else "clear"
        self.calls.append(f"{kind} {script.split('nsenter -t ')[1].split()[0]}")
        return CommandResult(("sh",), 0, "table inet lab_netfault", 0.01)


class Engine:
    """The engine calls the kinds make: one container per service, inspect documents for the links."""

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls
        self.exit_code = 0

    def container(self, service: str) -> ContainerInfo:
        return ContainerInfo(service, f"{service}-id-000000", service, ServiceState("running"),
                             started_at="t0")

    def wait_ended(self, before: ContainerInfo, *, timeout: float) -> ContainerInfo:
        self.calls.append(f"wait ended {before.service}")
        return ContainerInfo(before.service, before.id, before.name, ServiceState("running", "starting"),
                             started_at="t1", restarts=1)

    def exec(self, service: str, command: list[str], user: str | None = None) -> ExecResult:
        self.calls.append(f"exec {service} as {user}: {command[-1].split(' || ')[0]}")
        return ExecResult(self.exit_code, "dd: error writing: No space left on device")

    def inspect_project(self) -> list[dict[str, Any]]:
        self.calls.append("inspect")
        return [{"State": {"Status": "running", "Pid": pid},
                 "Config": {"Labels": {"com.docker.compose.service": name}},
                 "NetworkSettings": {"Networks": {"lab": {"IPAddress": f"172.20.0.{pid}"}}}}
                for name, pid in (("backend", 11), ("otel-collector", 12), ("victorialogs", 13))]


class Target:
    """Records every call the vocabulary makes of a target."""

    def __init__(self, running: bool = True) -> None:
        self.calls: list[str] = []
        self.engine = Engine(self.calls)
        self.running = running

    def restart(self, service: str) -> None:
        self.calls.append(f"restart {service}")

    def stop(self, service: str) -> None:
        self.calls.append(f"stop {service}")
        self.running = False

    def start(self, service: str) -> None:
        self.calls.append(f"start {service}")
        self.running = True

    def status(self) -> dict[str, ServiceState]:
        return {"otel-collector": ServiceState("running" if self.running else "exited")}

    def wait_healthy(self, service: str, timeout: float = 60.0) -> None:
        self.calls.append(f"healthy {service} {timeout:g}")

    def exec(self, service: str, command: list[str]) -> ExecResult:
        return self.engine.exec(service, command)

    def recreate(self, service: str) -> None:
        self.calls.append(f"recreate {service}")

    def replace(self, service: str) -> None:
        self.calls.append(f"replace {service}")

    def host_shell(self) -> Shell:
        return Shell(self.calls)

    def host_port(self, port: int) -> int:
        return self.port

    port = 4318


def lab(target: Target | None = None, collector: str = DEAD) -> Any:
    urls = dict(frontend=DEAD, backend=DEAD, prometheus=DEAD, traces=DEAD, logs=DEAD,
                collector_health=collector)
    return SimpleNamespace(target=target or Target(),
                           endpoints=Endpoints(target="docker", stores="jaeger-victorialogs", **urls))


# ------------------------------------------------------------------------------ one shape for all
EVERY_KIND = [
    Restart("otel-collector"), Stop("otel-collector"), EndMainProcess("backend"), Recreate("victorialogs"),
    Replace("backend"), Partition("backend", "otel-collector"), Delay("backend", "otel-collector", ms=200),
    LogBurst(), FillDisk("backend", "/app/data"), Repeated(Restart("otel-collector"), every=1, seconds=5),
]


def test_the_vocabulary_has_every_kind_the_issue_names_each_of_the_same_shape() -> None:
    named = {"restart": Restart, "stop": Stop, "end main process": EndMainProcess, "recreate": Recreate,
             "replace": Replace, "partition": Partition, "delay": Delay, "burst": LogBurst,
             "fill disk": FillDisk}
    assert {type(k) for k in EVERY_KIND} >= set(named.values())
    for kind in EVERY_KIND:
        assert isinstance(kind, Action)
        hop = getattr(kind, "service", None) or (f"{kind.source} → {kind.dest}" if hasattr(kind, "source")
                                                 else "collector")
        assert hop in kind.describe(), f"{type(kind).__name__} does not name its hop: {kind.describe()!r}"


@pytest.mark.parametrize(("kind", "calls"), [
    (Restart("otel-collector"), ["restart otel-collector"]),
    (Restart("otel-collector", healthy_within=120), ["restart otel-collector", "healthy otel-collector 120"]),
    (Stop("otel-collector"), ["stop otel-collector"]),
    (Recreate("victorialogs"), ["recreate victorialogs"]),
    (Replace("backend"), ["replace backend"]),
    (EndMainProcess("backend"), ["exec backend as None: kill -INT 1", "wait ended backend"]),
    (FillDisk("backend", "/app/data"), ["exec backend as root: grep -q ' /app/data tmpfs ' /proc/mounts"]),
    (Partition("backend", "otel-collector"), ["inspect", "nft drop 11"]),
    (Delay("otel-collector", "victorialogs", ms=200), ["inspect", "netem 12"]),
], ids=lambda v: type(v).__name__ if isinstance(v, Action) else "")
def test_each_kind_makes_what_it_says_through_the_target(kind: Action, calls: list[str]) -> None:
    target = Target()
    line = kind.apply(lab(target))
    assert target.calls == calls
    assert line and "\n" not in line


def test_undo_takes_back_what_can_be_and_an_event_has_nothing_to_take_back() -> None:
    target = Target()
    stop = Stop("otel-collector")
    stop.apply(lab(target))
    stop.undo(lab(target))
    stop.undo(lab(target))  # idempotent: running already, only waits
    assert target.calls == ["stop otel-collector", "start otel-collector", "healthy otel-collector 90",
                            "healthy otel-collector 90"]
    cut = Partition("backend", "otel-collector")
    cut.apply(lab(target := Target()))
    cut.undo(lab(target))
    assert target.calls == ["inspect", "nft drop 11", "clear 11"]  # cleared where it was set, no new lookup
    restart = Restart("otel-collector")
    restart.undo(lab(target := Target()))
    assert target.calls == []


def test_a_bounded_fault_applied_once_is_undone_by_its_own_timer() -> None:
    target = Target()
    started = time.monotonic()
    line = Stop("otel-collector", seconds=0.3).apply(lab(target))
    assert time.monotonic() - started < 0.2, "apply returned at once: the scenarios run while it lasts"
    assert line == "stopped otel-collector (undone after 0.3 s)" and target.calls == ["stop otel-collector"]
    deadline = time.monotonic() + 5
    while "start otel-collector" not in target.calls and time.monotonic() < deadline:
        time.sleep(0.05)
    assert target.calls == ["stop otel-collector", "start otel-collector", "healthy otel-collector 90"]


def test_a_held_fault_says_when_it_was_in_effect_and_is_undone_when_interrupted() -> None:
    target = Target()
    before = time.time()
    held = Stop("otel-collector", seconds=0.3).hold(lab(target))
    assert isinstance(held, Held) and held.what == "stop the otel-collector container for 0.3 s"
    start, end = held.in_effect
    assert before <= start <= held.applied_at < held.clearing_at <= held.cleared_at == end
    assert held.clearing_at - held.applied_at >= 0.3
    assert target.calls == ["stop otel-collector", "start otel-collector", "healthy otel-collector 90"]

    class Breaks(Stop):
        def make(self, lab: Any) -> Made:
            super().make(lab)
            raise LabError("the engine went away half-way")

    target = Target()
    with pytest.raises(LabError, match="half-way"):
        Breaks("otel-collector", seconds=30).hold(lab(target))
    assert target.calls[-2:] == ["start otel-collector", "healthy otel-collector 90"], "undone all the same"


def test_a_crash_loop_repeats_in_the_background_and_stops_when_undone() -> None:
    target = Target()
    loop = Repeated(Restart("otel-collector"), every=0.05, seconds=30)
    line = loop.apply(lab(target))
    assert target.calls[:1] == ["restart otel-collector"], "the first one is made where it is called"
    assert "then again every 0.05 s for 30 s" in line
    time.sleep(0.5)
    loop.undo(lab(target))
    made = loop.times
    assert made >= 4 and set(target.calls) == {"restart otel-collector"}
    time.sleep(0.2)
    assert loop.times == made, "undo stopped the loop"
    short = Repeated(Restart("otel-collector"), every=0.05, seconds=0.3)
    short.apply(lab(target := Target()))
    time.sleep(0.8)
    assert 2 <= short.times <= 8 and not short._loop.thread.is_alive(), "bounded: it ends by itself"
    with pytest.raises(ValueError, match="pause must be shorter"):
        Repeated(Restart("x"), every=10, seconds=5)


def test_a_signal_the_container_refuses_is_a_one_line_error_naming_the_service() -> None:
    target = Target()
    target.engine.exit_code = 1
    with pytest.raises(LabError, match="could not signal the main process of backend"):
        EndMainProcess("backend").apply(lab(target))


def test_a_burst_counts_the_collectors_answers() -> None:
    answers = iter([200, 503, 503, 429])
    lock = threading.Lock()

    def answer(_: Any) -> Reply:
        with lock:
            return Reply(status=next(answers, 200), body={})

    with fake_server() as collector:
        collector.route("POST", "/v1/logs", answer)
        target = Target()
        target.port = int(collector.url.rsplit(":", 1)[1])
        made = LogBurst(records=10, size=100, requests=6, concurrency=2).make(lab(target, collector.url))
    burst = made.result
    assert isinstance(burst, Burst) and burst.statuses == {"200": 3, "503": 2, "429": 1}
    assert (burst.records, burst.accepted, burst.refused) == (60, 30, 30)
    assert "60 log records" in made.line
    with pytest.raises(ValueError, match="more than"):
        LogBurst(records=2000, size=8000, requests=1000)


# ------------------------------------------------------------------------------ during traffic
def test_a_fault_during_traffic_records_when_it_was_in_effect_and_what_it_found() -> None:
    with fake_server() as front:
        front.route("GET", "/api/tasks", Reply(body={"count": 0, "tasks": []}))
        the_lab = lab(Target())
        the_lab.endpoints = Endpoints(target="docker", stores="jaeger-victorialogs", frontend=front.url,
                                      backend=DEAD, prometheus=DEAD, traces=DEAD, logs=DEAD,
                                      collector_health=DEAD)
        traffic = load.Traffic(the_lab, load.LoadPlan(rate=20, duration=1.5))
        traffic._before = SimpleNamespace()  # no pipeline to read here
        traffic._started_at = time.time()
        traffic._thread = threading.Thread(target=traffic._drive, daemon=True)
        traffic._thread.start()
        original = load.hops.snapshot
        load.hops.snapshot = lambda lab, consistent=False: None  # type: ignore[assignment]
        try:
            done = traffic.fault(Stop("otel-collector", seconds=0.3), at=0.2)
        finally:
            load.hops.snapshot = original  # type: ignore[assignment]
        traffic.stop()
    assert done.describe == "stop the otel-collector container for 0.3 s"
    start, end = done.window
    assert end - start >= 0.3 and done.in_effect == (start, end)
    assert the_lab.target.calls == ["stop otel-collector", "start otel-collector",
                                    "healthy otel-collector 90"]


# -------------------------------------------------------------------------------- the catalogue
def test_the_catalogue_holds_partition_and_restart_faults_each_bounded() -> None:
    def restarts(a: Action) -> bool:
        return isinstance(a, Restart) or (isinstance(a, Repeated) and isinstance(a.fault, Restart))

    partitions = [f.name for f in FAULTS if any(isinstance(a, Partition) for a in f.actions)]
    restarted = [f.name for f in FAULTS if any(restarts(a) for a in f.actions)]
    assert partitions and restarted, "lab sensitivity --list shows partition and restart faults"
    for fault in FAULTS:
        for action in fault.actions:
            assert isinstance(action, Action)
            if isinstance(action, Partition | Delay | Repeated):  # held: never left in place for good
                assert action.seconds and action.seconds <= 300, f"{fault.name} holds {action} unbounded"
            assert action.describe() in " ".join(fault.how())


def test_the_traffic_undoes_every_fault_made_during_it_when_stopped() -> None:
    """A step hands its fault to the traffic and registers no undo of its own: stop() undoes the faults
    kept until then and says which undo failed after trying all."""
    class FailsToUndo(Stop):
        def undo(self, lab: Any) -> None:
            raise LabError("the engine did not answer")

    target = Target(running=False)
    traffic = load.Traffic.__new__(load.Traffic)  # no lab to send to: only the faults' bookkeeping
    traffic.lab, traffic._faults = lab(target), []
    traffic._stop, traffic._thread = threading.Event(), None
    traffic._queue = SimpleNamespace(stop=lambda: None)
    traffic._faults += [runtime.Stop("otel-collector"), FailsToUndo("jaeger")]
    with pytest.raises(LabError, match="undoing stop the jaeger container failed: LabError: the engine did"):
        traffic.stop()
    assert target.calls == ["start otel-collector", "healthy otel-collector 90"] and traffic._faults == []
    assert load.Burst is runtime.Burst
