"""Prometheus' scrape interval and what depends on it stay consistent (bench/README "Benchmarks"
chose the interval): one interval in every prometheus*.yml, a timeout within it, and every rate
window of the SLI rules at least four scrapes long (a missed scrape still leaves rate() enough
samples)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

STACK = Path(__file__).resolve().parents[2] / "stack"
CONFIGS = sorted((STACK / "prometheus").glob("prometheus*.yml"))
UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def seconds(text: str) -> float:
    match = re.fullmatch(r"(\d+)(ms|s|m|h)", text)
    assert match, f"not a Prometheus duration: {text!r}"
    return int(match[1]) * UNITS[match[2]]


def test_every_config_scrapes_at_one_interval_with_a_timeout_within_it() -> None:
    assert len(CONFIGS) == 3
    intervals = set()
    for path in CONFIGS:
        glob = yaml.safe_load(path.read_text())["global"]
        interval = seconds(glob["scrape_interval"])
        intervals.add(interval)
        assert seconds(glob["scrape_timeout"]) <= interval, path.name
        assert seconds(glob["evaluation_interval"]) == interval, path.name
    # The jobs (stack/prometheus/scrape/, read through scrape_config_files) take the global interval.
    for path in sorted((STACK / "prometheus" / "scrape").glob("*.yml")):
        for job in yaml.safe_load(path.read_text())["scrape_configs"]:
            assert "scrape_interval" not in job and "scrape_timeout" not in job, (path.name, job["job_name"])
    assert intervals == {2.0}, "the lab scrapes every 2 s (README, Benchmarks: why)"


def test_rate_windows_hold_at_least_four_scrapes() -> None:
    interval = seconds(yaml.safe_load(CONFIGS[0].read_text())["global"]["scrape_interval"])
    windows = []
    for rules in (STACK / "prometheus" / "rules").glob("*.yml"):
        for group in yaml.safe_load(rules.read_text())["groups"]:
            for rule in group["rules"]:
                windows += re.findall(r"\[(\d+(?:ms|s|m|h))\]", rule["expr"])
    assert windows, "the SLI rules have rate windows"
    assert all(seconds(w) >= 4 * interval for w in windows), sorted(set(windows))
