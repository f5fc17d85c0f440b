"""What each hop of the telemetry pipeline saw, per signal: the app's own request counter, the
Collector's own counters (received, refused, sent, failed, queued) and the store's own ingest
counter — read at one moment (:func:`snapshot`), compared between two moments
(:meth:`PipelineSnapshot.diff`) and said in one line (:func:`explain`), so a missing trace or log
record is placed at a hop: app → collector, inside the collector, collector → store.

Sources, each read directly where the lab publishes it and from Prometheus otherwise:

- the app: the backend's ``/metrics`` (prometheus_client): ``http_requests_total`` of the traced
  endpoints (probes and scrapes are not traced: ``OTEL_PYTHON_FLASK_EXCLUDED_URLS``);
- the Collector: its own metrics port (the ``collector_metrics`` endpoint, :8888); when it does
  not answer (stopped, restarting) the last values Prometheus scraped (job ``otel-collector``);
- the stores: VictoriaLogs' ``/metrics`` on its query port; Jaeger, Tempo and Loki through
  Prometheus (their metrics ports are not published).

Two counters of one hop are never read at the same moment, and the lab never stops logging (its
probes and Prometheus' scrapes of the backend log two records each), so a plain snapshot can catch
a batch after the collector counted it and before the store's counter shows it — VictoriaLogs
serves ``/metrics`` from a cache it refreshes at most once a second, so its count is up to a second
old when read. A run's first and last snapshots are therefore taken with ``consistent=True``: the
collector is read, then each store's count as it stood at a moment after that read (a new
VictoriaLogs page, its store kind's ``counter_lag_s``; a Prometheus scrape taken after it), then the collector
again right after it (:attr:`PipelineSnapshot.collector_after`), and once more when its batch
processor has handed on what the first read counted (:attr:`PipelineSnapshot.collector_settled`).
:func:`movement` with ``bound="narrow"`` counts what certainly moved inside the store's window (the
store must have it all), ``bound="wide"`` what may have moved (the store can have no more, unless
it stored a retried batch twice); what lies between was in flight while the counters were read.
``bound="settled"`` is the collector's own window: what it accepted by its first read it has sent,
failed, queued or holds in flight by the settled one.

Counters reset when a process restarts: :meth:`PipelineSnapshot.diff` sees the restart (process
start time) and counts the later value alone, so a movement is never negative; the part counted
between the earlier snapshot and the restart is then unknown — take a snapshot right before a
planned restart (as :mod:`harness.drive.load` does) and add the two movements.

Nothing here raises on an unreachable hop: what could not be read is left out of the numbers and
said in :attr:`PipelineSnapshot.problems`.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from harness.base import evidence, observes, timeouts
from harness.base.errors import LabError
from harness.base.http import session
from harness.base.waiting import NotYet, WaitTimeout, eventually, scaled
from harness.clients.prometheus import PrometheusClient


class _Endpoints(Protocol):
    stores: str
    backend: str
    prometheus: str
    # each signal's store at its endpoint (``logs``: VictoriaLogs serves its /metrics there), and
    # collector_metrics (the collector's own :8888) when present (old endpoints files lack it)


class HasEndpoints(Protocol):
    """What the hops are read from: a lab's endpoints (:class:`harness.lab.lifecycle.Lab` is one;
    a client does not import the floor that brings labs up)."""

    @property
    def endpoints(self) -> _Endpoints: ...


SIGNALS = observes.SIGNAL_NAMES  # ("traces", "logs", "metrics")
READ_TIMEOUT = timeouts.base("read")
PROMETHEUS_LOOKBACK = "3m"  # how far back the last scrape of a stopped collector is looked for
RESTART_TOLERANCE_S = 5.0  # two start times further apart than this (scaled) are two processes
# From the collector's receiver to its exporter's counters: the batch processor's 500 ms timeout and
# one export, with a margin (scaled).
DELIVERY_S = 1.0
ANSWER_S = 0.2  # a store's answer to an export reaching the collector's counters (scaled)
CHANGE_WAIT_S = 1.0  # beyond a cached page's lag, for the page to change (scaled)
PAGE_POLL_S = 0.05  # how often a cached page is read while waiting for it to change
SCRAPE_WAIT_S = 10.0  # for a Prometheus scrape of a store after the collector's read (scaled; 2 s interval)
NARROW, WIDE, SETTLED = "narrow", "wide", "settled"  # movement(bound=...)
DIRECT_SOURCE = "the collector's metrics port"

# The app's endpoints that are neither traced nor part of a user's traffic.
PROBE_ENDPOINTS = frozenset({"metrics", "ready", "health"})

# Hops (keys of the inner dicts of hops() and diff()).
APP_REQUESTS = "app.requests"
APP_ALL_REQUESTS = "app.all_requests"  # probes and scrapes too: each request logs two records
ACCEPTED = "collector.accepted"
REFUSED = "collector.refused"
RECEIVER_FAILED = "collector.failed"
LIMITER_REFUSED = "collector.limiter_refused"
SENT = "collector.sent"
SEND_FAILED = "collector.send_failed"
ENQUEUE_FAILED = "collector.enqueue_failed"
QUEUE_SIZE = "collector.queue_size"
QUEUE_CAPACITY = "collector.queue_capacity"
IN_FLIGHT = "collector.in_flight"  # export requests being sent or waiting to be retried
COLLECTOR_RESTARTED = "collector.restarted"
APP_RESTARTED = "app.restarted"
STORE_RECEIVED = "store.received"
STORE_RESTARTED = "store.restarted"  # its counter went down: it restarted, what it counted before is not in
PROMETHEUS_REQUESTS = "prometheus.requests"
# The split topology's collector agent on the app host (its own counters, as the collector's): what it
# took in from the app, refused, sent on to the gateway across the link, failed to, and holds queued.
AGENT_ACCEPTED = "agent.accepted"
AGENT_REFUSED = "agent.refused"  # refused and failed by its receiver
AGENT_SENT = "agent.sent"
AGENT_SEND_FAILED = "agent.send_failed"
AGENT_ENQUEUE_FAILED = "agent.enqueue_failed"
AGENT_QUEUE_SIZE = "agent.queue_size"
AGENT_IN_FLIGHT = "agent.in_flight"
AGENT_RESTARTED = "agent.restarted"
GAUGES = frozenset({QUEUE_SIZE, QUEUE_CAPACITY, IN_FLIGHT, AGENT_QUEUE_SIZE, AGENT_IN_FLIGHT})

# The Collector's item names per signal (otelcol_receiver_accepted_<item>, …) and how a person says
# them; each store's own ingest counter, its Prometheus job and its lag are in its store kind
# (harness.base.observes.STORE_KINDS), the store of each signal in the store set.
ITEMS = {s.name: s.item for s in observes.SIGNALS.values() if s.item}
NOUNS = {s.name: s.noun for s in observes.SIGNALS.values()}
# What is read from Prometheus when a process does not answer (its last scrape).
APP_SELECTOR = (f'{{job="{observes.APP_JOB}",'
                f'__name__=~"{observes.REQUEST_COUNTER}|process_start_time_seconds"}}')
COLLECTOR_SELECTOR = (f'{{job="{observes.COLLECTOR_JOB}",'
                      '__name__=~"otelcol_(receiver|exporter|processor|process_uptime).*"}')
AGENT_SELECTOR = COLLECTOR_SELECTOR.replace(observes.COLLECTOR_JOB, observes.AGENT_JOB)
AGENT_SOURCE = "the agent's metrics port"


# ------------------------------------------------------------------------------------------ samples


@dataclass(frozen=True)
class Sample:
    """One series' value; ``name`` without a ``_total`` suffix (the Collector drops it since
    v0.120, Jaeger's older collector core keeps it, Prometheus keeps whatever was exposed)."""

    name: str
    labels: Mapping[str, str]
    value: float
    at: float | None = None  # when Prometheus scraped it (None: read now, directly)


