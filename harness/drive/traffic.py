"""Traffic the scenarios send through the front, and the lab actions that go with it (a redeploy
that records what it changed). Faults done to the lab are the runtime vocabulary's
(:mod:`harness.faults.runtime`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.base import evidence
from harness.base.waiting import NotYet, eventually
from harness.clients.app import AppClient
from harness.clients.tracecontext import new_traceparent
from harness.faults.runtime import ensure_started  # noqa: F401 - what a scenario waits on after a stop

if TYPE_CHECKING:
    from harness.lab.lifecycle import Lab


def ok(result: tuple[int, Any], *expected: int) -> Any:
    """The body of an app call that must succeed; else an assertion naming status and body."""
    status, body = result
    allowed = expected or (200, 201)
    assert status in allowed, f"the app answered {status} (expected {'/'.join(map(str, allowed))}): {body!r}"
    return body


def chosen_trace() -> tuple[str, str]:
    """(traceparent, trace id) for a request whose trace a scenario then looks up."""
    traceparent, trace_id, _ = new_traceparent()
    evidence.attach("note", f"chosen trace id {trace_id}", traceparent=traceparent)
    return traceparent, trace_id


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


def front_steady(front: AppClient, n: int, *, timeout: float) -> list[int]:
    """Within ``timeout``: ``n`` requests in a row through the front, every one 200 (a front that
    still sends some requests to an address the backend left never gets there)."""

    def check() -> list[int]:
        statuses = [front.list_tasks()[0] for _ in range(n)]
        bad = [(i, s) for i, s in enumerate(statuses) if s != 200]
        if bad:
            raise NotYet(f"{len(bad)} of {n} requests through the front did not answer 200 (index, status): "
                         f"{bad[:8]}")
        return statuses

    statuses = eventually(check, timeout=timeout, describe=f"{n} requests in a row through the front "
                          "answered 200", interval=0.5)
    evidence.attach("note", f"{n} requests in a row through the front", statuses=statuses)
    return statuses


def untraced_tasks(front: AppClient, n: int) -> list[str]:
    """``n`` tasks created with no trace header (most users' requests): their unique titles."""
    token = new_traceparent()[1][:8]
    titles = [f"untraced {i + 1} of {n} {token}" for i in range(n)]
    for title in titles:
        ok(front.create_task(title), 201)
    evidence.attach("note", f"{n} tasks created without trace context", titles=titles)
    return titles


def slow(front: AppClient, delay: float, n: int = 1) -> None:
    """``n`` calls of the slow endpoint, each asking for ``delay`` seconds."""
    for _ in range(n):
        ok(front.simulate_slow(delay), 200)


def errors(front: AppClient, n: int) -> None:
    statuses = [front.simulate_error()[0] for _ in range(n)]
    assert all(s == 500 for s in statuses), f"the error endpoint answered {statuses}, expected 500 each time"


@dataclass(frozen=True)
class Redeploy:
    """The container id of each service right before and right after a redeploy."""

    before: dict[str, str]
    after: dict[str, str]


def redeploy(lab: Lab) -> Redeploy:
    """Deploy the running lab again, noting the containers on either side of it."""
    before = lab.target.container_ids()
    lab.target.up()
    result = Redeploy(before, lab.target.container_ids())
    evidence.attach("note", "containers before and after the redeploy", before=before, after=result.after)
    return result
