"""A scenario's identity, as results.json, the shard split and ``features/durations.json`` name it:
Cucumber-JVM style ``feature;scenario``, and ``feature;scenario;examples;row`` for an outline's row.
"""

from __future__ import annotations


def slug(text: str) -> str:
    out = "".join(ch if ch.isalnum() else "-" for ch in text.lower())
    return "-".join(part for part in out.split("-") if part) or "unnamed"


def scenario_id(feature: str, scenario: str, examples: str | None = None, index: int | None = None) -> str:
    """``feature;scenario`` (the feature's name, or its file when it has none), plus
    ``;examples;row`` for row ``index`` (0-based) of an outline's Examples named ``examples``."""
    base = f"{slug(feature)};{slug(scenario)}"
    if index is not None:
        # Cucumber counts the header as row 1, so the first example row is 2.
        base += f";{slug(examples) if examples else ''};{index + 2}"
    return base