def base_name(name: str) -> str:
    return name.removesuffix("_total")


def parse_exposition(text: str) -> list[Sample]:
    """Prometheus text exposition -> samples (prometheus_client's parser; histogram parts kept)."""
    from prometheus_client.parser import text_string_to_metric_families

    out = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.append(Sample(base_name(s.name), dict(s.labels), float(s.value)))
    return out


def samples_from_query(result: Iterable[Mapping[str, Any]]) -> list[Sample]:
    """:meth:`PrometheusClient.query` items (vector or range-selector matrix) -> samples, each the
    series' last value."""
    out = []
    for item in result:
        labels = {k: v for k, v in (item.get("metric") or {}).items() if k != "__name__"}
        name = str((item.get("metric") or {}).get("__name__", ""))
        value, at = item.get("value"), item.get("timestamp")
        if not name or value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        out.append(Sample(base_name(name), labels, float(value), float(at) if at is not None else None))
    return out


def total(samples: Iterable[Sample], name: str, **labels: str) -> float | None:
    """Sum of the samples named ``name`` whose labels include ``labels``; None when there is none."""
    values = [s.value for s in samples
              if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    return sum(values) if values else None


# -------------------------------------------------------------------------------------- the hops


@dataclass(frozen=True)
class ExporterView:
    """One exporter of one signal's pipeline."""

    name: str  # e.g. "otlp_http/victorialogs"
    sent: float = 0.0
    send_failed: float = 0.0
    enqueue_failed: float = 0.0
    queue_size: float | None = None  # in the queue's own unit (requests by default)
    queue_capacity: float | None = None
    in_flight: float | None = None  # requests being sent or in retry backoff

    @property
    def destination(self) -> str:
        """``otlp_http/victorialogs`` -> ``victorialogs`` (the lab names exporters after their store)."""
        return self.name.split("/", 1)[1] if "/" in self.name else self.name


@dataclass(frozen=True)
class CollectorView:
    """The Collector's own counters at one moment."""

    source: str  # "the collector's metrics port" or "Prometheus (last scrape …)"
    started_at: float | None  # unix time the collector process started (taken_at - uptime)
    accepted: Mapping[str, float] = field(default_factory=dict)  # signal -> items
    refused: Mapping[str, float] = field(default_factory=dict)
    failed: Mapping[str, float] = field(default_factory=dict)
    limiter_refused: Mapping[str, float] = field(default_factory=dict)
    exporters: Mapping[str, tuple[ExporterView, ...]] = field(default_factory=dict)  # signal -> exporters
    read_at: float | None = None  # when its counters stood as read (the answer, or the scrape)

    @classmethod
    def from_samples(cls, samples: list[Sample], source: str, now: float) -> CollectorView:
        uptime = next((s for s in samples if s.name == "otelcol_process_uptime"), None)
        started = None
        if uptime is not None:
            started = (uptime.at if uptime.at is not None else now) - uptime.value
        accepted, refused, failed, limiter, exporters = {}, {}, {}, {}, {}
        for signal, item in ITEMS.items():
            for target, prefix in ((accepted, "accepted"), (refused, "refused"), (failed, "failed")):
                value = total(samples, f"otelcol_receiver_{prefix}_{item}")
                if value is not None:
                    target[signal] = value
            refused_by_limiter = total(samples, f"otelcol_processor_memory_limiter_refused_{item}")
            if refused_by_limiter is None:  # newer collectors: incoming - outgoing of the limiter
                incoming = total(samples, "otelcol_processor_incoming_items", processor="memory_limiter",
                                 otel_signal=signal)
                outgoing = total(samples, "otelcol_processor_outgoing_items", processor="memory_limiter",
                                 otel_signal=signal)
                if incoming is not None and outgoing is not None:
                    refused_by_limiter = max(incoming - outgoing, 0.0)
            if refused_by_limiter is not None:
                limiter[signal] = refused_by_limiter
            exporters[signal] = tuple(_exporters(samples, signal, item))
        scraped = [s.at for s in samples if s.at is not None]
        return cls(source, started, accepted, refused, failed, limiter, exporters,
                   read_at=max(scraped) if scraped else now)


def _exporters(samples: list[Sample], signal: str, item: str) -> Iterable[ExporterView]:
    names = sorted(
        {s.labels["exporter"] for s in samples
         if "exporter" in s.labels and (s.name.endswith(f"_{item}") or s.labels.get("data_type") == signal)}
    )
    for name in names:
        yield ExporterView(
            name=name,
            sent=total(samples, f"otelcol_exporter_sent_{item}", exporter=name) or 0.0,
            send_failed=total(samples, f"otelcol_exporter_send_failed_{item}", exporter=name) or 0.0,
            enqueue_failed=total(samples, f"otelcol_exporter_enqueue_failed_{item}", exporter=name) or 0.0,
            queue_size=total(samples, "otelcol_exporter_queue_size", exporter=name, data_type=signal),
            queue_capacity=total(samples, "otelcol_exporter_queue_capacity", exporter=name, data_type=signal),
            in_flight=total(samples, "otelcol_exporter_in_flight_requests", exporter=name, data_type=signal),
        )


@dataclass(frozen=True)
class AppView:
    """The backend's own request counter at one moment."""

    source: str
    started_at: float | None
    by_endpoint: Mapping[str, float]  # Flask endpoint -> requests (all methods and statuses)

    @property
    def requests(self) -> float:
        """Requests of the traced endpoints (each one trace and two log records)."""
        return sum(v for k, v in self.by_endpoint.items() if k not in PROBE_ENDPOINTS)

    @classmethod
    def from_samples(cls, samples: list[Sample], source: str) -> AppView:
        by_endpoint: dict[str, float] = {}
        for s in samples:
            if s.name == "http_requests":
                key = s.labels.get("endpoint", "")
                by_endpoint[key] = by_endpoint.get(key, 0.0) + s.value
        started = total(samples, "process_start_time_seconds")
        return cls(source, started, by_endpoint)


@dataclass(frozen=True)
class StoreView:
    """A store's own count of what it took in."""

    name: str  # "jaeger", "victorialogs", …
    received: float
    unit: str  # "spans", "log records"
    source: str
    at: float | None = None  # the earliest moment the count may stand for (its lag or scrape taken off)


@dataclass(frozen=True)
class PipelineSnapshot:
    """What every hop had counted at ``taken_at`` (unix seconds). A hop that could not be read is
    None (or absent) and said in ``problems``."""

    taken_at: float
    stores: str
    app: AppView | None = None
    collector: CollectorView | None = None
    store: Mapping[str, StoreView] = field(default_factory=dict)  # signal -> store
    prometheus_requests: float | None = None  # the app's request counter as Prometheus has it
    problems: tuple[str, ...] = ()
    # consistent=True: signal -> the collector read again right after that signal's store counted
    # (at a moment after ``collector``): the store's count lies between the two reads
    collector_after: Mapping[str, CollectorView] = field(default_factory=dict)
    # consistent=True: the collector read DELIVERY_S or more after ``collector``, when what that read
    # counted as accepted has been handed on (sent, failed) or is queued or in flight
    collector_settled: CollectorView | None = None
    # split topology: the app host's collector agent, read right before the collector (gateway)
    agent: CollectorView | None = None

    def hops(self) -> dict[str, dict[str, float]]:
        """Signal -> hop -> the value counted so far (only the hops that could be read)."""
        out: dict[str, dict[str, float]] = {s: {} for s in SIGNALS}
        if self.app is not None:
            for signal in SIGNALS:
                out[signal][APP_REQUESTS] = self.app.requests
            out["logs"][APP_ALL_REQUESTS] = sum(self.app.by_endpoint.values())
        if self.prometheus_requests is not None:
            out["metrics"][PROMETHEUS_REQUESTS] = self.prometheus_requests
        c = self.collector
        if c is not None:
            for signal in ITEMS:
                hop = out[signal]
                for key, values in ((ACCEPTED, c.accepted), (REFUSED, c.refused), (RECEIVER_FAILED, c.failed),
                                    (LIMITER_REFUSED, c.limiter_refused)):
                    if signal in values:
                        hop[key] = values[signal]
                hop.update(_exporter_totals(c.exporters.get(signal, ()), _GATEWAY_EXPORT))
        a = self.agent
        if a is not None:
            for signal in ITEMS:
                hop = out[signal]
                if signal in a.accepted:
                    hop[AGENT_ACCEPTED] = a.accepted[signal]
                hop[AGENT_REFUSED] = a.refused.get(signal, 0.0) + a.failed.get(signal, 0.0)
                hop.update(_exporter_totals(a.exporters.get(signal, ()), _AGENT_EXPORT))
        for signal, view in self.store.items():
            out[signal][STORE_RECEIVED] = view.received
        return out

    @cached_property
    def counted(self) -> dict[str, dict[str, float]]:
        """Signal -> counter -> its value: as read, or 0 for a counter the snapshot lacks although
        its process answered (a counter is born with its first item, so it stood at 0, not
        "unread"). What could not be read is absent."""
        hops = self.hops()
        out: dict[str, dict[str, float]] = {}
        for signal in SIGNALS:
            store = observes.store_of(self.stores, signal)
            unborn: set[str] = set()
            if self.collector is not None and signal in ITEMS:
                unborn |= {ACCEPTED, REFUSED, RECEIVER_FAILED, LIMITER_REFUSED, SENT, SEND_FAILED,
                           ENQUEUE_FAILED}
            if self.agent is not None and signal in ITEMS:
                unborn |= {AGENT_ACCEPTED, AGENT_SENT, AGENT_SEND_FAILED, AGENT_ENQUEUE_FAILED}
            if store and counter_not_born(store.name, store.ingest_counter) in self.problems:
                unborn.add(STORE_RECEIVED)
            counters = {hop: value for hop, value in hops[signal].items() if hop not in GAUGES}
            out[signal] = {**dict.fromkeys(unborn, 0.0), **counters}
        return out

    def value(self, signal: str, hop: str) -> float | None:
        """What counter ``hop`` had counted: read, 0 if not born yet, None if unread."""
        return self.counted[signal].get(hop)

    def reading(self, which: str, signal: str) -> PipelineSnapshot:
        """This snapshot as a plain one, with the collector as read ``"first"``, ``"last"`` (right
        after ``signal``'s store counted) or ``"settled"`` (:data:`DELIVERY_S` after the first); a
        read it lacks is the nearest earlier one."""
        if which not in ("first", "last", "settled"):
            raise ValueError(f"which must be 'first', 'last' or 'settled', not {which!r}")
        chosen = self.collector
        if which in ("last", "settled"):
            chosen = self.collector_after.get(signal) or chosen
        if which == "settled":
            chosen = self.collector_settled or chosen
        return dataclasses.replace(self, collector=chosen, collector_after={}, collector_settled=None)

    def store_settled(self, signal: str) -> bool | None:
        """Whether the store's count of ``signal`` stands for a moment after the collector's first
        read (then it holds everything the collector had counted as sent by then); None when
        either was not read or not timed."""
        store, collector = self.store.get(signal), self.collector
        if store is None or store.at is None or collector is None or collector.read_at is None:
            return None
        return store.at >= collector.read_at

    def diff(self, other: PipelineSnapshot) -> dict[str, dict[str, float]]:
        """Signal -> hop -> how much it moved from the earlier of the two snapshots to the later
        (either order may be given). Counters: the difference (from 0 for a counter born in
        between), or the later value alone when the process restarted in between
        (``collector.restarted`` / ``app.restarted`` is then 1); queue size and capacity: the later
        value. A hop either snapshot could not read is left out."""
        earlier, later = sorted((self, other), key=lambda s: s.taken_at)
        out: dict[str, dict[str, float]] = {}
        for signal in SIGNALS:
            moved = _marks(earlier, later, signal)
            for hop in later.hops()[signal]:
                piece = None if hop in GAUGES else _counter_moved(earlier, later, signal, hop)
                if piece is not None:
                    moved[hop] = piece
            out[signal] = moved
        return out


# An exporter's fields and the hop each is counted under, for the collector (gateway) and the agent.
_GATEWAY_EXPORT = {"sent": SENT, "send_failed": SEND_FAILED, "enqueue_failed": ENQUEUE_FAILED,
                   "queue_size": QUEUE_SIZE, "queue_capacity": QUEUE_CAPACITY, "in_flight": IN_FLIGHT}
_AGENT_EXPORT = {"sent": AGENT_SENT, "send_failed": AGENT_SEND_FAILED, "enqueue_failed": AGENT_ENQUEUE_FAILED,
                 "queue_size": AGENT_QUEUE_SIZE, "in_flight": AGENT_IN_FLIGHT}


def _exporter_totals(exporters: Iterable[ExporterView], names: Mapping[str, str]) -> dict[str, float]:
    """Each field summed over a signal's exporters, under its hop's name. A gauge no exporter
    exposed is left out: unknown, not 0."""
    exporters = tuple(exporters)
    out: dict[str, float] = {}
    for name, hop in names.items():
        values = [v for e in exporters if (v := getattr(e, name)) is not None]
        if values:
            out[hop] = sum(values)
    return out


def _marks(earlier: PipelineSnapshot, later: PipelineSnapshot, signal: str) -> dict[str, float]:
    """What one piece says besides its counters: the gauges (the later value) and the restarts."""
    after = later.hops()[signal]
    out = {hop: after[hop] for hop in GAUGES if hop in after}
    before_store = earlier.value(signal, STORE_RECEIVED)
    if before_store is not None and after.get(STORE_RECEIVED, before_store) < before_store:
        out[STORE_RESTARTED] = 1.0
    if _restarted(earlier.collector, later.collector) and signal in ITEMS:
        out[COLLECTOR_RESTARTED] = 1.0
    if _restarted(earlier.app, later.app):
        out[APP_RESTARTED] = 1.0
    if _restarted(earlier.agent, later.agent) and signal in ITEMS:
        out[AGENT_RESTARTED] = 1.0
    return out


def _counter_moved(earlier: PipelineSnapshot, later: PipelineSnapshot, signal: str, hop: str) -> float | None:
    """How much counter ``hop`` moved from ``earlier`` to ``later``; None when either lacks it."""
    before, value = earlier.value(signal, hop), later.value(signal, hop)
    if before is None or value is None:
        return None
    restarted = (_restarted(earlier.collector, later.collector) if hop.startswith("collector.")
                 else _restarted(earlier.agent, later.agent) if hop.startswith("agent.")
                 else _restarted(earlier.app, later.app) if hop.startswith("app.") else False)
    delta = value - before
    return value if restarted or delta < 0 else delta


def movement(snapshots: Iterable[PipelineSnapshot], *, bound: str = NARROW) -> dict[str, dict[str, float]]:
    """The movement over a run taken as consecutive snapshots (before, right before each restart,
    after): counters add up piece by piece (so a restart costs only what was counted between the
    snapshot before it and the restart), each from the last snapshot that could read it (a read
    that failed once — a scrape that timed out, a port that did not answer in time — costs nothing);
    gauges are the last value read, restart flags are kept.

    Where the first and last snapshots read the collector more than once (``consistent=True``),
    ``bound`` says which reads count: ``"narrow"`` the read right after the store's at the first and
    the first read of the last (what the collector certainly counted inside the store's window),
    ``"wide"`` the first read of the first and the one after the store's at the last (all it may
    have counted in it), ``"settled"`` the first and the settled read (all it had handed on of
    what it had accepted)."""
    readings = {NARROW: ("last", "first"), WIDE: ("first", "last"), SETTLED: ("first", "settled")}
    if bound not in readings:
        raise ValueError(f"bound must be one of {', '.join(readings)}, not {bound!r}")
    by_time = sorted(snapshots, key=lambda s: s.taken_at)
    opening, closing = readings[bound]
    out: dict[str, dict[str, float]] = {s: {} for s in SIGNALS}
    for signal in SIGNALS:
        into = out[signal]
        ordered = by_time
        if len(by_time) >= 2:
            ordered = [by_time[0].reading(opening, signal), *by_time[1:-1],
                       by_time[-1].reading(closing, signal)]
        for earlier, later in itertools.pairwise(ordered):
            for hop, value in _marks(earlier, later, signal).items():
                into[hop] = value if hop in GAUGES else max(into.get(hop, 0.0), value)
        if len(by_time) >= 2:  # the gauges as last read
            last = by_time[-1].reading("settled", signal).hops()[signal]
            into.update({hop: v for hop, v in last.items() if hop in GAUGES})
        for hop in sorted({hop for snap in ordered for hop in snap.hops()[signal] if hop not in GAUGES}):
            readable = [snap for snap in ordered if snap.value(signal, hop) is not None]
            for earlier, later in itertools.pairwise(readable):
                into[hop] = into.get(hop, 0.0) + (_counter_moved(earlier, later, signal, hop) or 0.0)
    return out


def _restarted(earlier: AppView | CollectorView | None, later: AppView | CollectorView | None) -> bool:
    if earlier is None or later is None or earlier.started_at is None or later.started_at is None:
        return False
    return abs(later.started_at - earlier.started_at) > scaled(RESTART_TOLERANCE_S)


# ------------------------------------------------------------------------------------------ reading


class _Reader:
    """The lab's hops, each read once with a short timeout; failures become ``problems``."""

    def __init__(self, lab: HasEndpoints, timeout: float = READ_TIMEOUT):
        self.lab = lab
        self.http = session(timeout=timeout, record=False)
        self.prometheus = PrometheusClient(lab.endpoints.prometheus, timeout=timeout, http=self.http)
        self.problems: list[str] = []
        self.now = time.time()

    def text(self, url: str) -> str:
        response = self.http.get(url)
        if response.status_code != 200:
            raise LabError(f"GET {url} answered {response.status_code}")
        return response.text

    def from_prometheus(self, selector: str) -> list[Sample]:
        """The last scraped value of each series (a stopped target's too, within the lookback)."""
        return samples_from_query(self.prometheus.query(f"{selector}[{PROMETHEUS_LOOKBACK}]"))

    def app(self) -> AppView | None:
        url = f"{self.lab.endpoints.backend}/metrics"
        try:
            return AppView.from_samples(parse_exposition(self.text(url)), "the backend's /metrics")
        except (OSError, LabError, ValueError) as exc:
            direct = _short(exc)
        try:
            samples = self.from_prometheus(APP_SELECTOR)
        except (OSError, LabError) as exc:
            self.problems.append(f"app counters unreadable: {url}: {direct}; Prometheus: {_short(exc)}")
            return None
        if not samples:
            self.problems.append(f"app counters unreadable: {url}: {direct}; Prometheus has no recent scrape")
            return None
        self.problems.append(f"app counters from Prometheus' last scrape ({url}: {direct})")
        return AppView.from_samples(samples, "Prometheus (last scrape of the backend)")

    def collector(self, *, direct_only: bool = False) -> CollectorView | None:
        url = getattr(self.lab.endpoints, "collector_metrics", None)
        direct = "no collector_metrics endpoint"
        if url:
            try:
                samples = parse_exposition(self.text(f"{url}/metrics"))
                # its uptime as of the answer (a slow host answers seconds after the reader began)
                return CollectorView.from_samples(samples, DIRECT_SOURCE, time.time())
            except (OSError, LabError, ValueError) as exc:
                direct = f"{url}/metrics: {_short(exc)}"
        if direct_only:
            self.problems.append(f"the collector's second read failed ({direct}): what was in flight "
                                 "while the counters were read is unknown")
            return None
        try:
            samples = self.from_prometheus(COLLECTOR_SELECTOR)
        except (OSError, LabError) as exc:
            self.problems.append(f"collector counters unreadable: {direct}; Prometheus: {_short(exc)}")
            return None
        if not samples:
            self.problems.append(f"collector counters unreadable: {direct}; Prometheus has no scrape in "
                                 f"the last {PROMETHEUS_LOOKBACK}")
            return None
        last = max((s.at for s in samples if s.at is not None), default=None)
        when = f"{self.now - last:.0f} s ago" if last else "at an unknown time"
        self.problems.append(f"collector counters from Prometheus' last scrape, {when} ({direct})")
        return CollectorView.from_samples(samples, f"Prometheus (last scrape {when})", self.now)

    def agent(self) -> CollectorView | None:
        """The split topology's agent on the app host: its own metrics port, else Prometheus' last
        scrape of it (job otel-agent); None, saying nothing, on a lab with no agent."""
        url = getattr(self.lab.endpoints, "agent_metrics", None)
        if not url:
            return None
        try:
            return CollectorView.from_samples(parse_exposition(self.text(f"{url}/metrics")), AGENT_SOURCE,
                                              time.time())
        except (OSError, LabError, ValueError) as exc:
            direct = f"{url}/metrics: {_short(exc)}"
        try:
            samples = self.from_prometheus(AGENT_SELECTOR)
        except (OSError, LabError) as exc:
            self.problems.append(f"agent counters unreadable: {direct}; Prometheus: {_short(exc)}")
            return None
        if not samples:
            self.problems.append(f"agent counters unreadable: {direct}; Prometheus has no scrape in "
                                 f"the last {PROMETHEUS_LOOKBACK}")
            return None
        self.problems.append(f"agent counters from Prometheus' last scrape ({direct})")
        return CollectorView.from_samples(samples, "Prometheus (last scrape of the agent)", self.now)

    def _direct_url(self, kind: observes.StoreKind) -> str | None:
        """The store's own metrics page on its query port, when it is read there (VictoriaLogs)."""
        if kind.metrics_path is None:
            return None
        return f"{getattr(self.lab.endpoints, observes.SIGNALS[kind.signal].endpoint)}{kind.metrics_path}"

    def store(self, name: str, *, after: float | None = None) -> StoreView | None:
        """The store's own ingest count; with ``after``, one that stands for a moment after it
        (read once its lag has passed, or from a Prometheus scrape taken after it)."""
        kind = observes.STORE_KINDS[name]
        job, counter, unit, lag = kind.job, kind.ingest_counter, kind.unit, kind.counter_lag_s
        url = self._direct_url(kind)
        if url is not None:
            try:
                page, at = self._cached_page(url, lag, after)
                value = total(parse_exposition(page), counter)
                if value is not None:
                    return StoreView(name, value, unit, f"{name} /metrics", at=at)
            except (OSError, LabError, ValueError) as exc:
                self.problems.append(f"{name} /metrics unreadable ({_short(exc)}); trying Prometheus")
        selector = f'{{job="{job}",__name__=~"{counter}(_total)?"}}'
        try:
            view = self._scraped_store(name, selector, unit, lag, after)
        except (OSError, LabError) as exc:
            self.problems.append(f"{name}'s ingest counter unreadable through Prometheus: {_short(exc)}")
            return None
        if view is None:
            self.problems.append(counter_not_born(name, counter))
        return view

    def _cached_page(self, url: str, lag: float, after: float | None) -> tuple[str, float]:
        """A metrics page served from a cache up to ``lag`` old, and the earliest moment it may stand
        for. With ``after``: read until the page changes — the new one was made after the previous
        read began, so it stands for a moment after ``after`` and close to it; a page that does not
        change is read once its lag has passed since ``after``."""
        began = time.time()
        page = self.text(url)
        if after is None or lag <= 0:
            return page, began - lag
        turned = self._turn(url, page, began, lag)
        if turned is not None:
            return turned
        time.sleep(max(after + lag - time.time(), 0.0))
        began = time.time()
        return self.text(url), began - lag

    def _turn(self, url: str, page: str, began: float, lag: float) -> tuple[str, float] | None:
        """Reads ``url`` (whose ``page`` was read from ``began``) until it answers another page: that
        one and when the read before it began (the new page was made after that); None when it does
        not change within its lag and :data:`CHANGE_WAIT_S`."""
        state = {"began": began}

        def changed() -> tuple[str, float]:
            previous, state["began"] = state["began"], time.time()
            newer = self.text(url)
            if newer == page:
                raise NotYet(f"{url} unchanged since {time.time() - previous:.2f} s ago")
            return newer, previous

        try:
            return eventually(changed, timeout=lag + CHANGE_WAIT_S, interval=PAGE_POLL_S,
                              describe=f"a new {url} page")
        except WaitTimeout:
            return None

    def next_page(self, name: str) -> float | None:
        """When the store's cached metrics page may next be made anew (its last change seen, plus its
        lag), so that the collector can be read just before it; None for a store read otherwise."""
        kind = observes.STORE_KINDS[name]
        url, lag = self._direct_url(kind), kind.counter_lag_s
        if url is None or lag <= 0:
            return None
        try:
            began = time.time()
            turned = self._turn(url, self.text(url), began, lag)
        except (OSError, LabError):
            return None  # said when the count is read
        return turned[1] + lag if turned is not None else None

    def _scraped_store(self, name: str, selector: str, unit: str, lag: float,
                       after: float | None) -> StoreView | None:
        """The store's count from Prometheus' last scrape of it (each series' last value, the scrape's
        time less the store's lag); with ``after``, waits for a scrape that stands for a later moment."""

        def read(not_before: float | None) -> StoreView | None:
            samples = [s for s in self.from_prometheus(selector) if s.at is not None]
            if not samples:
                return None
            last = max(s.at or 0.0 for s in samples)
            current = [s for s in samples if (s.at or 0.0) >= last - 1.0]  # the last scrape's series
            at = min(s.at or 0.0 for s in current) - lag
            if not_before is not None and at < not_before:
                raise NotYet(f"Prometheus' last scrape of {name} stands for {at - not_before:+.1f} s from "
                             "the collector's read")
            return StoreView(name, sum(s.value for s in current), unit, "Prometheus (last scrape)", at=at)

        view = read(None)  # an unreadable Prometheus is said by the caller, not waited for
        if after is None or view is None or view.at is None or view.at >= after:
            return view
        try:
            return eventually(lambda: read(after), timeout=SCRAPE_WAIT_S, interval=0.5,
                              describe=f"a scrape of {name} after the collector's read")
        except WaitTimeout as exc:
            self.problems.append(f"{name}'s counter: no scrape after the collector's read within "
                                 f"{exc.timeout:.0f} s (it may lack what was sent last)")
            return view

    def prometheus_requests(self) -> float | None:
        probes = "|".join(sorted(PROBE_ENDPOINTS))
        try:
            # its last scrape's values: a scrape that timed out (a busy backend on a slow VM) leaves
            # the series stale, and a plain query would find nothing
            selector = f'{{job="{observes.APP_JOB}",endpoint!~"{probes}"}}'
            value = self.prometheus.value(
                f"sum(last_over_time({observes.REQUEST_COUNTER}{selector}[{PROMETHEUS_LOOKBACK}]))")
        except (OSError, LabError) as exc:
            self.problems.append(f"Prometheus unreadable: {_short(exc)}")
            return None
        return value

    def close(self) -> None:
        self.http.close()


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def snapshot(lab: HasEndpoints, *, consistent: bool = False) -> PipelineSnapshot:
    """What every hop of ``lab`` has counted now (a few HTTP reads, each bounded; never raises for
    a hop that does not answer). Leaves no evidence of its own reads.

    ``consistent``: one snapshot per hop that a window may open or close on (a run's first and last,
    a few seconds): the collector is read (just before VictoriaLogs makes its next page); then, per
    store, its count as it stood at a moment after that read, and the collector again once the
    store's answers reached it (:attr:`PipelineSnapshot.collector_after`) — so the store's count
    holds what the collector had counted by its first read (when nothing is lost), and its second
    read holds what the store counted; and the collector once more :data:`DELIVERY_S` after its
    first read (:attr:`PipelineSnapshot.collector_settled`), for its own hop. The app is read last:
    its own /metrics request logs two records, which would otherwise pass while the others are read."""
    reader = _Reader(lab)
    # the stores read on their own port first (VictoriaLogs): the count stands for a moment within a
    # second of the read; one through Prometheus may take a scrape interval
    held = (observes.store_of(lab.endpoints.stores, signal) for signal in observes.COLLECTED)
    kinds = sorted((kind for kind in held if kind), key=lambda kind: kind.metrics_path is None)
    cached = next((k.name for k in kinds if k.metrics_path and k.counter_lag_s > 0), None)
    try:
        with evidence.capture():  # the reads are many and small: the caller attaches what matters
            app = None if consistent else reader.app()
            turn = reader.next_page(cached) if consistent and cached else None
            if turn is not None:  # the collector just before the store's next page: read close together
                time.sleep(max(turn - PAGE_POLL_S - time.time(), 0.0))
            agent = reader.agent()  # split: what the agent sent, right before the gateway counts it
            collector = reader.collector()
            after = collector.read_at if consistent and collector is not None else None
            bracket = after is not None and collector is not None and collector.source == DIRECT_SOURCE
            stores: dict[str, StoreView] = {}
            seconds: dict[str, CollectorView] = {}
            for kind in kinds:
                signal = kind.signal
                view = reader.store(kind.name, after=after)
                if view is None:
                    continue
                stores[signal] = view
                if not bracket:
                    continue
                time.sleep(scaled(ANSWER_S))  # the store's answers to what it counted reached the collector
                second = reader.collector(direct_only=True)
                if second is not None:
                    seconds[signal] = second
            settled = None
            if bracket and after is not None:
                latest = max(seconds.values(), key=lambda c: c.read_at or 0.0, default=None)
                delivered = after + scaled(DELIVERY_S)  # the batch processor flushed what it held
                if latest is not None and (latest.read_at or 0.0) >= delivered + 0.1:
                    settled = latest
                else:
                    time.sleep(max(delivered - time.time(), 0.0))
                    settled = reader.collector(direct_only=True)
            prometheus = reader.prometheus_requests()
            if consistent:
                app = reader.app()
        return PipelineSnapshot(
            taken_at=reader.now, stores=lab.endpoints.stores, app=app, collector=collector, store=stores,
            prometheus_requests=prometheus, problems=tuple(reader.problems), collector_after=seconds,
            collector_settled=settled, agent=agent,
        )
    finally:
        reader.close()


# ------------------------------------------------------------------------------ the agent's queue


@dataclass(frozen=True)
class QueuePoint:
    """The agent's sending queue at one moment: requests queued and being sent, over both signals."""

    at: float
    queued: float
    in_flight: float


class QueueWatch:
    """The split topology's agent's sending queue read every ``every`` seconds on its own metrics port
    (on the app host: it answers while the link is cut, when Prometheus cannot scrape it), in a
    background thread from :meth:`start` to :meth:`stop` — so a run shows its queue grow and drain."""

    def __init__(self, lab: HasEndpoints, every: float = 1.0):
        self.url = getattr(lab.endpoints, "agent_metrics", None)
        self.every = every
        self.points: list[QueuePoint] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> QueueWatch:
        if self.url:
            self._thread = threading.Thread(target=self._watch, name="lab-agent-queue", daemon=True)
            self._thread.start()
        return self

    def _watch(self) -> None:
        http = session(timeout=min(READ_TIMEOUT, 2.0), record=False)
        try:
            while not self._stop.is_set():
                try:
                    answer = http.get(f"{self.url}/metrics")
                    samples = parse_exposition(answer.text) if answer.status_code == 200 else []
                except (OSError, ValueError):
                    samples = []
                if samples:
                    queued = total(samples, "otelcol_exporter_queue_size") or 0.0
                    in_flight = total(samples, "otelcol_exporter_in_flight_requests") or 0.0
                    self.points.append(QueuePoint(time.time(), queued, in_flight))
                self._stop.wait(self.every)
        finally:
            http.close()

    def stop(self) -> list[QueuePoint]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=READ_TIMEOUT + self.every)
        return list(self.points)


