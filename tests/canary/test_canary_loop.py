"""The canary's schedule (app/canary/pipeline_canary/__main__.py): a round every interval on a fixed
grid, a failing round logged and the next one run, a slow round not shifting the grid, stop honoured."""

from __future__ import annotations

import threading
import time

from pipeline_canary.__main__ import every


def test_rounds_on_a_fixed_grid_go_on_after_a_failure_and_stop_when_asked() -> None:
    stop = threading.Event()
    at: list[float] = []

    def work() -> None:
        at.append(time.monotonic())
        if len(at) == 2:
            raise RuntimeError("one bad round")
        if len(at) == 3:
            time.sleep(0.3)  # a slow round: the next one keeps to the grid, the missed slot is skipped
        if len(at) == 6:
            stop.set()

    runner = threading.Thread(target=every, args=(0.2, stop, work, "test"))
    runner.start()
    runner.join(timeout=5)
    assert not runner.is_alive()
    assert len(at) == 6
    offsets = [round((t - at[0]) / 0.2) for t in at]
    assert offsets == [0, 1, 2, 4, 5, 6]
