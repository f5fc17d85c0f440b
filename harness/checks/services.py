"""Checks on the lab's services and the app's answers: every service of the store set healthy, one
that comes back by itself, a redeploy that recreates nothing, a task list that is one.

"Every service of the store set" is the store set's services by name (harness.base.services): a
service missing from the engine's answer is not healthy, and a redeploy compared over no container
at all proves nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from harness.base import services
from harness.base.errors import LabError
from harness.base.waiting import NotYet
from harness.checks.expectation import SERVICES, expect_within, hop_line

if TYPE_CHECKING:  # a vocabulary over a Lab, not a user of the lab's lifecycle
    from harness.lab.lifecycle import Lab


def services_healthy(lab: Lab, *, timeout: float = 60) -> dict[str, str]:
    """Every service of the lab's store set present, running and, where it has a healthcheck,
    healthy (and any other service the engine runs for the lab as well)."""
    topology = getattr(lab.config, "topology", "single")
    wanted = [s.name for s in services.services_of(lab.config.stores, topology)]

    def look() -> dict[str, str]:
        states = lab.target.status()
        missing = [name for name in wanted if name not in states]
        bad = {s: str(st) for s, st in states.items() if not st.ready}
        if missing or bad:
            raise NotYet(f"services not healthy: {bad or 'none'}; missing: {missing or 'none'}")
        return {s: str(st) for s, st in states.items()}

    return expect_within(lab, SERVICES, look, timeout=timeout, kind="note",
                         what=f"every service of {lab.config.stores} running and healthy",
                         shown=lambda states: states)


def service_healthy_again(lab: Lab, service: str, *, timeout: float = 60) -> None:
    """The service runs and is healthy again (a restart policy, or the engine, brought it back).
    The target waits (it knows how its engine says "healthy"); a failure still ends with the
    services' line, as every wait's does."""
    try:
        lab.target.wait_healthy(service, timeout)
    except LabError as exc:
        raise AssertionError(f"{service} did not come back by itself within {timeout:g}s: {exc}; "
                             f"{hop_line(lab, SERVICES)}") from None


def containers_recreated(before: Mapping[str, str], after: Mapping[str, str]) -> dict[str, tuple[Any, Any]]:
    """``{service: (id before, id after)}`` for every service whose container changed (or came or went)."""
    names = sorted({*before, *after})
    return {s: (before.get(s), after.get(s)) for s in names if before.get(s) != after.get(s)}


def none_recreated(before: Mapping[str, str], after: Mapping[str, str]) -> None:
    """No container of the first deploy was replaced by the second (over at least one container)."""
    assert before, "the first deploy showed no container: a redeploy compared over none proves nothing"
    changed = containers_recreated(before, after)
    assert not changed, f"containers changed by the second deploy (service: before, after): {changed}"


def task_list(body: Any) -> None:
    """``body`` is the task API's list answer: a ``tasks`` list and a ``count`` covering it."""
    assert isinstance(body, dict) and isinstance(body.get("tasks"), list), f"no 'tasks' list in {body!r}"
    count = body.get("count")
    assert isinstance(count, int) and count >= len(body["tasks"]), f"bad count in {body!r}"
