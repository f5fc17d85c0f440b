"""Admission control for the app's deliberately expensive endpoints (/api/simulate-slow, /api/smoke/db).

Each kind gets a fixed number of slots. A request that finds them all taken is answered at once
with a JSON 503 and `Retry-After`, instead of queueing for a thread: a flood of slow calls then
costs a few threads, never all of them, and normal requests keep theirs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from taskapp.validation import ApiError

RETRY_AFTER_S = 1


class Admission:
    """At most `limit` requests of one kind at once (non-blocking: the next one is refused)."""

    def __init__(self, kind: str, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"the {kind} concurrency limit must be at least 1, got {limit}")
        self.kind = kind
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the duration of the block, or raise a 503 ApiError right away."""
        if not self._slots.acquire(blocking=False):
            raise ApiError(
                503,
                f"busy: {self.limit} {self.kind} request(s) already running; retry in {RETRY_AFTER_S} s",
                {"Retry-After": str(RETRY_AFTER_S)},
            )
        try:
            yield
        finally:
            self._slots.release()
