"""Every runtime fault, one vocabulary: restart, stop, end the main process, recreate, replace,
partition, delay, burst, fill disk — and any of them again and again (a crash loop). Each kind is one
class of the same shape (:class:`harness.faults.model.Action`: ``make``, ``undo``, ``seconds``,
``describe`` naming the hop), so each is usable three ways with no other code:

- as a step: ``Restart("backend").apply(lab)`` (steps/failure.py: one or two calls);
- during traffic: ``traffic.fault(Partition("backend", "otel-collector", seconds=30))``
  (:meth:`harness.drive.load.Traffic.fault`: held in the step's thread, with the times it was in effect);
- as a catalogue entry: ``Fault(..., actions=(Partition(...),))`` (:mod:`harness.faults.catalogue`:
  made once the lab is up; a bounded one is undone by a timer while the named scenarios run).

What each is done through: the target's service control (:class:`harness.lab.targets.base.Target`:
restart, stop, start, exec, recreate, replace), the network mechanics of
:mod:`harness.faults.network` (nftables drop, tc netem, in the sending container's namespace), the
collector's OTLP/HTTP receiver (the burst), a shell in the service's container (fill disk).
"""

from __future__ import annotations

import json
import logging
import shlex
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from harness.base import evidence
from harness.base.errors import LabError
from harness.base.http import session
from harness.base.waiting import scaled
from harness.faults.model import Action, Made
from harness.faults.network import HOSTS, Link, NetworkFaults

if TYPE_CHECKING:
    from harness.lab.lifecycle import Lab

log = logging.getLogger(__name__)
START_TIMEOUT = 90.0  # a stopped service started again, until healthy


def ensure_started(lab: Lab, service: str, *, timeout: float = START_TIMEOUT) -> None:
    """Start ``service`` if it is not running and wait until the target reports it healthy."""
    state = lab.target.status().get(service)
    if state is None or not state.running:
        lab.target.start(service)
    lab.target.wait_healthy(service, timeout)


# ----------------------------------------------------------------------------------- services
@dataclass(frozen=True)
class Restart(Action):
    """The service's container restarted by its engine (``docker restart``: stop, then start, same
    container, same volumes); with ``healthy_within``, until the target reports it healthy again."""

    service: str
    healthy_within: float | None = None

    def make(self, lab: Lab) -> Made:
        lab.target.restart(self.service)
        if self.healthy_within is not None:
            lab.target.wait_healthy(self.service, self.healthy_within)
            return Made(f"restarted {self.service}, healthy again")
        return Made(f"restarted {self.service}")

    def describe(self) -> str:
        return f"restart the {self.service} container"


@dataclass(frozen=True)
class Stop(Action):
    """The service's container stops (killed by an operator, an OOM kill with no restart policy);
    undone by starting it again and waiting until it is healthy."""

    service: str
    seconds: float | None = None

    def make(self, lab: Lab) -> Made:
        lab.target.stop(self.service)
        return Made(f"stopped {self.service}")

    def undo(self, lab: Lab) -> None:
        ensure_started(lab, self.service)

    def describe(self) -> str:
        return f"stop the {self.service} container" + (f" for {self.seconds:g} s" if self.seconds else "")


@dataclass(frozen=True)
class EndMainProcess(Action):
    """The service's main process ends on its own (SIGINT to PID 1, which gunicorn, nginx and the Go
    services handle by exiting): what a crash looks like to the engine, unlike `docker stop` or
    `docker kill`, after which no restart policy restarts a container. Made once the old run has
    ended (signalling returns at once, and the engine reports the old run healthy for a while)."""

    service: str
    ended_within: float = 30.0

    def make(self, lab: Lab) -> Made:
        engine = lab.target.engine
        before = engine.container(self.service)
        result = lab.target.exec(self.service, ["sh", "-c", "kill -INT 1"])
        if result.exit_code != 0:
            raise LabError(f"could not signal the main process of {self.service}: {result.output.strip()!r}")
        after = engine.wait_ended(before, timeout=scaled(self.ended_within))
        evidence.attach("note", f"the main process of {self.service} ended", container=before.id[:12],
                        started_before=before.started_at, state=str(after.state),
                        started_now=after.started_at, restarts=after.restarts)
        return Made(f"the main process of {self.service} ended ({after.state})")

    def describe(self) -> str:
        return f"end the main process of {self.service} (SIGINT to PID 1, as a crash does)"


