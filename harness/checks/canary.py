"""The pipeline canary as a scenario's steady state (issue 27, ADR 0020; Chaos Toolkit's steady-state
hypothesis): over the scenario's own window, Prometheus' record of the canary's probes — sent, found,
lost and late per signal and store, the delay histogram, the age of the oldest probe still waiting —
says the pipeline lost nothing and delivered fast.

Read through Prometheus (the canary publishes no port): the increase of each counter over the window
ending now, the p95 of the histogram's increase, the oldest waiting probe's age now. A probe sent
during the scenario is lost only a budget (60 s) later; one that would be is still waiting at the end,
older than the bound, and fails the step just the same.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.base import evidence

if TYPE_CHECKING:  # a vocabulary over a Lab, not a user of the lab's lifecycle
    from harness.clients.prometheus import PrometheusClient

COUNTERS = ("sent", "found", "lost", "late")
SERIES = "pipeline_canary_probes_sent_total"  # the canary's series: absent means no canary
MIN_WINDOW_S = 10  # a window shorter than a few scrapes says nothing


@dataclass(frozen=True)
class CanaryRow:
    signal: str
    store: str
    sent: float
    found: float
    lost: float
    late: float
    p95_s: float | None  # None: nothing found in the window
    waiting_s: float  # age of the oldest probe still waiting, now (0: none)

    def problems(self, max_p95_s: float) -> list[str]:
        where = f"{self.signal} in {self.store}"
        out = []
        if self.sent < 0.5:
            out.append(f"{where}: the canary sent no probe")
        elif self.found < 0.5:
            out.append(f"{where}: none of the canary's {self.sent:.0f} probes was found")
        if self.lost >= 0.5:
            out.append(f"{where}: the canary lost {self.lost:.0f} of {self.sent:.0f} probes")
        if self.p95_s is not None and self.p95_s > max_p95_s:
            out.append(f"{where}: p95 delay {self.p95_s:.2f} s is above {max_p95_s:g} s")
        if self.waiting_s > max_p95_s:
            out.append(f"{where}: a probe has waited {self.waiting_s:.0f} s (above {max_p95_s:g} s) and "
                       "is not found yet")
        return out


@dataclass(frozen=True)
class CanaryWindow:
    began: float
    ended: float
    rows: tuple[CanaryRow, ...]

    @property
    def window_s(self) -> int:
        return window_seconds(self.began, self.ended)

    def problems(self, max_p95_s: float) -> list[str]:
        if not self.rows:
            return [f"Prometheus has no {SERIES} over the scenario's {self.window_s} s: is the "
                    "pipeline-canary service running and scraped (job pipeline-canary)?"]
        return [p for row in self.rows for p in row.problems(max_p95_s)]

    def table(self) -> list[dict[str, Any]]:
        return [{"signal": r.signal, "store": r.store, "sent": round(r.sent), "found": round(r.found),
                 "lost": round(r.lost), "late": round(r.late),
                 "p95_s": None if r.p95_s is None else round(r.p95_s, 2), "waiting_s": round(r.waiting_s, 1)}
                for r in self.rows]


def window_seconds(began: float, ended: float) -> int:
    return max(MIN_WINDOW_S, math.ceil(ended - began))


def queries(window_s: int) -> dict[str, str]:
    """Name -> PromQL, each ``by (signal, store)``, for a window of ``window_s`` ending at the query."""
    w = f"{window_s}s"
    out = {name: f"sum by (signal, store) (increase(pipeline_canary_probes_{name}_total[{w}]))"
           for name in COUNTERS}
    out["p95"] = ("histogram_quantile(0.95, sum by (signal, store, le) "
                  f"(increase(pipeline_canary_delivery_seconds_bucket[{w}])))")
    out["waiting"] = "max by (signal, store) (pipeline_canary_oldest_pending_seconds)"
    return out


def _by_target(result: list[dict[str, Any]]) -> dict[tuple[str, str], float]:
    return {(r["metric"].get("signal", ""), r["metric"].get("store", "")): float(r["value"]) for r in result}


def rows_of(answers: Mapping[str, list[dict[str, Any]]]) -> tuple[CanaryRow, ...]:
    """The rows of the answers to :func:`queries` (one per signal and store the canary sent for)."""
    values = {name: _by_target(result) for name, result in answers.items()}
    targets = sorted(values.get("sent", {}))
    rows = []
    for t in targets:
        p95 = values.get("p95", {}).get(t)
        rows.append(CanaryRow(
            signal=t[0], store=t[1],
            **{name: _finite(values.get(name, {}).get(t)) for name in COUNTERS},
            p95_s=None if p95 is None or math.isnan(p95) else p95,
            waiting_s=_finite(values.get("waiting", {}).get(t)),
        ))
    return tuple(rows)


def _finite(value: float | None) -> float:
    return 0.0 if value is None or math.isnan(value) else value


def canary_window(prometheus: PrometheusClient, began: float, ended: float | None = None) -> CanaryWindow:
    """What the canary recorded between ``began`` and ``ended`` (default: now)."""
    ended = time.time() if ended is None else ended
    asked = queries(window_seconds(began, ended))
    answers = {name: prometheus.query(q, at=ended) for name, q in asked.items()}
    return CanaryWindow(began=began, ended=ended, rows=rows_of(answers))


def steady_state(prometheus: PrometheusClient, began: float, *, max_p95_s: float) -> CanaryWindow:
    """The canary lost nothing, found every signal, and its p95 delay and oldest waiting probe stayed
    under ``max_p95_s`` since ``began``; else AssertionError naming each signal, store and number."""
    window = canary_window(prometheus, began)
    evidence.attach("note", f"pipeline canary over the scenario's {window.window_s} s", rows=window.table())
    problems = window.problems(max_p95_s)
    if problems:
        raise AssertionError(f"the pipeline canary over the scenario's {window.window_s} s: "
                             + "; ".join(problems))
    return window
