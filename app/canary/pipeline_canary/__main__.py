"""``python -m pipeline_canary``: /metrics on CANARY_PORT, one thread emitting a probe every interval,
one reading them back every check interval. SIGTERM flushes the SDK's queues and stops."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Callable

from prometheus_client import start_http_server

from pipeline_canary.emit import Emitter, build_providers
from pipeline_canary.metrics import make_metrics
from pipeline_canary.readback import METRICS_TARGET, Readback, targets_of
from pipeline_canary.settings import Settings, SettingsError
from pipeline_canary.tracker import Target, Tracker

log = logging.getLogger("pipeline_canary")


def every(interval_s: float, stop: threading.Event, work: Callable[[], None], what: str) -> None:
    """Run ``work`` every ``interval_s`` on a fixed schedule (a slow round does not shift the next ones
    later; rounds missed while it ran are skipped) until ``stop`` is set."""
    next_at = time.monotonic()
    while not stop.is_set():
        try:
            work()
        except Exception:  # one bad round must not end the canary
            log.exception("%s failed", what)
        next_at += interval_s
        now = time.monotonic()
        if next_at < now:
            next_at = now + interval_s - (now - next_at) % interval_s
        stop.wait(next_at - now)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        log.error("%s", exc)
        return 2
    started = time.time()
    metrics = make_metrics()
    tracker = Tracker(targets_of(settings.stores), metrics, budget_s=settings.budget_s,
                      late_window_s=settings.late_window_s)
    tracer_provider, logger_provider = build_providers(settings.otlp_endpoint)
    emitter = Emitter(tracer_provider, logger_provider, metrics, METRICS_TARGET)
    readback = Readback(settings, tracker, started)
    start_http_server(settings.port, registry=metrics.registry)
    log.info("pipeline canary: a probe every %gs to %s, read back every %gs from %s (budget %gs); "
             "/metrics on :%d", settings.interval_s, settings.otlp_endpoint, settings.check_interval_s,
             ", ".join(f"{t.signal} in {t.store}" for t in tracker.targets), settings.budget_s, settings.port)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    def probe() -> None:
        tracker.sent(emitter.emit())

    threads = [threading.Thread(target=every, name="emit", daemon=True,
                                args=(settings.interval_s, stop, probe, "emit"))]
    for target in tracker.targets:  # one reader per store: a store that hangs delays only itself
        def check(target: Target = target) -> None:
            readback.check(target, time.time)

        threads.append(threading.Thread(target=every, name=f"read {target.signal}", daemon=True,
                                        args=(settings.check_interval_s, stop, check,
                                              f"read-back of {target.signal} in {target.store}")))
    for thread in threads:
        thread.start()
    every(settings.check_interval_s, stop, lambda: tracker.expire(time.time()), "budget")
    for thread in threads:
        thread.join(timeout=5)
    tracer_provider.shutdown()
    logger_provider.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