@dataclass(frozen=True)
class Recreate(Action):
    """A new container for the service in place of the old one, as an upgrade does (the target's
    ``compose up --force-recreate``), running and healthy."""

    service: str

    def make(self, lab: Lab) -> Made:
        lab.target.recreate(self.service)
        return Made(f"recreated {self.service}")

    def describe(self) -> str:
        return f"recreate the {self.service} container, as an upgrade does"


@dataclass(frozen=True)
class Replace(Action):
    """The service recreated at a new address (its old one taken meanwhile, as on a busy host)."""

    service: str

    def make(self, lab: Lab) -> Made:
        lab.target.replace(self.service)
        return Made(f"replaced {self.service} by a new container at a new address")

    def describe(self) -> str:
        return f"replace the {self.service} container by one at a new address"


# ------------------------------------------------------------------------------------ network
@dataclass
class _Links:
    """The network faults object one link fault uses (kept, so undo clears what make set)."""

    faults: NetworkFaults | None = None

    def of(self, lab: Lab) -> NetworkFaults:
        if self.faults is None or self.faults.target is not lab.target:
            self.faults = NetworkFaults(lab.target)
        return self.faults


@dataclass(frozen=True)
class _LinkFault(Action):
    source: str
    dest: str
    _links: _Links = field(default_factory=_Links, compare=False, repr=False, kw_only=True)

    @property
    def link(self) -> Link:
        return Link(self.source, self.dest)

    def prepare(self, lab: Lab) -> None:
        """Look the containers up now (one inspect: 16 s in a busy TCG VM), so that a fault set later
        during traffic starts at once (see :meth:`NetworkFaults.prepare`)."""
        self._links.of(lab).prepare()

    def undo(self, lab: Lab) -> None:
        self._links.of(lab).clear(self.link)

    def _for(self) -> str:
        return f" for {self.seconds:g} s" if self.seconds else ""


@dataclass(frozen=True)
class Partition(_LinkFault):
    """Every packet from ``source``'s container to ``dest``'s dropped (TCP stalls, new connections time
    out): an nftables rule in the source's network namespace, gone when undone or when the source's
    container restarts."""

    seconds: float | None = None

    def make(self, lab: Lab) -> Made:
        began = self._links.of(lab).partition(self.link)
        return Made(f"cut {self.link}", began=began)

    def describe(self) -> str:
        return f"cut the link {self.link}{self._for()}"


@dataclass(frozen=True)
class Delay(_LinkFault):
    """Every packet from ``source``'s container to ``dest``'s waits ``ms`` longer (tc netem on that link
    alone; a kernel without sch_netem says so: NotSupported)."""

    ms: int = 500
    seconds: float | None = None

    def make(self, lab: Lab) -> Made:
        began = self._links.of(lab).delay(self.link, self.ms)
        return Made(f"{self.ms} ms added to {self.link}", began=began)

    def describe(self) -> str:
        return f"add {self.ms} ms to the link {self.link}{self._for()}"


# ------------------------------------------------------- between the hosts (split topology, ADR 0018)
@dataclass(frozen=True)
class _HostsFault(Action):
    """A fault on the one link between the app host and the observability host: a rule in the link's
    own namespace on everything it forwards (the agent's OTLP to the gateway, Prometheus' scrapes)."""

    seconds: float | None = None
    _links: _Links = field(default_factory=_Links, compare=False, repr=False, kw_only=True)

    def prepare(self, lab: Lab) -> None:
        self._links.of(lab).prepare()

    def undo(self, lab: Lab) -> None:
        self._links.of(lab).clear_hosts()

    def _for(self) -> str:
        return f" for {self.seconds:g} s" if self.seconds else ""


@dataclass(frozen=True)
class CutHosts(_HostsFault):
    """Every packet between the two hosts dropped (a partition: the agent's exports stall and queue,
    Prometheus' scrapes of the app host time out)."""

    def make(self, lab: Lab) -> Made:
        began = self._links.of(lab).between_hosts("partition")
        return Made(f"cut the link {HOSTS}", began=began)

    def describe(self) -> str:
        return f"cut the link {HOSTS}{self._for()}"


