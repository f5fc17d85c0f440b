"""Checks on the SLIs and SLOs: recording rules with values, an SLI that rises with the scenario's
traffic (above the value its sentence names), and the latency SLO thresholds Prometheus alerts on.

"The p95 latency SLI rises" was satisfied by the p95 moving at all — the scenario's ten fast errors
move it from "no data" before its slow requests are even scraped; the sentence now names the value
the slow requests must lift it above. The latency SLO thresholds are read from the alert rules
Prometheus has loaded (those labelled ``slo: latency``, comparing an SLI recorded from the latency
histogram with a number), so the bucket bounds are checked against what is really alerted on.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from harness.base.waiting import GiveUp, NotYet
from harness.checks.expectation import expect_within
from harness.checks.metrics import attach_series, prom_reaches, prom_value

if TYPE_CHECKING:  # a vocabulary over a Lab, not a user of the lab's lifecycle
    from harness.lab.lifecycle import Lab

SLI_QUERIES = {  # by the name a sentence gives them ("the error-rate SLI rises")
    "error-rate": "max(sli:error_rate:ratio_rate1m)",
    "p95 latency": "max(sli:latency_p95:seconds_rate1m)",
    "availability": "min(sli:availability:ratio_rate1m)",
}
SLI_WINDOW_REQUESTS = "sum(sli:requests:rate1m)"
# "<recorded SLI> > <number>" (or >=): how an SLO alert compares its SLI with the threshold
_ABOVE = re.compile(r"^\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*>=?\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*$")


def sli_values(lab: Lab) -> dict[str, float]:
    """Every SLI's value now (a later step picks the one its sentence names)."""
    return {name: prom_value(lab, q) for name, q in SLI_QUERIES.items()}


def sli_window_quiet(lab: Lab, *, timeout: float = 120) -> None:
    """Wait until the SLIs' 1-minute window holds no user request (probes and scrapes do not count).

    An SLI noted while earlier scenarios' requests are still in its window moves with them as they
    age out: slow requests of an earlier scenario make the noted p95 high, and it then falls while
    this scenario's requests arrive. With the window empty, the SLIs after the scenario's traffic
    are computed from that traffic alone, so "rises" cannot depend on what ran before.

    Quiet means the request rate reads 0 *and* every SLI reads "no data": on a slow host a rule
    group can lag or skip an evaluation, and a request rate of 0 was once seen beside a p95 of
    2.4 s still computed from the previous scenario's requests.
    """

    def look() -> None:
        seen = {"requests": prom_value(lab, SLI_WINDOW_REQUESTS)} | sli_values(lab)
        # prom_value reads an absent series as 0: with no request in the window the ratios and the
        # quantile are NaN (0/0) or absent, never a number.
        if seen["requests"] != 0 or any(not math.isnan(v) and v != 0 for v in seen.values()):
            raise NotYet(", ".join(f"{name} {value:g}" for name, value in seen.items()))

    expect_within(lab, "metrics", look, timeout=timeout, interval=1.0,
                  what="the SLI window (1 minute) to hold no user request and every SLI to read no data")


def sli_rises(lab: Lab, name: str, before: Mapping[str, float], *, above: float | None = None,
              timeout: float = 90) -> float:
    """The SLI rises above the noted value — and above ``above`` when the sentence names a value;
    a noted "no data" (NaN: no request in its window) is risen from by any value above 0."""
    if name not in SLI_QUERIES or name not in before:
        raise GiveUp(f"no SLI called {name!r}; the SLIs are {', '.join(SLI_QUERIES)}")
    query, base = SLI_QUERIES[name], before[name]
    floor = 0.0 if math.isnan(base) else base
    if above is not None:
        floor = max(floor, above)
    noted = "it had no data" if math.isnan(base) else f"it was {base:g}"
    value = prom_reaches(lab, query, lambda v: not math.isnan(v) and v > floor, timeout=timeout,
                         describe=f"{name} SLI ({query}) to rise above {floor:g} ({noted})")
    attach_series(lab, query, mark=time.time())  # evidence only: the rise, drawn
    return value


def recording_rules_have_values(lab: Lab, *, timeout: float = 90) -> list[str]:
    """Every recording rule Prometheus has loaded has a series whose value is a number ("no data",
    NaN from 0/0 over an empty window, is not a value)."""

    def look() -> list[str]:
        names = sorted({r["name"] for g in lab.prometheus.rules() for r in g.get("rules", [])
                        if r.get("type") == "recording"})
        if not names:
            raise NotYet("Prometheus has no recording rules loaded")
        empty = [n for n in names if not any(not math.isnan(r["value"]) for r in lab.prometheus.query(n))]
        if empty:
            raise NotYet(f"recording rules without values: {empty}")
        return names

    return expect_within(lab, "metrics", look, timeout=timeout, interval=3,
                         what="every SLI recording rule to have a value",
                         shown=lambda names: {"rules": names})


def _rule(rule: Mapping[str, Any]) -> tuple[str, str, str]:
    """(type, name, expression) of a rule as Prometheus' API or a rule file gives it."""
    kind = rule.get("type") or ("alerting" if "alert" in rule else "recording")
    name = rule.get("name") or rule.get("alert") or rule.get("record") or ""
    return str(kind), str(name), str(rule.get("query") or rule.get("expr") or "")


def latency_thresholds(rules: Iterable[Mapping[str, Any]], histogram: str) -> dict[str, float]:
    """``{alert: threshold in seconds}`` of every latency SLO alert among ``rules`` (labelled
    ``slo: latency``), each comparing an SLI recorded from ``histogram``'s buckets with a number.
    An SLO alert that cannot be read so is an error: its threshold would go unchecked."""
    rules = list(rules)
    recorded = {name: expr for kind, name, expr in map(_rule, rules) if kind == "recording"}
    found = {}
    for rule in rules:
        kind, name, expr = _rule(rule)
        if kind != "alerting" or (rule.get("labels") or {}).get("slo") != "latency":
            continue
        match = _ABOVE.match(expr)
        if not match:
            raise GiveUp(f"the latency SLO alert {name} does not read '<SLI> > <seconds>': {expr!r}")
        sli, seconds = match.groups()
        if f"{histogram}_bucket" not in recorded.get(sli, ""):
            raise GiveUp(f"the latency SLO alert {name} compares {sli}, which is not recorded from "
                         f"{histogram}'s buckets")
        found[name] = float(seconds)
    return found


def latency_slo_thresholds(lab: Lab, histogram: str, *, timeout: float = 30) -> dict[str, float]:
    """The latency SLO thresholds of the alert rules Prometheus has loaded (at least one)."""

    def look() -> dict[str, float]:
        rules = [r for g in lab.prometheus.rules() for r in g.get("rules", [])]
        if not rules:
            raise NotYet("Prometheus has no rules loaded")
        found = latency_thresholds(rules, histogram)
        if not found:
            raise GiveUp(f"Prometheus has {len(rules)} rules and no latency SLO alert (labelled "
                         "slo: latency): no threshold to judge the latency histogram against")
        return found

    return expect_within(lab, "metrics", look, timeout=timeout, what="the latency SLO alerts' thresholds",
                         shown=lambda found: {"thresholds": found})
