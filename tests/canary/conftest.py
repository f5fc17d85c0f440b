"""Fixtures of the pipeline canary's tests (app/canary): its metrics in a registry of their own, and
the harness's fake HTTP server answering the recorded store answers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pipeline_canary.metrics import Metrics, make_metrics
from prometheus_client import CollectorRegistry

from tests.harness.fake_http import FakeServer, fake_server


@pytest.fixture
def metrics() -> Metrics:
    return make_metrics(CollectorRegistry())


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with fake_server() as s:
        yield s


def sample(m: Metrics, name: str, signal: str, store: str) -> float:
    """One sample of the canary's registry (0 when absent)."""
    value = m.registry.get_sample_value(name, {"signal": signal, "store": store})
    return 0.0 if value is None else value
