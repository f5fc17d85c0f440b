"""Every kind of wait the harness has, in one table: how long each may take on this project's
machines (2 cores, no KVM for the VMs: ``LAB_TIMEOUT_SCALE`` multiplies them all), and why.

Modules name the kind they wait for (``timeouts.of("deploy")``) instead of keeping a constant of
their own, so a slow host is tuned in one place and the report header prints the whole table once
(:func:`header`). How long a signal may take to arrive, or must stay absent, is not here: each step
says it in its sentence ("within 30 seconds"), scaled the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from harness.base.waiting import scaled


@dataclass(frozen=True)
class Kind:
    seconds: float
    why: str


TIMEOUTS = MappingProxyType({
    "deploy": Kind(300.0, "every service running and healthy after compose up (a cold start on 2 cores)"),
    "compose": Kind(600.0, "one compose command (up, config)"),
    "cleanup": Kind(180.0, "compose down: a lab and its volumes removed"),
    "exec": Kind(120.0, "one command in a container or the VM (docker exec, inspect, ssh)"),
    "inspect": Kind(60.0, "one look at the engine's containers (docker inspect, the SDK)"),
    "http": Kind(10.0, "one HTTP request to the lab"),
    "read": Kind(4.0, "one read of a hop's counters inside a failing step (the failure must not wait)"),
    "settle": Kind(150.0, "the pipeline settling after traffic: the stores asked until nothing new comes"),
    "sample": Kind(5.0, "a Prometheus sample read once settled (> the scrape timeout and an append)"),
    "fault": Kind(60.0, "setting or clearing a network fault on the host or in the VM"),
    "vm": Kind(300.0, "one vagrant up, reload or provision (a QEMU TCG boot takes 30-60 s)"),
    "ssh": Kind(120.0, "the VM answering ssh after its boot"),
    "browser": Kind(15.0, "one click, fill or page load in Chromium"),
})


def base(kind: str) -> float:
    """The unscaled seconds of ``kind`` (KeyError names the kinds there are)."""
    try:
        return TIMEOUTS[kind].seconds
    except KeyError:
        raise KeyError(f"no timeout kind {kind!r}; kinds: {', '.join(TIMEOUTS)}") from None


def of(kind: str) -> float:
    """The seconds a wait of ``kind`` may take in this run (scaled by ``LAB_TIMEOUT_SCALE``)."""
    return scaled(base(kind))


def header(scale: float) -> str:
    """The table in one line, for the report's run information."""
    return (f"scale {scale:g} (LAB_TIMEOUT_SCALE): "
            + ", ".join(f"{kind} {k.seconds * scale:g} s" for kind, k in TIMEOUTS.items())
            + "; signal arrival and absence: as each step says, scaled")
