"""The canary's own metrics. The names and labels of the first five are a contract (issue 27):
dashboards, the rules of stack/prometheus/rules/canary.*.yml and outside checks read them."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.process_collector import ProcessCollector

LABELS = ("signal", "store")
# Emit-to-queryable delay: the read-back runs once a second, so below 0.5 s the buckets only split noise.
DELAY_BUCKETS = (0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 120.0, 300.0)


@dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry
    sent: Counter
    found: Counter
    lost: Counter
    late: Counter
    delay: Histogram
    pending: Gauge
    oldest_pending: Gauge
    readback_errors: Counter
    budget: Gauge


def make_metrics(registry: CollectorRegistry | None = None) -> Metrics:
    """The canary's metrics in ``registry`` (a fresh one with the process' CPU and memory by default)."""
    if registry is None:
        registry = CollectorRegistry()
        ProcessCollector(registry=registry)
    r = registry
    return Metrics(
        registry=r,
        sent=Counter("pipeline_canary_probes_sent", "Probes sent, per signal and the store read back.",
                     LABELS, registry=r),
        found=Counter("pipeline_canary_probes_found", "Probes found in the store within the budget.",
                      LABELS, registry=r),
        lost=Counter("pipeline_canary_probes_lost", "Probes not found within the budget.", LABELS,
                     registry=r),
        late=Counter("pipeline_canary_probes_late", "Probes counted lost and found afterwards.", LABELS,
                     registry=r),
        delay=Histogram("pipeline_canary_delivery_seconds", "Emit-to-queryable delay of a probe found.",
                        LABELS, buckets=DELAY_BUCKETS, registry=r),
        pending=Gauge("pipeline_canary_probes_pending", "Probes sent and not yet found nor lost.", LABELS,
                      registry=r),
        oldest_pending=Gauge("pipeline_canary_oldest_pending_seconds",
                             "Age of the oldest probe not yet found nor lost (0: none).", LABELS, registry=r),
        readback_errors=Counter("pipeline_canary_readback_errors", "Read-back queries that failed.", LABELS,
                                registry=r),
        budget=Gauge("pipeline_canary_budget_seconds", "A probe not found within this is lost.", registry=r),
    )
