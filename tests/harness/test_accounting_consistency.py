"""The accounting compares each hop within one window of consistent counters (harness.clients.hops's
``snapshot(consistent=True)``, ``movement(bound=...)``; harness.checks.accounting's checks): a loss is
still a loss, long after and quiet; what was in flight while the counters were read, or a batch the
store counted twice, is said as such and is no loss.

The numbers are those of a false red seen on a healthy lab ("the collector sent 206 log records, the
store counted 202"): the collector's counters were read, then VictoriaLogs' /metrics, which it
serves from a cache it makes anew at most once a second — so at the run's last read the log store's
count lagged the collector's by the batch (four records: a scrape's and a request's two) the
collector had sent in the second before."""

from __future__ import annotations

import re
import threading
import time
from types import SimpleNamespace

import pytest

from harness.checks import accounting
from harness.checks.accounting import Account, Accounting
from harness.clients import hops
from harness.clients.hops import (
    ACCEPTED,
    IN_FLIGHT,
    SENT,
    STORE_RECEIVED,
    CollectorView,
    ExporterView,
    PipelineSnapshot,
    StoreView,
)
from harness.drive.load import LoadPlan, LoadRun, Sent
from harness.lab.targets.base import Endpoints
from tests.harness.fake_http import Reply, fake_server

T0 = 1_796_651_000.0
STARTED = T0 - 600.0  # one collector process throughout


def collector(at: float, *, accepted: float, sent: float, in_flight: float = 0.0) -> CollectorView:
    exporter = ExporterView("otlp_http/victorialogs", sent=sent, queue_size=0.0, queue_capacity=5000.0,
                            in_flight=in_flight)
    return CollectorView("test", STARTED, accepted={"logs": accepted}, refused={"logs": 0.0},
                         exporters={"logs": (exporter,)}, read_at=at)


def snap(at: float, first: CollectorView, store: float,
         second: CollectorView | None = None) -> PipelineSnapshot:
    """A snapshot read collector (``first``), store (a second later), collector (``second``)."""
    view = StoreView("victorialogs", store, "log records", "test", at=at + 0.05)
    return PipelineSnapshot(taken_at=at, stores="jaeger-victorialogs", collector=first,
                            store={"logs": view}, collector_after={"logs": second} if second else {})


