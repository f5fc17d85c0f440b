"""What a person needs to debug a failed scenario, collected once when it fails: every container as
the engine sees it, the end of each service's log, the collector's own counters and, when the lab
runs in a VM, the VM's failed units and the end of its kernel log.

Each part is read with bounded calls (the engines' and :mod:`harness.clients.hops`'s timeouts, a budget
for all the logs) and a part that cannot be read is one line saying why: a diagnostic must never
hide, replace or much delay the scenario's own failure, so nothing here raises.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from harness.base import evidence
from harness.base.errors import LabError
from harness.base.waiting import scaled
from harness.clients import hops
from harness.lab.engine import ContainerInfo, Engine

if TYPE_CHECKING:
    from harness.lab.lifecycle import Lab

TAIL = 50
LOGS_BUDGET = 90.0  # seconds (scaled) for every service's log: ~2.5 s per `docker logs` under QEMU TCG
LINE_LIMIT = 1000  # characters kept of one log line (a debug exporter's line can be huge)
ERROR_LIMIT = 500  # characters of a part's one-line failure (requests says the errno last)


def diagnose(lab: Lab, *, tail: int = TAIL) -> dict[str, Any]:
    """``containers`` (the engine's view of each), ``logs`` (service -> its last ``tail`` lines),
    ``collector`` (its own counters per signal) and, when the target has a VM, ``vm`` (its failed
    units and kernel log). A part that could not be read is a one-line text; never raises."""
    with evidence.capture():  # the reads leave no evidence of their own: the caller attaches the result
        out: dict[str, Any] = {}
        engine: Engine | None = None
        infos: list[ContainerInfo] | None = None
        try:
            engine = lab.target.engine
            infos = engine.infos(max_age=0)
            out["containers"] = [_container(info) for info in infos]
        except Exception as exc:
            out["containers"] = failed("container list", exc)
        if engine is None or infos is None:
            out["logs"] = f"not read: {out['containers']}"
        else:
            out["logs"] = _logs(engine, sorted({info.service for info in infos}), tail)
        out["collector"] = _part("collector counters", lambda: _collector(lab))
        try:
            has_vm = "vm" in lab.target.capabilities
        except Exception as exc:
            has_vm, out["vm"] = False, failed("the target's capabilities", exc)
        if has_vm:
            out["vm"] = _part("VM diagnostics", lambda: _vm(lab, tail))
        return out


def attach(lab: Lab) -> None:
    """Diagnose ``lab`` and attach the result to the current step as one piece of evidence
    (kind ``diagnostics``) whose summary says what is wrong at a glance; never raises."""
    parts = diagnose(lab)
    evidence.attach("diagnostics", summary(parts), **parts)


def summary(parts: Mapping[str, Any]) -> str:
    """One line from :func:`diagnose`'s result: the containers that are not running and healthy,
    those that restarted, and the parts that could not be read."""
    pieces = []
    containers = parts.get("containers")
    if isinstance(containers, list):
        bad = [f"{c['service']} {c['state']}" for c in containers if not c["ready"]]
        restarted = [f"{c['service']} ({c['restarts']} restart{'s' if c['restarts'] != 1 else ''})"
                     for c in containers if c["restarts"]]
        if not containers:
            pieces.append("no containers")
        elif bad:
            pieces.append(f"not running/healthy: {', '.join(bad)}")
        else:
            pieces.append(f"all {len(containers)} containers running and healthy")
        if containers:
            pieces.append(f"restarted: {', '.join(restarted)}" if restarted else "none restarted")
    unread = [name for name, value in parts.items() if isinstance(value, str)]
    if unread:
        pieces.append(f"unavailable: {', '.join(unread)}")
    return "; ".join(pieces) or "nothing collected"


def failed(what: str, exc: BaseException) -> str:
    """``what`` could not be read, in one line (the exception's type too when it is not a LabError,
    i.e. not an expected failure)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if not isinstance(exc, LabError):
        text = f"{type(exc).__name__}: {text}"
    return evidence.trim(f"{what} unavailable: {text}", ERROR_LIMIT)


def _part(what: str, read: Callable[[], Any]) -> Any:
    try:
        return read()
    except Exception as exc:
        return failed(what, exc)


def _container(info: ContainerInfo) -> dict[str, Any]:
    return {
        "service": info.service,
        "name": info.name,
        "id": info.id[:12],
        "state": str(info.state),
        "ready": info.ready,
        "health": info.state.health,
        "restarts": info.restarts,
        "started_at": info.started_at,
        "image": info.image,
        "last_healthcheck": " ".join(info.last_health_output.split()),
    }


def _logs(engine: Engine, services: Sequence[str], tail: int) -> dict[str, str]:
    """Each service's last lines, within one budget (a hung engine costs it once, not per service)."""
    budget = scaled(LOGS_BUDGET)
    deadline = time.monotonic() + budget
    out: dict[str, str] = {}
    for service in services:
        if time.monotonic() > deadline:
            out[service] = f"not read: the logs took more than {budget:.0f} s in all"
            continue
        try:
            # the listing diagnose() just made: one more per service costs seconds on a VM
            text = engine.logs(service, tail, max_age=math.inf)
        except Exception as exc:
            out[service] = failed(f"log of {service}", exc)
            continue
        out[service] = "\n".join(evidence.trim(line, LINE_LIMIT) for line in text.splitlines())
    return out


def _collector(lab: Lab) -> dict[str, Any] | str:
    """The collector's counters per signal through :func:`harness.clients.hops.snapshot`, with the line
    :func:`harness.clients.hops.describe` says for each (app → collector → store)."""
    snap = hops.snapshot(lab)
    if snap.collector is None:
        why = next((p for p in snap.problems if p.startswith("collector counters")), "; ".join(snap.problems))
        return evidence.trim(" ".join(why.split()) or "collector counters unreadable", ERROR_LIMIT)
    by_hop = snap.hops()
    counters = {signal: {hop: value for hop, value in by_hop[signal].items() if hop.startswith("collector.")}
                for signal in hops.ITEMS}
    lines = {signal: hops.describe(signal, snap) for signal in hops.ITEMS}
    return {"source": snap.collector.source, **lines, "counters": counters}


def _vm(lab: Lab, tail: int) -> dict[str, str] | str:
    read = getattr(lab.target, "vm_diagnostics", None)
    if read is None:
        return f"target {lab.target.name!r} has a VM but no way to read its diagnostics"
    return read(tail=tail)
