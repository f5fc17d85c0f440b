"""Reading the probes back, through the harness's own clients (harness/clients/, ADR 0020): the store
set's trace store and log store as :mod:`harness.clients.stores` makes them, and Prometheus.

One query per target and round, whatever the number of probes watched: the service's traces (log
records) of the window back to the oldest watched probe, matched by trace id; Prometheus' samples of
the canary's own ``sent`` counter for the metrics target, a probe found once a sample taken after
this process started holds a value at or above its sequence number (the value its increment made).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.base import observes
from harness.clients import stores
from harness.clients.prometheus import PrometheusClient
from pipeline_canary import SERVICE_NAME
from pipeline_canary.settings import Settings
from pipeline_canary.tracker import Probe, Target, Tracker

log = logging.getLogger("pipeline_canary")
METRICS_TARGET = Target("metrics", "prometheus")


@dataclass(frozen=True)
class Endpoints:
    """What :func:`harness.clients.stores.store_clients` needs: the set and each signal's URL."""

    stores: str
    traces: str
    logs: str


def targets_of(stores_name: str) -> list[Target]:
    """The targets of a store set: each signal in the store that holds it, metrics in Prometheus."""
    chosen = observes.STORE_SETS[stores_name]
    out = [Target(observes.STORE_KINDS[n].signal, n) for n in chosen.stores]
    return [*sorted(out, key=lambda t: observes.SIGNAL_NAMES.index(t.signal)), METRICS_TARGET]


def trace_ids_in(client: Any, lookback_s: int, limit: int) -> set[str]:
    """The canary's trace ids a trace store lists for the last ``lookback_s``."""
    return set(client.search(SERVICE_NAME, limit=limit, lookback_s=lookback_s))


def log_trace_ids_in(client: Any, lookback_s: int, limit: int) -> set[str]:
    """The trace ids of the canary's log records a log store holds for the last ``lookback_s``."""
    return {r.trace_id for r in client.query(SERVICE_NAME, text="canary probe", lookback_s=lookback_s,
                                             limit=limit) if r.trace_id}


def counter_seen(prometheus: PrometheusClient, job: str, lookback_s: int, since: float) -> float:
    """The highest value Prometheus holds of the canary's metrics-target ``sent`` counter in samples
    taken at or after ``since`` (this process' start): 0 when none."""
    promql = (f'pipeline_canary_probes_sent_total{{job="{job}",signal="{METRICS_TARGET.signal}",'
              f'store="{METRICS_TARGET.store}"}}[{lookback_s}s]')
    best = 0.0
    for series in prometheus.query(promql):
        for ts, value in series.get("values", []):
            if ts >= since:
                best = max(best, value)
    return best


class Readback:
    """One round: for every target, one query and the tracker told what it found."""

    def __init__(self, settings: Settings, tracker: Tracker, started: float,
                 clients: dict[str, Any] | None = None, prometheus: PrometheusClient | None = None):
        from harness.base.http import session

        self.settings = settings
        self.tracker = tracker
        self.started = started
        http_timeout = settings.request_timeout_s
        if clients is None:
            endpoints = Endpoints(settings.stores, settings.traces_url, settings.logs_url)
            clients = stores.store_clients(endpoints, timeout=http_timeout)
        self.clients = clients
        self.prometheus = prometheus or PrometheusClient(settings.prometheus_url, timeout=http_timeout,
                                                         http=session(http_timeout, record=False))
        self.limit_per_s = max(1.0, 1.0 / settings.interval_s)
        self._warned: dict[Target, float] = {}

    def _warn(self, target: Target, what: str, at: float, every_s: float = 30.0) -> None:
        """One line per target every ``every_s`` at most: an outage is not a log flood."""
        if at - self._warned.get(target, -every_s) >= every_s:
            self._warned[target] = at
            log.warning("read-back of %s in %s failed: %s", target.signal, target.store, what)

    def _limit(self, lookback_s: int) -> int:
        return int(lookback_s * self.limit_per_s) + 20

    def present_in(self, target: Target, lookback_s: int) -> Callable[[Probe], bool]:
        if target == METRICS_TARGET:
            seen = counter_seen(self.prometheus, self.settings.job, lookback_s, self.started)
            return lambda probe: probe.seq <= seen
        client = self.clients[target.signal]
        lister = trace_ids_in if target.signal == "traces" else log_trace_ids_in
        ids = lister(client, lookback_s, self._limit(lookback_s))
        return lambda probe: probe.trace_id in ids

    def check(self, target: Target, now: Callable[[], float]) -> None:
        """One query of ``target``'s store; the probes it shows are found (the main loop runs one
        thread per target, so a store that hangs delays no other's delay)."""
        lookback = self.tracker.lookback_s(target, now())
        if not lookback:
            return
        try:
            present = self.present_in(target, lookback)
        except Exception as exc:  # a store that is down is what the canary is for: count, go on
            self.tracker.metrics.readback_errors.labels(*target.labels).inc()
            self._warn(target, f"{type(exc).__name__}: {str(exc)[:300]}", now())
            return
        self.tracker.resolve(target, present, now())

    def round(self, now: Callable[[], float]) -> None:
        """Every target once, then the budget applied (what the threads do, in one call)."""
        for target in self.tracker.targets:
            self.check(target, now)
        self.tracker.expire(now())