@dataclass(frozen=True)
class LossyHosts(_HostsFault):
    """``percent`` % of the packets between the two hosts dropped at random (nftables ``numgen``)."""

    percent: int = 5

    def __post_init__(self) -> None:
        if not 0 < self.percent < 100:
            raise ValueError(f"a loss of {self.percent} % is out of range; use 1 to 99")

    def make(self, lab: Lab) -> Made:
        began = self._links.of(lab).between_hosts(f"{self.percent} % loss", percent=self.percent)
        return Made(f"{self.percent} % of the packets dropped on {HOSTS}", began=began)

    def describe(self) -> str:
        return f"drop {self.percent} % of the packets on the link {HOSTS}{self._for()}"


@dataclass(frozen=True)
class SlowHosts(_HostsFault):
    """Every packet between the two hosts ``ms`` later (tc netem on the link's interfaces; a kernel
    without sch_netem says so: NotSupported)."""

    ms: int = 300

    def make(self, lab: Lab) -> Made:
        began = self._links.of(lab).between_hosts(f"{self.ms} ms delay", delay_ms=self.ms)
        return Made(f"{self.ms} ms added to {HOSTS}", began=began)

    def describe(self) -> str:
        return f"add {self.ms} ms to the link {HOSTS}{self._for()}"


@dataclass(frozen=True)
class RestartHost(Action):
    """Every service of one host of the split topology restarted at once (``docker restart`` each, in
    parallel), as a reboot of that machine does, then healthy again."""

    host: str = "obs"
    healthy_within: float = START_TIMEOUT

    def services(self, lab: Lab) -> list[str]:
        from harness.base import services

        if self.host == "app":
            return list(services.APP_HOST)
        return services.obs_host(lab.config.stores)

    def make(self, lab: Lab) -> Made:
        names = self.services(lab)
        with ThreadPoolExecutor(max_workers=len(names), thread_name_prefix="lab-host-restart") as pool:
            list(pool.map(lab.target.restart, names))
        for name in names:
            lab.target.wait_healthy(name, self.healthy_within)
        return Made(f"restarted every service of the {self.host} host ({', '.join(names)}), healthy again")

    def describe(self) -> str:
        return f"restart every service of the {self.host} host at once, as a reboot does"


# -------------------------------------------------------------------------------------- burst
OTLP_HTTP_PORT = 4318  # the collector's OTLP/HTTP receiver (catalogue: otel-collector otlp-http)
BURST_SERVICE = "overload-burst"  # the service name of the burst's records, apart from the app's
MAX_BURST_BYTES = 2 << 30  # 2 GiB in one burst at most


@dataclass
class Burst:
    """What a :class:`LogBurst` sent straight to the collector and how the collector answered."""

    records_per_request: int
    requests: int
    bytes_per_request: int
    statuses: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def records(self) -> int:
        return self.records_per_request * self.requests

    @property
    def accepted(self) -> int:
        """Records of the requests the collector answered 200."""
        return self.records_per_request * self.statuses.get("200", 0)

    @property
    def refused(self) -> int:
        """Records of the requests the collector refused (503: its memory_limiter; 429)."""
        return self.records_per_request * (self.statuses.get("503", 0) + self.statuses.get("429", 0))


def otlp_url(lab: Lab, path: str) -> str:
    """The collector's OTLP/HTTP receiver as the harness reaches it (same host as its health
    endpoint; a VM's forwarded port)."""
    host = urlsplit(lab.endpoints.collector_health).hostname or "127.0.0.1"
    return f"http://{host}:{lab.target.host_port(OTLP_HTTP_PORT)}{path}"


