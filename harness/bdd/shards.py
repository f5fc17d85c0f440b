"""Which scenarios run on which lab: a run split into shards balanced by how long each scenario took
before, so that N labs finish together instead of one lab running everything in a row.

A scenario's weight is its duration in ``features/durations.json`` for the run's target (written by
``lab durations`` from a run's ``results.json``); a scenario that file does not know weighs the
median of those it knows. The split is greedy, longest first, each to the lightest shard (the
"least duration" split pytest-split uses) and deterministic: every xdist worker and every machine
that runs ``--shard k/N`` computes the same groups from the same collection. Repeats of one
scenario (``--repeat``) always share a shard: flakiness is measured on one lab.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.base.errors import ConfigError

DURATIONS_FILE = Path(__file__).resolve().parents[2] / "features" / "durations.json"
DEFAULT_WEIGHT_S = 10.0  # when nothing at all is known yet
MAX_SHARDS = 16  # one lab each: more than this is no longer a lab per shard on one machine
MAX_REPEAT = 50
LAB_START = "lab-start"  # the evidence kind that says how long bringing a scenario's lab up took


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str, option: str = "--shard") -> Shard:
    """``"k/N"`` -> Shard(k, N), 1 <= k <= N; one-line ConfigError otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not match:
        raise ConfigError(f"{option}={text!r} is not valid; use k/N with whole numbers, e.g. {option} 2/4")
    index, count = int(match[1]), int(match[2])
    if not 1 <= count <= MAX_SHARDS:
        raise ConfigError(f"{option}={text!r}: N must be 1 to {MAX_SHARDS}")
    if not 1 <= index <= count:
        raise ConfigError(f"{option}={text!r}: k must be 1 to {count}, e.g. {option} 1/{count}")
    return Shard(index, count)


def parse_count(text: str | int, option: str, *, upper: int) -> int:
    """A whole number 1..upper given to ``option``; one-line ConfigError otherwise."""
    try:
        value = int(str(text).strip())
    except ValueError:
        raise ConfigError(f"{option}={text!r} is not a whole number; use e.g. {option} 4") from None
    if not 1 <= value <= upper:
        raise ConfigError(f"{option}={text!r} is out of range; use 1 to {upper}")
    return value


# ------------------------------------------------------------------------------------- durations
def load_durations(path: Path = DURATIONS_FILE) -> dict[str, dict[str, float]]:
    """target -> scenario id -> seconds; {} when the file is absent (a new checkout still splits)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not readable JSON ({exc}); restore it with git checkout") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} is not a durations file (expected an object of targets)")
    return {str(t): {str(k): float(v) for k, v in (d or {}).items()} for t, d in data.items()
            if isinstance(d, dict)}


def _own_time(run: Mapping[str, Any]) -> float:
    """A scenario's time without its lab's start: the first scenario of a lab pays for bringing the
    lab up (evidence of kind :data:`LAB_START`), which every shard pays once whatever it runs."""
    start = sum(float((item.get("detail") or {}).get("seconds") or 0.0)
                for part in [*run.get("hooks", []), *run.get("steps", [])]
                for item in part.get("evidence", []) if item.get("kind") == LAB_START)
    return max(float(run.get("duration") or 0.0) - start, 0.0)


def durations_of(results: Mapping[str, Any]) -> dict[str, float]:
    """Scenario id -> seconds of every scenario a results dict ran, its lab's start left out
    (skipped ones are left out; a repeated scenario weighs its mean run)."""
    out: dict[str, float] = {}
    for feature in results.get("features", []):
        for scenario in feature.get("scenarios", []):
            runs = scenario.get("runs") or [scenario]
            took = [_own_time(r) for r in runs if r.get("status") != "skipped"]
            if took:
                out[scenario["id"]] = round(statistics.fmean(took), 1)
    return out


def update_durations(runs: Sequence[Mapping[str, Any]], target: str, path: Path = DURATIONS_FILE) -> int:
    """Record the median of these runs' durations for ``target`` (they replace what the file had for
    the scenarios they ran; the others keep theirs); returns how many scenarios were recorded. The
    median, not the mean: one run that waited on a busy machine must not move a scenario to the
    wrong shard for every later run (a 67 s outlier of a 6 s scenario once made one of four shards
    carry 40 s more than the others)."""
    data = load_durations(path)
    taken: dict[str, list[float]] = {}
    for results in runs:
        for key, seconds in durations_of(results).items():
            taken.setdefault(key, []).append(seconds)
    data.setdefault(target, {}).update({k: round(statistics.median(v), 1) for k, v in taken.items()})
    ordered = {t: dict(sorted(d.items())) for t, d in sorted(data.items())}
    Path(path).write_text(json.dumps(ordered, indent=1) + "\n", encoding="utf-8")
    return len(taken)


# ----------------------------------------------------------------------------------------- split
def weights(keys: Iterable[str], known: Mapping[str, float],
            skipped: Iterable[str] = ()) -> dict[str, float]:
    """Each key's weight: 0 when it will be skipped, its known duration, else the median of the
    known ones."""
    measured = [v for v in known.values() if v > 0]
    fallback = statistics.median(measured) if measured else DEFAULT_WEIGHT_S
    out = {key: float(known.get(key, fallback)) for key in keys}
    out.update({key: 0.0 for key in skipped if key in out})
    return out


def split(keys: Sequence[str], known: Mapping[str, float], count: int,
          skipped: Iterable[str] = ()) -> dict[str, int]:
    """key -> shard index (1-based). Longest first, each to the least loaded shard (ties: fewer
    scenarios, then the lower index); equal keys (repeats) are one unit. Deterministic for the same
    keys and durations."""
    unique = list(dict.fromkeys(keys))
    weight = weights(unique, known, skipped)
    repeats = {key: list(keys).count(key) for key in unique}
    load = [0.0] * count
    members = [0] * count
    out: dict[str, int] = {}
    for key in sorted(unique, key=lambda k: (-weight[k] * repeats[k], unique.index(k))):
        shard = min(range(count), key=lambda i: (load[i], members[i], i))
        load[shard] += weight[key] * repeats[key]
        members[shard] += 1
        out[key] = shard + 1
    return out


def expected_load(keys: Sequence[str], known: Mapping[str, float], count: int,
                  skipped: Iterable[str] = ()) -> list[float]:
    """Seconds of scenario time each shard is expected to carry (for the report header)."""
    weight = weights(keys, known, skipped)
    shards = split(keys, known, count, skipped)
    load = [0.0] * count
    for key in keys:
        load[shards[key] - 1] += weight[key]
    return [round(x, 1) for x in load]