def queue_story(points: list[QueuePoint], t0: float) -> str:
    """The queue's course in one line: where it stood, its peak and when it was empty again."""
    if not points:
        return "the agent's queue was not read"
    peak = max(points, key=lambda p: p.queued)
    first = points[0]
    after = [p for p in points if p.at > peak.at and p.queued == 0]
    drained = f", empty again at +{after[0].at - t0:.0f} s" if after else \
        f", {points[-1].queued:.0f} still queued at +{points[-1].at - t0:.0f} s"
    return (f"the agent's queue: {first.queued:.0f} requests at +{first.at - t0:.0f} s, peak "
            f"{peak.queued:.0f} at +{peak.at - t0:.0f} s{drained if peak.queued else ''} "
            f"({len(points)} reads)")


# ------------------------------------------------------------------------------------------ saying it


def _n(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def describe(signal: str, now: PipelineSnapshot, since: PipelineSnapshot | None = None) -> str:
    """The one line of :func:`explain`, from snapshots already taken."""
    if signal not in SIGNALS:
        raise ValueError(f"signal {signal!r} is not one of {', '.join(SIGNALS)}")
    values = now.diff(since)[signal] if since is not None else now.hops()[signal]
    parts = []
    if since is not None:
        parts.append(f"in the last {max(now.taken_at - since.taken_at, 0):.0f} s:")
    app = values.get(APP_REQUESTS)
    parts.append(f"the app counted {_n(app)} requests" if app is not None
                 else "the app's counter is unreadable")
    if values.get(APP_RESTARTED):
        parts[-1] += " (since it restarted)"
    if signal == "metrics":
        prom = values.get(PROMETHEUS_REQUESTS)
        text = f"; Prometheus counted {_n(prom)}" if prom is not None else "; Prometheus did not answer"
        return " ".join(parts) + text + _problems(now)
    noun = NOUNS[signal]
    c = now.collector
    if c is None:
        line = " ".join(parts) + f"; the collector's {noun} counters are unreadable"
    elif ACCEPTED not in values:
        # the collector answered, but its counters for this signal are born with the first item
        line = " ".join(parts) + f"; the collector has taken in no {noun} since it started"
    else:
        collector = (f"the collector{' (restarted)' if values.get(COLLECTOR_RESTARTED) else ''} "
                     f"accepted {_n(values.get(ACCEPTED))} {noun}, refused {_n(values.get(REFUSED, 0))}")
        if values.get(LIMITER_REFUSED):
            collector += f" (memory_limiter {_n(values[LIMITER_REFUSED])})"
        if values.get(RECEIVER_FAILED):
            collector += f", failed {_n(values[RECEIVER_FAILED])}"
        collector += _exporter_text(signal, now, since)
        line = " ".join(parts) + "; " + collector
    store = now.store.get(signal)
    if store is not None and STORE_RECEIVED in values:
        line += f"; {store.name} received {_n(values[STORE_RECEIVED])} {store.unit}"
    elif (kind := observes.store_of(now.stores, signal)) is not None:
        unborn = counter_not_born(kind.name, kind.ingest_counter) in now.problems
        line += (f"; {kind.name} has counted no {noun} (its ingest counter is born with the first)" if unborn
                 else f"; {kind.name}'s own counter is unreadable")
    return line + _problems(now)


def _exporter_text(signal: str, now: PipelineSnapshot, since: PipelineSnapshot | None) -> str:
    assert now.collector is not None
    exporters = now.collector.exporters.get(signal, ())
    if not exporters:
        return ", and exports them nowhere (no exporter counters)"
    before = {}
    if since is not None and since.collector is not None and not _restarted(since.collector, now.collector):
        before = {e.name: e for e in since.collector.exporters.get(signal, ())}
    out = []
    for e in exporters:
        b = before.get(e.name)
        sent = e.sent - (b.sent if b else 0)
        failed = e.send_failed - (b.send_failed if b else 0)
        enqueue = e.enqueue_failed - (b.enqueue_failed if b else 0)
        text = f"sent {_n(max(sent, 0))} to {e.destination}"
        extra = []
        if failed or (b is None and e.send_failed):
            extra.append(f"send failed {_n(max(failed, 0))}")
        if enqueue:
            extra.append(f"queue full for {_n(max(enqueue, 0))}")
        if extra:
            text += f" ({', '.join(extra)})"
        if e.queue_size is not None:
            text += f", queue {_n(e.queue_size)}/{_n(e.queue_capacity)}"
        out.append(text)
    return ", " + "; ".join(out)


def counter_not_born(store: str, counter: str) -> str:
    """The problem a reader notes when a store's ingest counter is absent: it has ingested nothing yet
    (counters are born with the first item), which describe() says as such."""
    return f"{store}'s ingest counter ({counter}) not in Prometheus"


def _problems(now: PipelineSnapshot) -> str:
    return f" [{'; '.join(now.problems)}]" if now.problems else ""


def explain(lab: HasEndpoints, signal: str, since: PipelineSnapshot | None = None) -> str:
    """One line saying what each hop counted for ``signal`` ("traces", "logs" or "metrics") — in
    total, or since the snapshot ``since`` — for a failing step to append to its message. Raises
    only for an unknown signal: a hop that cannot be read is said to be unreadable."""
    try:
        return describe(signal, snapshot(lab), since)
    except ValueError:
        raise
    except Exception as exc:  # a failure message must never fail
        return f"(pipeline counters unavailable: {type(exc).__name__}: {_short(exc)})"
