"""The canary's bookkeeping (app/canary/pipeline_canary/tracker.py): found within the budget, lost
after it, late when found after being lost, forgotten after the late window; the gauges and the
look-back window of the read-back."""

from __future__ import annotations

import pytest
from pipeline_canary.metrics import Metrics
from pipeline_canary.tracker import Probe, Target, Tracker

from tests.canary.conftest import sample

TRACES = Target("traces", "jaeger")
LOGS = Target("logs", "victorialogs")
METRICS = Target("metrics", "prometheus")


def probe(seq: int, at: float) -> Probe:
    return Probe(seq=seq, trace_id=f"{seq:032x}", emitted=at)


@pytest.fixture
def tracker(metrics: Metrics) -> Tracker:
    return Tracker([TRACES, LOGS, METRICS], metrics, budget_s=60, late_window_s=300)


def test_every_series_exists_at_zero_from_the_start(tracker: Tracker, metrics: Metrics) -> None:
    for t in (TRACES, LOGS, METRICS):
        for name in ("sent", "found", "lost", "late"):
            assert sample(metrics, f"pipeline_canary_probes_{name}_total", *t.labels) == 0
        assert sample(metrics, "pipeline_canary_delivery_seconds_count", *t.labels) == 0
    assert metrics.registry.get_sample_value("pipeline_canary_budget_seconds") == 60


def test_sent_counts_the_store_targets_and_leaves_the_metrics_counter_to_the_probe(
        tracker: Tracker, metrics: Metrics) -> None:
    tracker.sent(probe(1, 1000.0))
    assert sample(metrics, "pipeline_canary_probes_sent_total", "traces", "jaeger") == 1
    assert sample(metrics, "pipeline_canary_probes_sent_total", "logs", "victorialogs") == 1
    assert sample(metrics, "pipeline_canary_probes_sent_total", "metrics", "prometheus") == 0  # emit.py's
    assert [p.seq for p in tracker.watched(METRICS)] == [1]


def test_found_within_the_budget_observes_the_delay_once(tracker: Tracker, metrics: Metrics) -> None:
    tracker.sent(probe(1, 1000.0))
    tracker.sent(probe(2, 1001.0))
    assert tracker.resolve(TRACES, lambda p: p.seq == 1, now=1002.5) == 1
    assert tracker.resolve(TRACES, lambda p: p.seq == 1, now=1003.5) == 0  # not twice
    assert sample(metrics, "pipeline_canary_probes_found_total", "traces", "jaeger") == 1
    assert sample(metrics, "pipeline_canary_delivery_seconds_sum", "traces", "jaeger") == 2.5
    assert sample(metrics, "pipeline_canary_probes_found_total", "logs", "victorialogs") == 0
    assert [p.seq for p in tracker.watched(TRACES)] == [2]


def test_past_the_budget_lost_then_late_then_forgotten(tracker: Tracker, metrics: Metrics) -> None:
    tracker.sent(probe(1, 1000.0))
    tracker.expire(now=1060.0)  # exactly the budget: still pending
    assert sample(metrics, "pipeline_canary_probes_lost_total", "logs", "victorialogs") == 0
    tracker.expire(now=1060.5)
    assert sample(metrics, "pipeline_canary_probes_lost_total", "logs", "victorialogs") == 1
    assert [p.seq for p in tracker.watched(LOGS)] == [1]  # still looked for: late
    assert tracker.resolve(LOGS, lambda p: True, now=1090.0) == 1
    assert sample(metrics, "pipeline_canary_probes_late_total", "logs", "victorialogs") == 1
    assert sample(metrics, "pipeline_canary_probes_found_total", "logs", "victorialogs") == 0
    assert sample(metrics, "pipeline_canary_probes_lost_total", "logs", "victorialogs") == 1  # stays lost
    assert sample(metrics, "pipeline_canary_delivery_seconds_sum", "logs", "victorialogs") == 90
    tracker.expire(now=1360.5)  # past budget + late window: the traces target forgets its lost probe
    assert tracker.watched(TRACES) == []


def test_gauges_say_how_many_wait_and_for_how_long(tracker: Tracker, metrics: Metrics) -> None:
    tracker.sent(probe(1, 1000.0))
    tracker.sent(probe(2, 1004.0))
    tracker.resolve(TRACES, lambda p: p.seq == 1, now=1005.0)
    tracker.expire(now=1010.0)
    assert sample(metrics, "pipeline_canary_probes_pending", "traces", "jaeger") == 1
    assert sample(metrics, "pipeline_canary_oldest_pending_seconds", "traces", "jaeger") == 6
    assert sample(metrics, "pipeline_canary_oldest_pending_seconds", "logs", "victorialogs") == 10
    tracker.resolve(TRACES, lambda p: True, now=1011.0)
    tracker.expire(now=1011.0)
    assert sample(metrics, "pipeline_canary_oldest_pending_seconds", "traces", "jaeger") == 0


def test_the_look_back_reaches_the_oldest_watched_probe(tracker: Tracker) -> None:
    assert tracker.lookback_s(TRACES, now=1000.0) == 0  # nothing watched: no query
    tracker.sent(probe(1, 1000.0))
    tracker.sent(probe(2, 1001.0))
    assert tracker.lookback_s(TRACES, now=1002.2) == 8  # 2.2 s + 5 s margin, rounded up
    tracker.expire(now=1070.0)  # lost, still watched for lateness
    assert tracker.lookback_s(TRACES, now=1070.0) == 76
