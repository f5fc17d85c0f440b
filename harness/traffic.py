"""Traffic the scenarios send through the front, and the waits that go with service restarts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness import evidence
from harness.signals.app import AppClient
from harness.waiting import NotYet, eventually

if TYPE_CHECKING:
    from harness.lab import Lab


def ok(result: tuple[int, Any], *expected: int) -> Any:
    """The body of an app call that must succeed; else an assertion naming status and body."""
    status, body = result
    allowed = expected or (200, 201)
    assert status in allowed, f"the app answered {status} (expected {'/'.join(map(str, allowed))}): {body!r}"
    return body


def mixed(front: AppClient) -> None:
    """A little of everything the dashboards show: CRUD, a slow call, an error, DB smoke."""
    ids = [ok(front.create_task(f"mixed traffic {i}"), 201)["id"] for i in range(3)]
    ok(front.list_tasks())
    ok(front.get_task(ids[0]))
    ok(front.update_task(ids[0], completed=True))
    ok(front.delete_task(ids[1]), 200, 204)
    ok(front.simulate_slow(0.3))
    ok(front.simulate_error(), 500)
    ok(front.db_smoke(20, "rw"))
    evidence.attach("note", "mixed traffic sent: 3 creates, list, get, update, delete, slow, error, db smoke")


def front_recovers(front: AppClient, *, timeout: float) -> None:
    def check() -> None:
        status = front.list_tasks()[0]
        if status != 200:
            raise NotYet(f"GET /api/tasks through the front answered {status}")

    eventually(check, timeout=timeout, describe="the front to answer 200 on /api/tasks", interval=0.25)


def assert_all_ok(front: AppClient, n: int, *, forbid: tuple[int, ...] = ()) -> None:
    """``n`` sequential requests; every one must be 200 (and none in ``forbid``)."""
    statuses = [front.list_tasks()[0] for _ in range(n)]
    bad = [(i, s) for i, s in enumerate(statuses) if s != 200 or s in forbid]
    evidence.attach("note", f"{n} requests through the front", statuses=statuses)
    assert not bad, f"requests that did not answer 200 (index, status): {bad}"


def errors(front: AppClient, n: int) -> None:
    statuses = [front.simulate_error()[0] for _ in range(n)]
    assert all(s == 500 for s in statuses), f"the error endpoint answered {statuses}, expected 500 each time"


def ensure_started(lab: Lab, service: str, *, timeout: float = 90) -> None:
    """Start ``service`` if it is not running and wait until the target reports it healthy."""

    def check() -> None:
        state = lab.target.status().get(service, "missing")
        if not state.startswith("running") or "starting" in state or "unhealthy" in state:
            raise NotYet(f"{service}: {state}")

    if not lab.target.status().get(service, "").startswith("running"):
        lab.target.start(service)
    eventually(check, timeout=timeout, describe=f"{service} running and healthy again")