def accounting_of(snapshots: list[PipelineSnapshot], *, found: int = 160) -> Accounting:
    """The accounting of a run of 80 requests whose log records the stores answered ``found`` of."""
    requests = [Sent(i, f"{i:032x}", T0 + 1 + i * 0.5, 0.01, 200) for i in range(80)]
    run = LoadRun(LoadPlan(2, 40), T0 + 1, T0 + 41, requests, [], snapshots[0])
    by_hop = hops.movement(snapshots)
    wide = hops.movement(snapshots, bound=hops.WIDE)
    settled = hops.movement(snapshots, bound=hops.SETTLED)
    missing = [r.trace_id for r in requests[found // 2:]]
    return Accounting(run, Account("traces", "traces", 80, 80),
                      Account("logs", "log records", 160, found, missing),
                      Account("metrics", "requests", 80, 80), by_hop, 320, 4.0, 20.0, [], wide, settled)


def test_a_store_that_really_has_fewer_fails_even_long_after_and_quiet() -> None:
    """Nothing moved while either end was read (both reads of the collector agree), long after the
    run: four records the collector sent are not in the store's count. A loss, not a race."""
    before = snap(T0, collector(T0, accepted=24, sent=24), 24, collector(T0 + 1.2, accepted=24, sent=24))
    quiet = collector(T0 + 300, accepted=230, sent=230)
    after = snap(T0 + 300, quiet, 226, collector(T0 + 301.2, accepted=230, sent=230))
    acc = accounting_of([before, after], found=60)
    assert acc.in_flight_at_read("logs") == 0 and acc.retried("logs") == 0
    assert acc.lost_to_store("logs") == 4
    with pytest.raises(AssertionError, match=r"the collector sent 206 log records, the store counted 202: "
                                             r"4 lost between the collector and the store"):
        accounting.assert_lost_only_before_collector(acc, "logs", at_most=float("inf"))
    assert "logs, collector → store: sent 206 log records" in acc.table()
    assert "collector → store: the store counted 202 of the 206 log records sent" in acc.placement("logs")


def test_counters_that_differ_only_by_what_was_in_flight_at_read_pass() -> None:
    """Batches of 4 passed while the ends were read: one after the collector's first read and before
    the store's at the start (the store's start count has it, the collector's first read does not),
    one after the store's read at the end. Compared read by read, as the step used to, the store is
    4 short (206 against 202); within one window per hop nothing is short."""
    before = snap(T0, collector(T0, accepted=28, sent=24), 28, collector(T0 + 1.2, accepted=28, sent=28))
    after = snap(T0 + 60, collector(T0 + 60, accepted=234, sent=230), 230,
                 collector(T0 + 61.2, accepted=234, sent=234))
    plain = hops.movement([before.reading("first", "logs"), after.reading("first", "logs")])["logs"]
    assert (plain[SENT], plain[STORE_RECEIVED]) == (206.0, 202.0)  # what the step used to compare
    acc = accounting_of([before, after])
    logs = acc.hops["logs"]
    assert (logs[SENT], acc.widest("logs", SENT), logs[STORE_RECEIVED]) == (202, 210, 202)
    assert acc.in_flight_at_read("logs") == 8 and acc.lost_to_store("logs") == 0
    accounting.assert_lost_only_before_collector(acc, "logs", at_most=float("inf"))
    table = acc.table()
    header = table.splitlines()[0]
    assert "in flight at read" in header and "retried" in header
    assert ("logs, collector → store: sent 202 log records inside the store's window (in flight at read: 8, "
            "so at most 210); the store counted 202: nothing lost; retried: 0 (stored twice)") in table


def test_a_batch_the_store_counted_twice_is_retried_not_lost() -> None:
    """The store took a batch in, its answer never reached the collector (a timeout), the collector
    sent it again: the collector counts it once (after its last retry), the store twice."""
    before = snap(T0, collector(T0, accepted=24, sent=24), 24, collector(T0 + 1.2, accepted=24, sent=24))
    after = snap(T0 + 60, collector(T0 + 60, accepted=230, sent=230), 242,
                 collector(T0 + 61.2, accepted=230, sent=230))
    acc = accounting_of([before, after])
    assert acc.retried("logs") == 12 and acc.lost_to_store("logs") == 0
    accounting.assert_lost_only_before_collector(acc, "logs", at_most=float("inf"))
    assert "nothing lost; retried: 12 (stored twice)" in acc.table()


def test_records_in_the_batch_processor_at_the_last_read_are_not_lost_inside_the_collector() -> None:
    """Accepted but still in the batch processor (500 ms) at the collector's first read: its second
    read, a second later, has them sent. A collector that really kept some fails."""
    before = snap(T0, collector(T0, accepted=24, sent=24), 24, collector(T0 + 1.2, accepted=24, sent=24))
    held = snap(T0 + 60, collector(T0 + 60, accepted=234, sent=230), 230,
                collector(T0 + 61.2, accepted=234, sent=234))
    acc = accounting_of([before, held])
    assert acc.lost_inside("logs") == 0
    accounting.assert_lost_only_before_collector(acc, "logs", at_most=float("inf"))
    kept = snap(T0 + 60, collector(T0 + 60, accepted=234, sent=230), 230,
                collector(T0 + 61.2, accepted=234, sent=230))
    with pytest.raises(AssertionError, match="the collector accepted 210 log records but sent 206"):
        accounting.assert_lost_only_before_collector(accounting_of([before, kept]), "logs",
                                                     at_most=float("inf"))
    retrying = snap(T0 + 60, collector(T0 + 60, accepted=234, sent=230, in_flight=1), 230,
                    collector(T0 + 61.2, accepted=234, sent=230, in_flight=1))
    moved = accounting_of([before, retrying])
    assert moved.hops["logs"][IN_FLIGHT] == 1 and moved.lost_inside("logs") == 0  # not lost: being retried


def test_a_failure_counted_while_the_last_counters_were_read_is_the_runs() -> None:
    before = snap(T0, collector(T0, accepted=24, sent=24), 24, collector(T0 + 1.2, accepted=24, sent=24))
    exporter = ExporterView("otlp_http/victorialogs", sent=230, send_failed=4, queue_size=0.0, in_flight=0.0)
    failing = CollectorView("test", STARTED, accepted={"logs": 234.0}, refused={"logs": 0.0},
                            exporters={"logs": (exporter,)}, read_at=T0 + 61.2)
    after = snap(T0 + 60, collector(T0 + 60, accepted=234, sent=230, in_flight=1), 230, failing)
    with pytest.raises(AssertionError, match="logs: 4 log records failed to send"):
        accounting.assert_collector_clean(accounting_of([before, after]), signals=("logs",))


def test_a_store_count_older_than_the_collectors_read_is_said_unverified() -> None:
    before = snap(T0, collector(T0, accepted=24, sent=24), 24, collector(T0 + 1.2, accepted=24, sent=24))
    after = snap(T0 + 60, collector(T0 + 60, accepted=230, sent=230), 226)
    acc = accounting_of([before, after])
    acc.hops["logs"][accounting.STORE_READ_EARLY] = 1.0
    with pytest.raises(AssertionError, match=r"4 lost between .* may predate the collector's read"):
        accounting.assert_lost_only_before_collector(acc, "logs", at_most=float("inf"))


# ------------------------------------------------------------------------------ the reads, timed


class Pipeline:
    """A collector and a VictoriaLogs behind fake HTTP servers: a probe batch of 4 log records is sent
    and ingested every 0.3 s; VictoriaLogs serves /metrics from a cache it makes anew at most once a
    second, when asked, as VictoriaMetrics' lib/appmetrics does."""

    def __init__(self) -> None:
        self.started = time.time()
        self.lock = threading.Lock()
        self.cache: tuple[float, str] | None = None  # (made at, page)
        self.reads: list[tuple[str, float, float]] = []  # (what, when, count it answered)

    def sent(self, at: float) -> float:
        return 4.0 * int((at - self.started) / 0.3)

    def collector(self, _request: object) -> Reply:
        now = time.time()
        sent = self.sent(now)
        self.reads.append(("collector", now, sent))
        return Reply(body=(
            f'otelcol_receiver_accepted_log_records{{receiver="otlp"}} {sent}\n'
            f'otelcol_exporter_sent_log_records{{exporter="otlp_http/victorialogs"}} {sent}\n'
            f'otelcol_exporter_queue_size{{data_type="logs",exporter="otlp_http/victorialogs"}} 0\n'
            f'otelcol_exporter_in_flight_requests{{data_type="logs",exporter="otlp_http/victorialogs"}} 0\n'
            f"otelcol_process_uptime{{}} {now - self.started + 100}\n"))

    def victorialogs(self, _request: object) -> Reply:
        now = time.time()
        with self.lock:
            if self.cache is None or now - self.cache[0] > 1.0:
                page = (f'vl_rows_ingested_total{{type="opentelemetry_protobuf"}} {self.sent(now)}\n'
                        f"vm_app_uptime_seconds {int(now - self.started) + 100}\n")
                self.cache = (now, page)
            made, page = self.cache
        self.reads.append(("victorialogs", now, self.sent(made)))
        return Reply(body=page)


def test_a_consistent_snapshot_reads_the_store_after_its_count_caught_up_with_the_collector() -> None:
    """VictoriaLogs' count read right after the collector's lags it (its page is up to a second
    old); the page read once it changed was made after the collector's read, so it holds all the
    collector had sent then — and the collector's second read holds all the store counted. The
    collector is read just before the page is due to be made anew, so little passes between."""
    fake = Pipeline()
    with fake_server() as col, fake_server() as logs:
        col.route("GET", "/metrics", fake.collector)
        logs.route("GET", "/metrics", fake.victorialogs)
        dead = "http://127.0.0.1:9"
        urls = dict(frontend=dead, backend=dead, prometheus=dead, traces=dead, logs=logs.url,
                    collector_health=dead, collector_metrics=col.url)
        lab = SimpleNamespace(endpoints=Endpoints(target="docker", stores="jaeger-victorialogs", **urls))
        fake.victorialogs(None)  # a page made now: a plain read 0.65 s later answers it
        time.sleep(0.65)
        plain = hops.snapshot(lab)
        time.sleep(0.7)
        first = hops.snapshot(lab, consistent=True)
        time.sleep(0.7)
        last = hops.snapshot(lab, consistent=True)
    assert plain.store["logs"].received < plain.collector.exporters["logs"][0].sent  # the race
    for s in (first, last):
        assert s.collector is not None and s.collector.read_at is not None
        assert s.store_settled("logs") is True
        c1 = s.collector.exporters["logs"][0].sent
        c2 = s.collector_after["logs"].exporters["logs"][0].sent
        assert c1 <= s.store["logs"].received <= c2
        # the collector was read just before the page's next making: the two stand close together
        assert s.store["logs"].at - s.collector.read_at < 0.5
        # and once more when what the first read counted as accepted has left the batch processor
        assert s.collector_settled is not None
        assert s.collector_settled.read_at - s.collector.read_at >= hops.DELIVERY_S
    reads = [what for what, _, _ in fake.reads[3:]]  # the consistent snapshots' reads
    assert reads.count("collector") == 6  # first, after the store's, settled: of each
    logs = hops.movement([first, last])["logs"]
    wide = hops.movement([first, last], bound=hops.WIDE)["logs"]
    assert logs[SENT] <= logs[STORE_RECEIVED] <= wide[SENT]
    assert logs[ACCEPTED] == logs[SENT]


def test_a_consistent_snapshot_waits_for_a_scrape_of_the_store_after_the_collectors_read() -> None:
    """Jaeger's count comes through Prometheus: the scrape used is one taken after the collector's read."""
    started = time.time()
    asked: list[float] = []

    def prometheus(request) -> Reply:
        query = request.param("query") or ""
        now = time.time()
        if 'job="jaeger"' not in query:
            return Reply(body={"status": "success", "data": {"resultType": "vector", "result": []}})
        asked.append(now)
        scraped = started + 2.0 * int((now - started) / 2.0)  # every 2 s from the start
        series = {"__name__": "otelcol_receiver_accepted_spans", "job": "jaeger", "transport": "grpc"}
        return Reply(body={"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": series, "values": [[scraped - 2.0, "90"], [scraped, str(100 + scraped - started)]]}]}})

    with fake_server() as col, fake_server() as prom:
        col.route("GET", "/metrics", Reply(body=(
            'otelcol_receiver_accepted_spans{receiver="otlp"} 5\n'
            'otelcol_exporter_sent_spans{exporter="otlp_grpc/jaeger"} 5\n')))
        prom.route("GET", "/api/v1/query", prometheus)
        dead = "http://127.0.0.1:9"
        urls = dict(frontend=dead, backend=dead, prometheus=prom.url, traces=dead, logs=dead,
                    collector_health=dead, collector_metrics=col.url)
        lab = SimpleNamespace(endpoints=Endpoints(target="docker", stores="jaeger-victorialogs", **urls))
        time.sleep(0.3)
        s = hops.snapshot(lab, consistent=True)
    store = s.store["traces"]
    assert s.collector is not None and s.collector.read_at is not None and store.at is not None
    assert store.at >= s.collector.read_at  # a scrape after the read, not the one before it
    assert len(asked) >= 2 and store.received == pytest.approx(100 + store.at - started)
    assert s.store_settled("traces") is True
    assert not any(re.search("no scrape", p) for p in s.problems)
