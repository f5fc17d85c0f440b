"""Signal delay: from a request's response to its trace, its log record and its count being queryable.

Samples are ``POST /api/tasks`` through the front, each with a fresh W3C trace id, sent at a steady
pace (``gap`` seconds apart) while earlier ones are still being watched, so 50+ samples of the
seed's slow settings take seconds, not minutes. One poller watches every outstanding sample:

- trace: ``get_trace(id)`` on the trace store answers a trace with the backend's server span — it
  ends after its children, so the whole trace is in;
- log: the log store has the sample's ``Request completed`` record (its last one) by trace id;
- metric: Prometheus' ``sum(http_requests_total{endpoint="create_task",status_code="201"})``
  reached the count that includes the sample (the bench is the only writer of its lab).

The poller's own resolution is reported with each set (it grows with the number of outstanding
samples, to keep the stores' query load bounded), as is the load average.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bench.common import say, summary
from harness.clients.tracecontext import new_traceparent
from harness.lab.lifecycle import Lab

COUNTER = 'sum(http_requests_total{endpoint="create_task",status_code="201"})'
SIGNALS = ("trace", "log", "metric")


@dataclass
class Sample:
    index: int
    trace_id: str
    count_after: float  # the create_task counter once this sample is counted
    responded: float = 0.0  # monotonic time of the response
    seen: dict[str, float] = field(default_factory=dict)  # signal -> seconds after the response


@dataclass
class DelayRun:
    samples: list[Sample]
    resolution_s: list[float]
    seconds: float

    def delays(self, signal: str) -> list[float]:
        return [s.seen.get(signal, float("nan")) for s in self.samples]

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": {sig: summary(self.delays(sig)) for sig in SIGNALS},
            "samples": [{"trace_id": s.trace_id, **s.seen} for s in self.samples],
            "poll_resolution_s": summary(self.resolution_s),
            "seconds": round(self.seconds, 1),
        }


def counter_value(lab: Lab) -> float:
    return float(sum(r["value"] for r in lab.prometheus.query(COUNTER)))


def measure(lab: Lab, *, samples: int = 60, gap: float = 0.25, limit_s: float = 60.0,
            tag: str = "delay", sender: Callable[[str, str], int] | None = None) -> DelayRun:
    """Send ``samples`` requests ``gap`` apart and watch every signal of each until seen or ``limit_s``."""
    base = counter_value(lab)
    pending: list[Sample] = []
    all_samples: list[Sample] = []
    lock = threading.Lock()
    done_sending = threading.Event()
    resolution: list[float] = []
    started = time.monotonic()

    def send() -> None:
        for i in range(samples):
            header, trace_id, _ = new_traceparent()
            sample = Sample(i, trace_id, base + i + 1)
            status = (sender or _front_sender(lab))(f"{tag} sample {i}", header)
            sample.responded = time.monotonic()
            if status != 201:
                raise SystemExit(f"bench: POST /api/tasks answered {status}, not 201")
            with lock:
                pending.append(sample)
                all_samples.append(sample)
            time.sleep(gap)
        done_sending.set()

    sender_thread = threading.Thread(target=send, name="delay-sender", daemon=True)
    sender_thread.start()
    pool = ThreadPoolExecutor(8, thread_name_prefix="delay-poll")
    try:
        while True:
            tick = time.monotonic()
            with lock:
                watch = [s for s in pending if len(s.seen) < len(SIGNALS)]
            if not watch and done_sending.is_set():
                break
            if watch:
                _poll(lab, watch, pool)
            now = time.monotonic()
            with lock:
                for s in watch:
                    if now - s.responded > limit_s:
                        for sig in SIGNALS:
                            s.seen.setdefault(sig, float("nan"))
            took = now - tick
            # Keep the query load bounded: ~0.1 s per tick, plus 10 ms per outstanding sample.
            pause = max(0.0, 0.1 + 0.01 * len(watch) - took)
            resolution.append(took + pause)
            time.sleep(pause)
    finally:
        pool.shutdown(wait=True)
        sender_thread.join(timeout=limit_s)
    for s in all_samples:  # NaN marks a signal never seen within limit_s
        for sig in SIGNALS:
            s.seen.setdefault(sig, float("nan"))
    return DelayRun(all_samples, resolution, time.monotonic() - started)


def _front_sender(lab: Lab) -> Callable[[str, str], int]:
    def send(title: str, traceparent: str) -> int:
        status, _ = lab.front.create_task(title, traceparent=traceparent)
        return status

    return send


def _poll(lab: Lab, watch: list[Sample], pool: ThreadPoolExecutor) -> None:
    """One round over every outstanding sample; marks what became visible (time of the answer)."""

    def trace_of(s: Sample) -> None:
        trace = lab.traces.get_trace(s.trace_id)
        if trace is not None and trace.server_spans():  # the server span ends last: all is in
            s.seen.setdefault("trace", time.monotonic() - s.responded)

    def log_of(s: Sample) -> None:
        if lab.logs.query("flask-backend", trace_id=s.trace_id, text="Request completed", lookback_s=600):
            s.seen.setdefault("log", time.monotonic() - s.responded)

    jobs = []
    for s in watch:
        if "trace" not in s.seen:
            jobs.append(pool.submit(_quiet, trace_of, s))
        if "log" not in s.seen:
            jobs.append(pool.submit(_quiet, log_of, s))
    missing_metric = [s for s in watch if "metric" not in s.seen]
    if missing_metric:
        value = counter_value(lab)
        now = time.monotonic()
        for s in missing_metric:
            if value >= s.count_after:
                s.seen.setdefault("metric", now - s.responded)
    for job in jobs:
        job.result()


def _quiet(fn: Callable[[Sample], None], s: Sample) -> None:
    try:
        fn(s)
    except Exception as exc:  # a store that hiccups is polled again on the next tick
        say(f"poll error ({type(exc).__name__}: {str(exc)[:120]}); retrying")
