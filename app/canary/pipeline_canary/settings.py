"""The canary's settings, all from the environment (compose sets them; defaults are the issue's)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


class SettingsError(ValueError):
    """A variable that is set but cannot be used (named in the message)."""


def _number(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    text = (env.get(name) or "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"{name}={text!r} is not a number") from None
    if value < minimum:
        raise SettingsError(f"{name}={text!r} is below {minimum:g}")
    return value


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    return ((env.get(name) or "").strip() or default).rstrip("/")


@dataclass(frozen=True)
class Settings:
    interval_s: float = 1.0  # CANARY_INTERVAL_S: one probe every this many seconds
    check_interval_s: float = 1.0  # CANARY_CHECK_INTERVAL_S: one read-back round every this many seconds
    budget_s: float = 60.0  # CANARY_BUDGET_S: not found within this is lost
    late_window_s: float = 300.0  # CANARY_LATE_WINDOW_S: a lost probe is looked for this long (late)
    port: int = 9464  # CANARY_PORT: /metrics
    stores: str = "jaeger-victorialogs"  # CANARY_STORES: the lab's store set (harness.base.observes)
    traces_url: str = "http://jaeger:16686"  # CANARY_TRACES_URL: the trace store's query API
    logs_url: str = "http://victorialogs:9428"  # CANARY_LOGS_URL: the log store's query API
    prometheus_url: str = "http://prometheus:9090"  # CANARY_PROMETHEUS_URL
    job: str = "pipeline-canary"  # CANARY_JOB: Prometheus' job that scrapes this canary
    otlp_endpoint: str = "http://otel-collector:4318"  # OTEL_EXPORTER_OTLP_ENDPOINT (traces and logs)
    request_timeout_s: float = 5.0  # CANARY_REQUEST_TIMEOUT_S: each read-back request

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        d = cls()
        budget = _number(env, "CANARY_BUDGET_S", d.budget_s, 1)
        late = _number(env, "CANARY_LATE_WINDOW_S", d.late_window_s, 0)
        return cls(
            interval_s=_number(env, "CANARY_INTERVAL_S", d.interval_s, 0.1),
            check_interval_s=_number(env, "CANARY_CHECK_INTERVAL_S", d.check_interval_s, 0.1),
            budget_s=budget,
            late_window_s=late,
            port=int(_number(env, "CANARY_PORT", d.port, 1)),
            stores=(env.get("CANARY_STORES") or "").strip() or d.stores,
            traces_url=_url(env, "CANARY_TRACES_URL", d.traces_url),
            logs_url=_url(env, "CANARY_LOGS_URL", d.logs_url),
            prometheus_url=_url(env, "CANARY_PROMETHEUS_URL", d.prometheus_url),
            job=(env.get("CANARY_JOB") or "").strip() or d.job,
            otlp_endpoint=_url(env, "OTEL_EXPORTER_OTLP_ENDPOINT", d.otlp_endpoint),
            request_timeout_s=_number(env, "CANARY_REQUEST_TIMEOUT_S", d.request_timeout_s, 0.1),
        )