@dataclass(frozen=True)
class LogBurst(Action):
    """Log records sent to the collector's OTLP/HTTP receiver at once — ``requests`` bodies of
    ``records`` records of ``size`` bytes each (2000 x 8000 B, about 16 MB, under the receiver's 20 MiB
    limit), ``concurrency`` at a time: far above what the collector's memory_limiter lets in (limit 400
    MiB, spike 100 MiB), so it must refuse and say so (503). Logs, because the log store compresses the
    repeated padding to almost nothing; the limiter is shared by the pipelines. What it found is a
    :class:`Burst`."""

    records: int = 2000
    size: int = 8000
    requests: int = 60
    concurrency: int = 30

    def __post_init__(self) -> None:
        if self.records * self.size * self.requests > MAX_BURST_BYTES:
            raise ValueError(f"a burst of {self.records * self.size * self.requests} bytes is more than "
                             f"{MAX_BURST_BYTES}")

    def make(self, lab: Lab) -> Made:
        burst = self.send(lab)
        return Made(f"a burst of {burst.records} log records to the collector: {burst.statuses}",
                    result=burst)

    def send(self, lab: Lab) -> Burst:
        now = str(time.time_ns())
        record = {"timeUnixNano": now, "severityNumber": 9, "severityText": "INFO",
                  "body": {"stringValue": "x" * self.size}}
        body = json.dumps({"resourceLogs": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": BURST_SERVICE}}]},
            "scopeLogs": [{"scope": {"name": "harness.faults.runtime"},
                           "logRecords": [record] * self.records}],
        }]}).encode()
        url = otlp_url(lab, "/v1/logs")
        statuses: Counter[str] = Counter()
        lock = threading.Lock()
        local = threading.local()

        def one(_: int) -> None:
            if not hasattr(local, "http"):
                local.http = session(timeout=30.0, record=False)
            try:
                answer = local.http.post(url, data=body, headers={"Content-Type": "application/json"})
                status = str(answer.status_code)
            except OSError as exc:
                status = type(exc).__name__
            with lock:
                statuses[status] += 1

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="lab-burst") as pool:
            list(pool.map(one, range(self.requests)))
        burst = Burst(self.records, self.requests, len(body), dict(statuses), time.monotonic() - started)
        evidence.attach("note", f"OTLP log burst to {url}: {self.requests} x {len(body) / 1e6:.1f} MB",
                        records=burst.records, statuses=burst.statuses, seconds=round(burst.seconds, 1),
                        accepted_records=burst.accepted, refused_records=burst.refused)
        return burst

    def describe(self) -> str:
        return (f"send {self.requests} x {self.records} log records of {self.size} B straight to the "
                f"collector's OTLP/HTTP receiver, {self.concurrency} at a time")


# ---------------------------------------------------------------------------------------- disk
@dataclass(frozen=True)
class FillDisk(Action):
    """Fill the file system holding ``path`` in the service's container (run as root there) until
    the writer gets "no space left on device". Only ever pointed at a size-limited tmpfs that the
    fault's own edit mounts (the host's disk is never filled)."""

    service: str
    path: str
    settle_s: float = 0.0  # time the service takes to notice (VictoriaLogs checks free space each second)

    def make(self, lab: Lab) -> Made:
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
        return Made(f"filled {self.path} in {self.service}: {' '.join(result.output.split())[:160]}")

    def describe(self) -> str:
        return f"fill {self.path} in {self.service} (a size-limited tmpfs) to the last block"


# -------------------------------------------------------------------------------------- again
@dataclass
class _Loop:
    thread: threading.Thread | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    done: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Repeated(Action):
    """``fault`` made again and again, the next ``every`` seconds after the last one returned, for
    ``seconds``: a crash loop when the fault is a restart (a container killed by its memory limit
    and restarted by its policy, over and over). The first is made at once, where it is called (a
    fault the target cannot make fails there); the rest in a background thread, which undo stops."""

    fault: Action
    every: float
    seconds: float
    _loop: _Loop = field(default_factory=_Loop, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.every < self.seconds:
            raise ValueError(f"{self.fault.describe()} again every {self.every:g} s for {self.seconds:g} s: "
                             "the pause must be shorter than the whole")

    def make(self, lab: Lab) -> Made:
        if self._loop.thread is not None and self._loop.thread.is_alive():
            raise LabError(f"{self.describe()} is already running")
        ends = time.monotonic() + self.seconds
        first = self.fault.make(lab)
        self._loop.stop.clear()
        self._loop.done[:] = [first.line]

        def again() -> None:
            while not self._loop.stop.wait(self.every) and time.monotonic() < ends:
                try:
                    self._loop.done.append(self.fault.make(lab).line)
                except Exception as exc:  # a background thread: note it, go on
                    log.warning("%s failed: %s", self.fault.describe(), exc)
                    self._loop.done.append(f"failed: {exc}")

        self._loop.thread = threading.Thread(target=again, name="lab-fault-again", daemon=True)
        self._loop.thread.start()
        return Made(f"{first.line}, then again every {self.every:g} s for {self.seconds:g} s")

    def undo(self, lab: Lab) -> None:
        self._loop.stop.set()
        if self._loop.thread is not None:
            self._loop.thread.join(timeout=scaled(180))
        self.fault.undo(lab)

    @property
    def times(self) -> int:
        """How many times the fault was made so far."""
        return len(self._loop.done)

    def describe(self) -> str:
        return f"{self.fault.describe()}, again {self.every:g} s after each, for {self.seconds:g} s"
