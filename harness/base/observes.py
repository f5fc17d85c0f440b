"""What the lab observes, said once: the signals, the kinds of store that hold them, the store sets as
compositions of those kinds, and the app's own identity.

Before this table a new store set meant switches on the set's name in the store clients' factories,
the hop counters, the fault words and the endpoints, and a new signal meant a dozen harness files
(issue 21). Now:

- a **signal** (:class:`Signal`) says how the Collector names one of its items
  (``otelcol_receiver_accepted_<item>``), how a person says them, which endpoint the harness reads it
  at and which words name it in a failure message;
- a **store kind** (:class:`StoreKind`) is one store service: the signal it holds, the client that
  reads it (an import path, resolved by :mod:`harness.clients.stores`: this floor imports no
  client), its query port and readiness path, its own ingest counter, the Prometheus job that
  scrapes that counter, and whether the counter is read on the store's own query port;
- a **store set** (:class:`StoreSet`) is a composition: one store kind per signal it stores, plus the
  services only that set runs (Grafana);
- the **app** is the OpenTelemetry service names and Prometheus jobs the lab's own services use.

:mod:`harness.base.services` makes the store kinds' services from this table, so a new store set is
one :data:`STORE_SETS` entry here (with a :data:`STORE_KINDS` entry for a store the lab did not have),
one client and one collector fragment (``stack/collector/config.<set>.yaml``).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

# --------------------------------------------------------------------------------------- the app
APP_SERVICE: Final = "flask-backend"  # OTEL_SERVICE_NAME of the backend, and its Prometheus job
BROWSER_SERVICE: Final = "frontend-browser"  # the page's own spans, exported through the front
APP_JOB: Final = APP_SERVICE  # Prometheus' job that scrapes the backend's /metrics
COLLECTOR_JOB: Final = "otel-collector"  # Prometheus' job that scrapes the collector's own metrics
AGENT_JOB: Final = "otel-agent"  # split topology: the job that scrapes the app host's collector agent
REQUEST_COUNTER: Final = "http_requests_total"  # the app's request counter (prometheus_client)


# ------------------------------------------------------------------------------------ the signals
@dataclass(frozen=True)
class Signal:
    """One kind of telemetry the lab carries."""

    name: str  # "traces": its feature tag, its key in the hop tables
    endpoint: str  # the Endpoints key (and `lab endpoints --json` key) it is read at
    noun: str  # how a person says its items: "spans"
    item: str | None  # the Collector's name of one (otelcol_receiver_accepted_<item>); None: not collected
    holder: str  # what holds it, as a failure message says: "trace store"
    words: tuple[str, ...]  # words that name it in a failure message (the sensitivity run's check)
    tag: str  # what its feature tag means


SIGNALS: Final[MappingProxyType[str, Signal]] = MappingProxyType({
    s.name: s
    for s in (
        Signal("traces", "traces", "spans", "spans", "trace store", ("trace", "span"),
               "traces reach the trace store"),
        Signal("logs", "logs", "log records", "log_records", "log store", ("log",),
               "logs reach the log store"),
        Signal("metrics", "prometheus", "requests", None, "prometheus",
               ("prometheus", "promql", "metric", "sli", "exemplar", "scrape", "counter", "histogram"),
               "metrics reach Prometheus"),
    )
})
SIGNAL_NAMES: Final = tuple(SIGNALS)
# The signals that pass through the Collector into a store of the set (the others are scraped).
COLLECTED: Final = tuple(s.name for s in SIGNALS.values() if s.item)


# -------------------------------------------------------------------------------- the store kinds
@dataclass(frozen=True)
class StoreKind:
    """One store service: what it holds, how the harness reads it, how it counts what it took in."""

    name: str  # the compose service name
    signal: str  # a key of SIGNALS
    client: str  # "module:Class" of its client (harness.clients.stores imports it)
    port: int  # its query API on the host
    port_name: str  # what that port is ("query", "http")
    ready_path: str  # answers on that port once the store is up
    ingest_counter: str  # its own counter of what it took in
    unit: str  # what that counter counts
    job: str  # the Prometheus job that scrapes it
    # its own /metrics on the query port, read directly (else its last scrape through Prometheus)
    metrics_path: str | None = None
    counter_lag_s: float = 0.0  # how old its counter may be when read (a cached page), not scaled
    local_image: str | None = None  # the lab/*:local tag stack/images/build.sh makes (None: cannot here)


STORE_KINDS: Final[MappingProxyType[str, StoreKind]] = MappingProxyType({
    k.name: k
    for k in (
        StoreKind("jaeger", "traces", "harness.clients.jaeger:JaegerTraceStore", 16686, "query",
                  "/api/services", "otelcol_receiver_accepted_spans", "spans", "jaeger",
                  local_image="lab/jaeger:local"),
        # VictoriaLogs (VictoriaMetrics' lib/appmetrics) makes its /metrics page anew at most once a
        # second, when asked: its count is up to a second old.
        StoreKind("victorialogs", "logs", "harness.clients.victorialogs:VictoriaLogsStore", 9428, "http",
                  "/health", "vl_rows_ingested", "log records", "victorialogs", metrics_path="/metrics",
                  counter_lag_s=1.0, local_image="lab/victorialogs:local"),
        StoreKind("tempo", "traces", "harness.clients.tempo:TempoTraceStore", 3200, "http", "/ready",
                  "tempo_distributor_spans_received", "spans", "tempo"),
        StoreKind("loki", "logs", "harness.clients.loki:LokiLogStore", 3100, "http", "/ready",
                  "loki_distributor_lines_received", "log lines", "loki"),
    )
})


# ---------------------------------------------------------------------------------- the store sets
@dataclass(frozen=True)
class StoreSet:
    """A composition of store kinds, one per signal it stores, plus the services only it runs."""

    name: str  # --stores / LAB_STORES; compose.<name>.yaml, stack/collector/config.<name>.yaml
    stores: tuple[str, ...]  # keys of STORE_KINDS
    extras: tuple[str, ...] = ()  # services of harness.base.services that only this set runs

    def store(self, signal: str) -> StoreKind | None:
        """The kind of store that holds ``signal`` in this set (None: the set does not store it)."""
        return next((STORE_KINDS[n] for n in self.stores if STORE_KINDS[n].signal == signal), None)


STORE_SETS: Final[MappingProxyType[str, StoreSet]] = MappingProxyType({
    s.name: s
    for s in (
        StoreSet("jaeger-victorialogs", ("jaeger", "victorialogs")),
        StoreSet("tempo-loki", ("tempo", "loki"), extras=("grafana",)),
    )
})
STORE_SET_NAMES: Final = tuple(STORE_SETS)


def store_of(stores: str, signal: str) -> StoreKind | None:
    """The store kind that holds ``signal`` in the set named ``stores`` (None: none, or no such set)."""
    chosen = STORE_SETS.get(stores)
    return chosen.store(signal) if chosen is not None else None


def sets_with(service: str) -> tuple[str, ...]:
    """The store sets that run ``service`` as one of their stores or extras."""
    return tuple(s.name for s in STORE_SETS.values() if service in s.stores or service in s.extras)


def kinds_holding(signal: str) -> tuple[str, ...]:
    """The names of every store kind that holds ``signal``, whatever the set."""
    return tuple(k.name for k in STORE_KINDS.values() if k.signal == signal)
