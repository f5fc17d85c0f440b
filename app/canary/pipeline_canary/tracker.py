"""Which probe is pending, found, lost or late, per target (a signal in a store). No I/O: the
read-back hands in what a store answered, the clock is passed in, so every rule is unit-tested.

A probe is *pending* for a target from its emission until it is found there (``found``, its delay
observed) or the budget runs out (``lost``). A lost probe is still looked for during the late window;
found then, it counts ``late`` (its delay observed too) and stays lost: ``found / sent`` is the
share delivered within the budget.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pipeline_canary.metrics import Metrics


@dataclass(frozen=True)
class Probe:
    seq: int  # 1, 2, ... in this process: also the value the probe's counter increment makes
    trace_id: str  # 32 lowercase hex
    emitted: float  # unix seconds, after the span ended and the log record was handed to the SDK


@dataclass(frozen=True)
class Target:
    signal: str  # traces, logs, metrics
    store: str  # jaeger, victorialogs, tempo, loki, prometheus

    @property
    def labels(self) -> tuple[str, str]:
        return self.signal, self.store


class Tracker:
    def __init__(self, targets: Iterable[Target], metrics: Metrics, *, budget_s: float, late_window_s: float):
        self.targets = tuple(targets)
        self.metrics = metrics
        self.budget_s = budget_s
        self.late_window_s = late_window_s
        self._lock = threading.Lock()
        self._pending: dict[Target, dict[int, Probe]] = {t: {} for t in self.targets}
        self._lost: dict[Target, dict[int, Probe]] = {t: {} for t in self.targets}
        metrics.budget.set(budget_s)
        for t in self.targets:  # every series exists from the start, at 0
            for m in (metrics.sent, metrics.found, metrics.lost, metrics.late, metrics.readback_errors):
                m.labels(*t.labels)
            metrics.delay.labels(*t.labels)
            metrics.pending.labels(*t.labels).set(0)
            metrics.oldest_pending.labels(*t.labels).set(0)

    def sent(self, probe: Probe) -> None:
        with self._lock:
            for t in self.targets:
                self._pending[t][probe.seq] = probe
                if t.signal != "metrics":  # the metrics target's counter is the probe itself (emit.py)
                    self.metrics.sent.labels(*t.labels).inc()

    def watched(self, target: Target) -> list[Probe]:
        """The probes a read-back of ``target`` looks for: pending and lost-but-still-watched."""
        with self._lock:
            return [*self._pending[target].values(), *self._lost[target].values()]

    def resolve(self, target: Target, present: Callable[[Probe], bool], now: float) -> int:
        """Mark every watched probe of ``target`` for which ``present`` holds as found (or late);
        return how many."""
        n = 0
        with self._lock:
            for bucket, counter in ((self._pending[target], self.metrics.found),
                                    (self._lost[target], self.metrics.late)):
                for seq, probe in list(bucket.items()):
                    if present(probe):
                        del bucket[seq]
                        counter.labels(*target.labels).inc()
                        self.metrics.delay.labels(*target.labels).observe(max(0.0, now - probe.emitted))
                        n += 1
        return n

    def expire(self, now: float) -> None:
        """Pending past the budget -> lost; lost past the late window -> forgotten. Updates the gauges."""
        with self._lock:
            for t in self.targets:
                pending, lost = self._pending[t], self._lost[t]
                for seq, probe in list(pending.items()):
                    if now - probe.emitted > self.budget_s:
                        del pending[seq]
                        lost[seq] = probe
                        self.metrics.lost.labels(*t.labels).inc()
                for seq, probe in list(lost.items()):
                    if now - probe.emitted > self.budget_s + self.late_window_s:
                        del lost[seq]
                self.metrics.pending.labels(*t.labels).set(len(pending))
                oldest = min((p.emitted for p in pending.values()), default=now)
                self.metrics.oldest_pending.labels(*t.labels).set(round(now - oldest, 3))

    def lookback_s(self, target: Target, now: float, margin_s: float = 5.0) -> int:
        """Whole seconds back to the oldest watched probe of ``target``, plus a margin (0: none watched)."""
        watched = self.watched(target)
        if not watched:
            return 0
        return int(now - min(p.emitted for p in watched) + margin_s) + 1
