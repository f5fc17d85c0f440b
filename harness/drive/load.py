"""A bounded load run: requests through the front at a set rate, each with a trace id the harness
chose, every request's trace id, outcome and time recorded — and faults done at set points of the
traffic, each with a pipeline snapshot taken right before it (a process that restarts resets its
counters; :func:`harness.clients.hops.movement` adds the pieces). The faults are the runtime
vocabulary's (:mod:`harness.faults.runtime`, :meth:`Traffic.fault`).

Bounded in every way: the rate, the duration and so the count are capped (:data:`MAX_RATE`,
:data:`MAX_DURATION_S`, :data:`MAX_REQUESTS`), every request has a timeout, the traffic goes only to
the lab's own front. The traffic runs in a background thread from :meth:`Traffic.start`, so a
scenario's steps can act while it runs (:meth:`Traffic.during`) and wait for its end
(:meth:`Traffic.wait`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.base import evidence, services
from harness.base.errors import LabError
from harness.base.http import session
from harness.base.waiting import scaled
from harness.clients import hops
from harness.clients.app import AppClient
from harness.clients.tracecontext import new_traceparent
from harness.faults.model import Action, Held
from harness.faults.runtime import Burst, LogBurst

__all__ = ["Burst", "LoadAction", "LoadPlan", "LoadRun", "Sent", "Traffic"]  # Burst: what a burst found

if TYPE_CHECKING:
    from harness.lab.lifecycle import Lab

MAX_RATE = 100.0  # requests a second (the front allows 200/s per client)
MAX_DURATION_S = 600.0
MAX_REQUESTS = 10_000
REQUEST_TIMEOUT_S = 10.0
RESTART_HEALTHY_S = 120.0  # a service restarted during traffic: healthy again within this, scaled
WORKERS = 32  # concurrent requests at most (the front allows 100 connections per client)
ROUTE = ("GET", "/api/tasks")  # what each request is: a read with one SQL statement, no state left


@dataclass(frozen=True)
class LoadPlan:
    """``rate`` requests a second for ``duration`` seconds."""

    rate: float
    duration: float

    def __post_init__(self) -> None:
        if not 0 < self.rate <= MAX_RATE:
            raise ValueError(f"a load rate of {self.rate:g} requests a second is out of range; "
                             f"use more than 0 and at most {MAX_RATE:g}")
        if not 0 < self.duration <= MAX_DURATION_S:
            raise ValueError(f"a load of {self.duration:g} seconds is out of range; "
                             f"use more than 0 and at most {MAX_DURATION_S:g}")
        if self.count > MAX_REQUESTS:
            raise ValueError(f"{self.rate:g}/s for {self.duration:g} s is {self.count} requests; "
                             f"at most {MAX_REQUESTS} are sent in one run")

    @property
    def count(self) -> int:
        return max(1, round(self.rate * self.duration))

    def __str__(self) -> str:
        return f"{self.rate:g} requests a second for {self.duration:g} s ({self.count} requests)"


@dataclass(frozen=True)
class Sent:
    """One request of the run."""

    index: int
    trace_id: str
    at: float  # unix time it was sent
    seconds: float  # until the answer (or the error)
    status: int | None  # None: no answer (connection error, timeout)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass
class LoadAction:
    """Something done during the traffic (a restart, a network fault), and what it found."""

    describe: str
    at_request: int  # started once this many requests were sent
    started_at: float = 0.0
    ended_at: float = 0.0
    error: str | None = None
    snapshot: hops.PipelineSnapshot | None = None  # right before it started
    result: object = None  # what the action returned (a Burst, …)
    in_effect: tuple[float, float] | None = None  # when the fault itself was in place, if it says

    @property
    def window(self) -> tuple[float, float]:
        """When the fault was in effect: what it says, else the time the action ran."""
        return self.in_effect or (self.started_at, self.ended_at)


@dataclass
class LoadRun:
    """The requests of a finished run and what was done during it."""

    plan: LoadPlan
    started_at: float
    ended_at: float
    requests: list[Sent]
    actions: list[LoadAction]
    before: hops.PipelineSnapshot
    after: hops.PipelineSnapshot | None = None  # right after the last request
    agent_queue: list[hops.QueuePoint] = field(default_factory=list)  # split topology: read every second

    @property
    def failures(self) -> list[Sent]:
        return [r for r in self.requests if not r.ok]

    @property
    def snapshots(self) -> list[hops.PipelineSnapshot]:
        """Before, right before each action, after: the pieces :func:`harness.clients.hops.movement` adds."""
        found = [self.before, *(a.snapshot for a in self.actions if a.snapshot is not None)]
        return found + ([self.after] if self.after is not None else [])

    def summary(self) -> dict[str, object]:
        statuses: dict[str, int] = {}
        for r in self.requests:
            key = str(r.status) if r.status is not None else (r.error or "no answer").split(":")[0]
            statuses[key] = statuses.get(key, 0) + 1
        slowest = max((r.seconds for r in self.requests), default=0.0)
        return {
            "plan": str(self.plan),
            "sent": len(self.requests),
            "seconds": round(self.ended_at - self.started_at, 1),
            "statuses": statuses,
            "slowest_s": round(slowest, 3),
            "actions": [f"{a.describe} at request {a.at_request}, {a.started_at - self.started_at:.1f}"
                        f"-{a.ended_at - self.started_at:.1f} s"
                        + (f" (in effect {a.window[0] - self.started_at:.1f}"
                           f"-{a.window[1] - self.started_at:.1f} s)" if a.in_effect else "")
                        + (f": {a.error}" if a.error else "")
                        for a in self.actions],
        }


class Traffic:
    """One load run against ``lab``'s front, in a background thread once :meth:`start` is called."""

    def __init__(self, lab: Lab, plan: LoadPlan):
        self.lab = lab
        self.plan = plan
        self.actions: list[LoadAction] = []
        self._requests: list[Sent] = []
        self._lock = threading.Lock()
        self._sent = 0
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._stop = threading.Event()
        self._failure: BaseException | None = None
        self._started_at = 0.0
        self._ended_at = 0.0
        self._before: hops.PipelineSnapshot | None = None
        self._run: LoadRun | None = None
        self._queue = hops.QueueWatch(lab)  # reads nothing on a lab without an agent
        self._faults: list[Action] = []  # made until stopped: stop() undoes them

    # ---------------------------------------------------------------------------------------- running
    def start(self) -> Traffic:
        if self._thread is not None:
            raise LabError("this traffic has already been started")
        # the window opens on a consistent snapshot (the collector read after the stores' counts too)
        self._before = hops.snapshot(self.lab, consistent=True)
        self._queue.start()
        self._started_at = time.time()
        self._thread = threading.Thread(target=self._drive, name="lab-load", daemon=True)
        self._thread.start()
        evidence.attach("note", f"traffic started: {self.plan}", route=" ".join(ROUTE),
                        front=self.lab.endpoints.frontend)
        return self

    def _drive(self) -> None:
        local = threading.local()

        def client() -> AppClient:
            if not hasattr(local, "app"):
                http = session(timeout=REQUEST_TIMEOUT_S, record=False)
                local.app = AppClient(self.lab.endpoints.frontend, http=http)
            return local.app

        def one(index: int) -> None:
            traceparent, trace_id, _ = new_traceparent()
            at, t0 = time.time(), time.monotonic()
            try:
                status, _ = client().list_tasks(limit=1, traceparent=traceparent)
                sent = Sent(index, trace_id, at, time.monotonic() - t0, status)
            except OSError as exc:  # requests' errors are OSErrors
                sent = Sent(index, trace_id, at, time.monotonic() - t0, None, f"{type(exc).__name__}: {exc}")
            with self._lock:
                self._requests.append(sent)

        try:
            start = time.monotonic()
            with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="lab-load") as pool:
                for index in range(self.plan.count):
                    delay = start + index / self.plan.rate - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        break
                    pool.submit(one, index)
                    with self._lock:
                        self._sent = index + 1
        except BaseException as exc:  # the step that waits re-raises it
            self._failure = exc
        finally:
            self._ended_at = time.time()
            self._done.set()

    def stop(self) -> None:
        """Stop sending (a scenario that failed early must not leave traffic running), wait for the
        requests in flight, and undo the faults made until then; an undo that failed is raised once all
        were tried."""
        self._stop.set()
        self._queue.stop()
        if self._thread is not None:
            self._thread.join(timeout=REQUEST_TIMEOUT_S * 2)
        failed: list[str] = []
        while self._faults:
            fault = self._faults.pop()
            try:
                fault.undo(self.lab)
            except Exception as exc:  # every fault gets its undo; then the first failure is said
                failed.append(f"undoing {fault.describe()} failed: {type(exc).__name__}: {exc}")
        if failed:
            raise LabError("; ".join(failed))

    @property
    def sent(self) -> int:
        with self._lock:
            return self._sent

    def wait_for(self, requests: int) -> None:
        """Until ``requests`` have been sent (or the traffic ended)."""
        limit = time.monotonic() + scaled(self.plan.duration + 60)
        while self.sent < min(requests, self.plan.count) and not self._done.is_set():
            if time.monotonic() > limit:
                raise LabError(f"the traffic sent {self.sent} of {requests} requests in time")
            time.sleep(0.05)

    def during(self, describe: str, action: Callable[[], object], *, at: float | None = None) -> LoadAction:
        """Do ``action`` once ``at`` (a fraction) of the requests have been sent — by default a third
        for the first action, two thirds for the second — while the traffic goes on; a snapshot of
        the pipeline is taken right before it. A failed action is recorded and raised."""
        if self._thread is None:
            raise LabError("start the traffic before acting during it")
        at = at if at is not None else min(len(self.actions) + 1, 2) / 3
        done = LoadAction(describe, at_request=round(self.plan.count * at))
        self.wait_for(done.at_request)
        if self._done.is_set():
            raise LabError(f"the traffic ended before {describe!r} could be done during it; "
                           "make the traffic longer")
        done.snapshot = hops.snapshot(self.lab)
        done.started_at = time.time()
        try:
            done.result = action()
        except BaseException as exc:
            done.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            done.ended_at = time.time()
            done.in_effect = getattr(done.result, "in_effect", None)
            if isinstance(done.result, Held):  # a runtime fault held: what it found is its result
                done.result = done.result.result if done.result.result is not None else done.result
            self.actions.append(done)
            start, end = done.window
            evidence.attach("note", f"during the traffic: {describe}", at_request=done.at_request,
                            seconds=round(done.ended_at - done.started_at, 1), error=done.error,
                            in_effect_s=round(end - start, 1))
        if self._done.is_set() and done.window[0] >= self._ended_at:
            raise LabError(f"{describe} took effect only after the traffic had ended (setting it up took "
                           f"{done.window[0] - done.started_at:.0f} s): make the traffic longer")
        if self._done.is_set():
            evidence.attach("note", f"the traffic ended while {describe!r} ran; what it covers is the "
                            "time it ran alongside")
        return done

    def fault(self, fault: Action, *, at: float | None = None, until_stopped: bool = False) -> LoadAction:
        """A runtime fault of :mod:`harness.faults.runtime` during the traffic (as :meth:`during`):
        what it needs is looked up now, it is made when due, held for its seconds and undone, and the
        action records when it was in effect and what it found (a burst's :class:`Burst`). With
        ``until_stopped`` it is only made, and :meth:`stop` (the scenario's end) undoes it: a step
        never registers an undo of its own. A held fault is undone by its hold, also when interrupted."""
        fault.prepare(self.lab)
        if until_stopped:
            self._faults.append(fault)
            return self.during(fault.describe(), lambda: fault.make(self.lab), at=at)
        return self.during(fault.describe(), lambda: fault.hold(self.lab), at=at)

    def wait(self) -> LoadRun:
        """Until the last request has been answered; the run (made once)."""
        if self._run is not None:
            return self._run
        if self._thread is None or self._before is None:
            raise LabError("the traffic was never started")
        self._thread.join(timeout=scaled(self.plan.duration + 60) + REQUEST_TIMEOUT_S)
        if self._thread.is_alive():
            raise LabError(f"the traffic did not end within {self.plan.duration + 60:.0f} s of its plan")
        if self._failure is not None:
            raise LabError(f"the traffic stopped: {type(self._failure).__name__}: {self._failure}")
        with self._lock:
            requests = sorted(self._requests, key=lambda r: r.index)
        ended = max([self._ended_at, *(r.at + r.seconds for r in requests)])
        self._run = LoadRun(self.plan, self._started_at, ended, requests, list(self.actions), self._before,
                            hops.snapshot(self.lab), self._queue.stop())
        evidence.attach("note", f"traffic ended: {len(requests)} requests", **self._run.summary())
        return self._run



def otlp_log_burst(lab: Lab, **size: int) -> Burst:
    """A burst of log records straight to the collector (:class:`harness.faults.runtime.LogBurst`)."""
    return LogBurst(**size).send(lab)


def service_named(lab: Lab, text: str) -> str:
    """The compose service a sentence names: ``"otel-collector"``, ``the "jaeger" service``, or
    ``the trace store`` / ``the log store`` (the lab's store set decides which service that is)."""
    words = text.strip()
    for role in ("trace store", "log store"):
        if words == f"the {role}":
            found = [s.name for s in services.services_of(lab.config.stores) if s.role == role]
            if len(found) != 1:
                raise LabError(f"the {lab.config.stores} store set has no single {role}: {found}")
            return found[0]
    name = words.removeprefix("the ").removesuffix(" service").strip().strip('"')
    if name not in services.SERVICES:
        raise LabError(f"{text!r} names no service of the lab; use one of "
                       f"{', '.join(services.SERVICE_NAMES)}, the trace store or the log store")
    return name
