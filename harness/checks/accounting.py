"""The accounting of a load run, per signal: what was sent, what each hop counted, what the stores
have, what is lost and at which hop — app → collector, inside the collector, collector → store, or
in the store after it took the data in.

- traces: every request's trace by its id, each with its server span and its SQL span;
- logs: every request's "Incoming request" and "Request completed" records by trace id;
- metrics: the app's request counter as Prometheus has it, against the requests sent;
- the hops: :func:`harness.clients.hops.movement` over the run's snapshots (before, right before each
  fault, after the pipeline settled). The first and the last are consistent snapshots (the
  collector read before and after each store's count), so each hop is compared within one window:
  what the collector certainly sent inside the store's window must all be in the store's count
  (short of it: lost, never a race); what it may have sent there is the most the store can count
  (beyond it: a retried batch stored twice); the difference was in flight while the counters were
  read.

The stores are asked until everything is found, or until nothing has arrived for a while with the
collector's queues empty, or until the settle timeout — so data the collector is still retrying
counts as found when it lands, and a loss is final only when nothing is left in flight.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.base import evidence, observes, timeouts
from harness.base.errors import LabError
from harness.base.waiting import scaled
from harness.checks.traces import SERVICE, server_span, sql_descendant
from harness.clients import hops
from harness.clients.hops import (
    ACCEPTED,
    AGENT_ACCEPTED,
    AGENT_ENQUEUE_FAILED,
    AGENT_IN_FLIGHT,
    AGENT_QUEUE_SIZE,
    AGENT_REFUSED,
    AGENT_RESTARTED,
    AGENT_SEND_FAILED,
    AGENT_SENT,
    APP_ALL_REQUESTS,
    APP_REQUESTS,
    COLLECTOR_RESTARTED,
    ENQUEUE_FAILED,
    IN_FLIGHT,
    LIMITER_REFUSED,
    PROMETHEUS_REQUESTS,
    QUEUE_SIZE,
    RECEIVER_FAILED,
    REFUSED,
    SEND_FAILED,
    SENT,
    SETTLED,
    STORE_RECEIVED,
    STORE_RESTARTED,
    WIDE,
)
from harness.clients.model import Trace
from harness.drive.load import ROUTE, Burst, LoadAction, LoadRun

if TYPE_CHECKING:
    from harness.lab.lifecycle import Lab

LOG_TEXTS = ("Incoming request", "Request completed")
# A bound on waiting after the run, not on the collector: its retries (max_elapsed_time 300 s)
# go on after it, so what is still queued then reads as missing, with the queue size in the table.
# The scenarios' faults end before the run does, and a queue drains within seconds of its store's return.
SETTLE_TIMEOUT_S = timeouts.base("settle")
QUIET_S = 20.0  # nothing new for this long with empty queues: what is missing is lost
POLL_S = 2.0
# what the settle watches for progress (its seen tuple, in order)
_PROGRESS = ("items found", "Prometheus requests", "collector spans accepted", "collector spans sent",
             "store spans received")
LOOKUP_WORKERS = 4
# A mark in Accounting.hops: the last snapshot's store count may predate the collector's read (no
# Prometheus scrape of the store after it in time), so a shortfall there is not a proven loss.
STORE_READ_EARLY = "store.read_early"


def check_trace(trace: Trace | None) -> str | None:
    """None when the trace has the request's server span with a SQL span below it; else what lacks."""
    if trace is None or not trace.spans:
        return "not in the trace store"
    try:
        sql_descendant(trace, server_span(trace, *ROUTE))
    except AssertionError as exc:
        return str(exc).split(";")[0]
    return None


@dataclass
class Account:
    """One signal of one run: expected and found, in ``unit``."""

    signal: str
    unit: str
    expected: int
    found: int
    missing: list[str] = field(default_factory=list)  # trace ids of what was not (wholly) found
    notes: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return max(self.expected - self.found, 0)

    @property
    def lost_pct(self) -> float:
        return 100.0 * self.lost / self.expected if self.expected else 0.0


@dataclass
class Accounting:
    """The whole accounting of one run."""

    run: LoadRun
    traces: Account
    logs: Account
    metrics: Account
    hops: dict[str, dict[str, float]]
    spans_found: int
    spans_per_trace: float
    settled_after_s: float
    problems: list[str] = field(default_factory=list)
    # the hops over the wider windows the consistent snapshots allow; empty: the same as hops.
    # wide: all the collector may have counted while each store counted (movement(bound="wide"));
    # settled: up to the collector's read after it had handed on what it accepted ("settled")
    wide: dict[str, dict[str, float]] = field(default_factory=dict)
    settled: dict[str, dict[str, float]] = field(default_factory=dict)
    # why the settle ended, and what moved last and when (a long settle says what it waited on)
    settle_story: str = ""

    @property
    def accounts(self) -> dict[str, Account]:
        """Signal -> its account: the signals this accounting counts item by item (a signal of the
        catalogue without one here is in the hop counters only)."""
        return {a.signal: a for a in (self.traces, self.logs, self.metrics)}

    def account(self, signal: str) -> Account:
        return self.accounts[signal]

    # ------------------------------------------------------------------------- collector → store
    def widest(self, signal: str, hop: str) -> float | None:
        """What counter ``hop`` moved at most from the run's first counters to its last (``hops``
        holds the least): the settled window, which holds the others."""
        for bounds in (self.settled, self.wide):
            if hop in bounds.get(signal, {}):
                return bounds[signal][hop]
        return self.hops[signal].get(hop)

    def sent_at_most(self, signal: str) -> float | None:
        """All the collector may have sent while the store counted (the wide window)."""
        return self.wide.get(signal, {}).get(SENT, self.hops[signal].get(SENT))

    def failed(self, signal: str) -> float:
        """Items that failed after the retries or found the sending queue full (widest window)."""
        return sum(self.widest(signal, hop) or 0.0 for hop in (SEND_FAILED, ENQUEUE_FAILED))

    def in_flight_at_read(self, signal: str) -> float:
        """Items the collector counted as sent while the first or last counters were being read: the
        store's count may hold them or not, so they are neither found nor lost by the counters."""
        narrow, wide = self.hops[signal].get(SENT), self.sent_at_most(signal)
        return max(wide - narrow, 0.0) if narrow is not None and wide is not None else 0.0

    def retried(self, signal: str) -> float:
        """Items the store counted beyond all the collector may have sent in its window: a batch the
        store took in although the collector saw it fail, sent again and stored twice. (The
        collector's ``sent`` counts a request once, after its last retry, so it never counts twice.)"""
        h = self.hops[signal]
        received, wide = h.get(STORE_RECEIVED), self.sent_at_most(signal)
        if received is None or wide is None or h.get(STORE_RESTARTED):
            return 0.0
        return max(received - wide, 0.0)

    def lost_to_store(self, signal: str) -> float:
        """Items the collector certainly sent inside the store's window and the store did not count:
        lost between the two. The window's counters are one consistent snapshot per hop, so this is
        no race; what was in flight at a read is outside it."""
        h = self.hops[signal]
        sent, received = h.get(SENT), h.get(STORE_RECEIVED)
        if sent is None or received is None or h.get(STORE_RESTARTED):
            return 0.0
        return max(sent - received, 0.0)

    def lost_inside(self, signal: str) -> float:
        """Items the collector certainly accepted and neither sent, failed nor found its queue full for,
        though the run's end left nothing queued or in flight (less ~2 s of traffic across a restart of
        the collector, whose counters then miss what moved between the last look and the stop)."""
        h = self.hops[signal]
        accepted, sent = h.get(ACCEPTED), self.widest(signal, SENT)
        if accepted is None or sent is None or h.get(QUEUE_SIZE) or h.get(IN_FLIGHT):
            return 0.0
        handed_on = sent + self.failed(signal)
        slack = 2 * accepted / max(self.run.ended_at - self.run.started_at, 1.0) \
            if h.get(COLLECTOR_RESTARTED) else 0.0
        return max(accepted - handed_on - slack, 0.0)

    def store_hop(self, signal: str) -> str | None:
        """The collector → store comparison in one sentence, None when either was not read."""
        h = self.hops[signal]
        noun = hops.NOUNS[signal]
        sent, received, wide = h.get(SENT), h.get(STORE_RECEIVED), self.sent_at_most(signal)
        if sent is None or received is None or wide is None:
            return None
        text = (f"{signal}, {self.collector_name} → store: sent {sent:.0f} {noun} inside the store's window "
                f"(in flight at read: {self.in_flight_at_read(signal):.0f}, so at most {wide:.0f}); "
                f"the store counted {received:.0f}")
        if h.get(STORE_RESTARTED):
            return text + " (it restarted: its count is not comparable)"
        lost = self.lost_to_store(signal)
        if lost:
            text += f": {lost:.0f} lost between the collector and the store"
            if h.get(STORE_READ_EARLY):
                text += " (or not yet counted: its count predates the collector's read)"
            return text
        return text + f": nothing lost; retried: {self.retried(signal):.0f} (stored twice)"

    # ------------------------------------------------------------------------------- where it went
    def expected_items(self, signal: str) -> float | None:
        """What the app should have handed the collector in the collector's unit (spans, log records)."""
        if signal == "traces":
            return self.spans_per_trace * self.traces.expected if self.spans_per_trace else None
        all_requests = self.hops["logs"].get(APP_ALL_REQUESTS)
        return 2 * all_requests if all_requests is not None else None

    def placement(self, signal: str) -> str:
        """Where this signal's loss happened, from the hops' counters (one sentence)."""
        account = self.account(signal)
        if signal == "metrics":
            h = self.hops["metrics"]
            if not account.lost:
                return "nothing lost"
            app, prom = h.get(APP_REQUESTS), h.get(PROMETHEUS_REQUESTS)
            if app is not None and app < account.expected:
                return f"before the app: it counted {app:.0f} of {account.expected} requests"
            return f"between the app and Prometheus: the app counted {_n(app)}, Prometheus {_n(prom)}"
        h = self.hops[signal]
        if not account.lost:
            restarts = [what for key, what in ((COLLECTOR_RESTARTED, "the collector"),
                                               (STORE_RESTARTED, "the store")) if h.get(key)]
            return "nothing lost" + (f" ({' and '.join(restarts)} restarted)" if restarts else "")
        noun = hops.NOUNS[signal]
        c = self.collector_name
        places = self.agent_places(signal) if self.split else []
        expected = self.expected_items(signal)
        accepted = h.get(ACCEPTED)
        refused = h.get(REFUSED, 0.0) + h.get(RECEIVER_FAILED, 0.0)
        before = "agent → gateway" if self.split else "app → collector"
        if refused:
            limiter = h.get(LIMITER_REFUSED, 0.0)
            places.append(f"{before}: the {c} refused {refused:.0f} {noun}"
                          + (f" ({limiter:.0f} by its memory_limiter)" if limiter else ""))
        if (not self.split and accepted is not None and expected is not None
                and _short_of(accepted + refused, expected)):
            places.append(f"app → collector: the collector took in {accepted:.0f} of ~{expected:.0f} {noun}"
                          " (the app's SDK could not deliver the rest)")
        sent = h.get(SENT)
        failed, full = self.widest(signal, SEND_FAILED) or 0.0, self.widest(signal, ENQUEUE_FAILED) or 0.0
        if self.lost_inside(signal):
            places.append(f"{'in the gateway' if self.split else 'inside the collector'}: it accepted "
                          f"{accepted:.0f} {noun} and sent {self.widest(signal, SENT):.0f}")
        if failed or full:
            places.append(f"{c} → store: {failed:.0f} {noun} failed after the retries, "
                          f"{full:.0f} found the sending queue full")
        received = h.get(STORE_RECEIVED)
        store_restarted = bool(h.get(STORE_RESTARTED))
        if self.lost_to_store(signal):
            places.append(f"{c} → store: the store counted {received:.0f} of the {sent:.0f} "
                          f"{noun} sent")
        found_items = self.spans_found if signal == "traces" else account.found
        if not places and received is not None and _short_of(found_items, received):
            since = " (since it restarted)" if store_restarted else ""
            places.append(f"in the store: it took in {received:.0f} {noun}{since} but answers with "
                          f"{found_items} of this run's (it lost what it held)")
        if not places:
            places.append(f"in the store: every hop passed the {noun} on, but {account.lost} of "
                          f"{account.expected} {account.unit} are not there "
                          "(a store that lost what it held?)")
        return "; ".join(places)

    # ------------------------------------------------------------------ the agent (split topology)
    @property
    def split(self) -> bool:
        """The lab had an agent on an app host (its counters were read)."""
        return any(AGENT_ACCEPTED in self.hops[s] or AGENT_SENT in self.hops[s] for s in observes.COLLECTED)

    @property
    def collector_name(self) -> str:
        """How the table names the collector beside the stores: the gateway when there is an agent."""
        return "gateway" if self.split else "collector"

    def agent_failed(self, signal: str) -> float:
        h = self.hops[signal]
        return h.get(AGENT_SEND_FAILED, 0.0) + h.get(AGENT_ENQUEUE_FAILED, 0.0)

    def lost_on_link(self, signal: str) -> float:
        """Items the agent sent that the gateway did not take in (accepted or refused): lost between
        the two hosts. The agent is read right before the gateway, so the gateway's count holds all
        the agent had sent by then; beyond counting noise (``_short_of``) is a loss."""
        h = self.hops[signal]
        sent, accepted = h.get(AGENT_SENT), h.get(ACCEPTED)
        if sent is None or accepted is None or h.get(AGENT_RESTARTED) or h.get(hops.COLLECTOR_RESTARTED):
            return 0.0
        taken = accepted + h.get(REFUSED, 0.0) + h.get(RECEIVER_FAILED, 0.0)
        return sent - taken if _short_of(taken, sent) else 0.0

    def agent_places(self, signal: str) -> list[str]:
        """Where a loss happened before the gateway: app → agent, in the agent, agent → gateway."""
        h, noun = self.hops[signal], hops.NOUNS[signal]
        places = []
        expected, accepted = self.expected_items(signal), h.get(AGENT_ACCEPTED)
        refused = h.get(AGENT_REFUSED, 0.0)
        if refused:
            places.append(f"app → agent: the agent refused {refused:.0f} {noun}")
        if accepted is not None and expected is not None and _short_of(accepted + refused, expected):
            places.append(f"app → agent: the agent took in {accepted:.0f} of ~{expected:.0f} {noun} "
                          "(the app's SDK could not deliver the rest)")
        sent = h.get(AGENT_SENT)
        queued = h.get(AGENT_QUEUE_SIZE, 0.0) + h.get(AGENT_IN_FLIGHT, 0.0)
        # across a restart of the agent its counters miss ~2 s of traffic (see lost_inside)
        slack = 2 * (accepted or 0.0) / max(self.run.ended_at - self.run.started_at, 1.0) \
            if h.get(AGENT_RESTARTED) else 0.0
        if accepted is not None and sent is not None and not queued \
                and _short_of(sent + self.agent_failed(signal) + slack, accepted):
            places.append(f"in the agent: it accepted {accepted:.0f} {noun} and sent {sent:.0f}"
                          + (" (it restarted: what it held was lost)" if h.get(AGENT_RESTARTED) else ""))
        if queued:
            places.append(f"agent → gateway: {queued:.0f} requests of {noun} still queued or in flight "
                          "in the agent when the counters closed (the gateway does not take them)")
        if self.agent_failed(signal):
            places.append(f"agent → gateway: {h.get(AGENT_SEND_FAILED, 0.0):.0f} {noun} failed after the "
                          f"retries, {h.get(AGENT_ENQUEUE_FAILED, 0.0):.0f} found the agent's queue full")
        if self.lost_on_link(signal):
            places.append(f"agent → gateway (the link): the gateway took in {h.get(ACCEPTED, 0.0):.0f} of "
                          f"the {sent:.0f} {noun} the agent sent")
        return places

    def agent_line(self) -> str:
        """The agent and the link in one line per signal, and the agent's queue over the run."""
        lines = []
        for signal in observes.COLLECTED:
            h, noun = self.hops[signal], hops.NOUNS[signal]
            lines.append(
                f"{signal}, app → agent → link → gateway: the agent accepted {_n(h.get(AGENT_ACCEPTED))} "
                f"{noun}, refused {_n(h.get(AGENT_REFUSED))}, sent {_n(h.get(AGENT_SENT))}, send failed "
                f"{_n(h.get(AGENT_SEND_FAILED))}, queue full {_n(h.get(AGENT_ENQUEUE_FAILED))}, queued at "
                f"the end {_n(h.get(AGENT_QUEUE_SIZE))}; the gateway took in {_n(h.get(ACCEPTED))}: "
                + (f"{self.lost_on_link(signal):.0f} lost on the link" if self.lost_on_link(signal)
                   else "nothing lost on the link"))
        lines.append(hops.queue_story(self.run.agent_queue, self.run.started_at))
        return "\n".join(lines)

    def queue_peak(self) -> float:
        return max((p.queued for p in self.run.agent_queue), default=0.0)

    # ---------------------------------------------------------------------------------- the table
    def rows(self) -> list[dict[str, object]]:
        """One row per signal and unit: sent, each hop, found, lost, where."""
        out = []
        for signal in ("traces", "logs"):  # each counted its own way below (trace ids; log records)
            account, h = self.account(signal), self.hops[signal]
            items = self.expected_items(signal)
            out.append({
                "signal": signal, "unit": account.unit, "view": "by trace id", "sent": account.expected,
                "app": h.get(APP_REQUESTS) if signal == "traces" else h.get(APP_ALL_REQUESTS, 0) * 2,
                "found": account.found, "lost": account.lost, "lost_pct": round(account.lost_pct, 2),
                "lost_at": self.placement(signal),
            })
            if self.split:
                out.append({
                    "signal": signal, "unit": hops.NOUNS[signal],
                    "view": "agent (app host)" + (" (probes too)" if signal == "logs" else ""),
                    "sent": round(items) if items is not None else None,
                    "accepted": h.get(AGENT_ACCEPTED), "refused": h.get(AGENT_REFUSED),
                    "sent_to_store": h.get(AGENT_SENT), "send_failed": h.get(AGENT_SEND_FAILED),
                    "queue_full": h.get(AGENT_ENQUEUE_FAILED), "queue_left": h.get(AGENT_QUEUE_SIZE),
                    "store_received": h.get(ACCEPTED), "lost": self.lost_on_link(signal),
                })
            out.append({
                "signal": signal, "unit": hops.NOUNS[signal],
                "view": ("gateway (obs host)" if self.split else "hop counters")
                + (" (probes too)" if signal == "logs" else ""),
                "sent": round(items) if items is not None else None,
                "accepted": h.get(ACCEPTED), "refused": h.get(REFUSED, 0) + h.get(RECEIVER_FAILED, 0),
                "sent_to_store": h.get(SENT), "in_flight": self.in_flight_at_read(signal),
                "send_failed": self.widest(signal, SEND_FAILED),
                "queue_full": self.widest(signal, ENQUEUE_FAILED), "queue_left": h.get(QUEUE_SIZE),
                "store_received": h.get(STORE_RECEIVED), "retried": self.retried(signal),
                "found": self.spans_found if signal == "traces" else self.logs.found,
            })
        m = self.hops["metrics"]
        out.append({"signal": "metrics", "unit": hops.NOUNS["metrics"], "view": "request counter",
                    "sent": self.metrics.expected,
                    "app": m.get(APP_REQUESTS), "store_received": m.get(PROMETHEUS_REQUESTS),
                    "found": self.metrics.found, "lost": self.metrics.lost,
                    "lost_pct": round(self.metrics.lost_pct, 2), "lost_at": self.placement("metrics")})
        return out

    def table(self) -> str:
        """The rows as a fixed-width text table (the report's evidence block)."""
        columns = [("signal", "signal"), ("unit", "unit"), ("view", "seen as"), ("sent", "sent"),
                   ("app", "app"),
                   ("accepted", "agent/gateway accepted" if self.split else "collector accepted"),
                   ("refused", "refused"), ("sent_to_store", "sent on"),
                   ("in_flight", "in flight at read"), ("send_failed", "send failed"),
                   ("queue_full", "queue full"), ("queue_left", "queued"),
                   ("store_received", "store/Prometheus got"), ("retried", "retried"), ("found", "found"),
                   ("lost", "lost")]
        cells = [[title for _, title in columns]]
        for row in self.rows():
            cells.append([_n(row.get(key)) if key not in ("signal", "unit", "view") else str(row[key])
                          for key, _ in columns])
        widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
        lines = ["  ".join(c.rjust(w) if i > 2 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths,
                                                                                                strict=True)))
                 for r in cells]
        lines.append("")
        for signal in self.accounts:
            lines.append(f"{signal}: {self.placement(signal)}")
        lines.extend(line for line in (self.store_hop("traces"), self.store_hop("logs")) if line)
        if self.split:
            lines.append(self.agent_line())
            lines.append("(the agent's rows: \"sent on\" is what it sent across the link, \"store/Prometheus "
                         "got\" what the gateway took in, \"lost\" what the link lost)")
        lines.append(f"(collector log records include the lab's probes and scrapes; a trace is found when it "
                     f"has its server span and SQL span; settled after {self.settled_after_s:.0f} s"
                     f"{self.settle_story}; the first and last counters are read collector, store, "
                     "collector: \"sent on\" is what the collector certainly sent while the store "
                     "counted, \"in flight at read\" what it sent while they were read, \"retried\" what "
                     "the store counted twice)")
        return "\n".join(lines)

    def attach(self) -> None:
        run = self.run
        evidence.attach(
            "table", f"telemetry accounting of {len(run.requests)} requests ({run.plan})",
            table=self.table(), run=run.summary(),
            traces_missing=self.traces.missing[:20], log_records_missing=self.logs.missing[:20],
            problems=self.problems,
        )


def _short_of(have: float, want: float) -> bool:
    """``have`` falls short of ``want`` by more than counting noise (in flight, probes): 0.5 % or 2."""
    return have < want - max(2.0, 0.005 * want)


def _n(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() else f"{value:.1f}"
    return str(value)


# ------------------------------------------------------------------------------------- asking


class _Lookups:
    """The stores' answers for the run's trace ids, asked again only for what is still missing."""

    def __init__(self, lab: Lab, run: LoadRun):
        self.lab = lab
        self.run = run
        self.ids = [r.trace_id for r in run.requests if r.ok]
        self.traces: dict[str, str | None] = dict.fromkeys(self.ids, "not looked up")  # id -> what lacks
        self.span_counts: dict[str, int] = {}
        self.records: dict[str, set[str]] = {i: set() for i in self.ids}
        self.problems: list[str] = []

    def missing_traces(self) -> list[str]:
        return [i for i, lack in self.traces.items() if lack is not None]

    def missing_records(self) -> list[str]:
        return [i for i, texts in self.records.items() if len(texts) < len(LOG_TEXTS)]

    def found(self) -> int:
        traces = sum(1 for lack in self.traces.values() if lack is None)
        return traces + sum(len(t) for t in self.records.values())

    def look(self) -> None:
        """One round: the missing traces one by one (in parallel), the log records in bulk. Leaves no
        evidence per lookup (thousands): the accounting's table is the evidence."""

        def one(trace_id: str) -> tuple[str, str | None, int]:
            try:
                trace = self.lab.traces.get_trace(trace_id)
            except (OSError, LabError) as exc:
                return trace_id, f"lookup failed: {exc}", 0
            return trace_id, check_trace(trace), len(trace.spans) if trace else 0

        with evidence.capture():
            with ThreadPoolExecutor(max_workers=LOOKUP_WORKERS, thread_name_prefix="lab-lookup") as pool:
                for trace_id, lack, spans in pool.map(one, self.missing_traces()):
                    self.traces[trace_id] = lack
                    if spans:
                        self.span_counts[trace_id] = spans
            self._look_logs()

    def _look_logs(self) -> None:
        lookback = int(time.time() - self.run.started_at) + 120
        wanted = set(self.missing_records())
        if not wanted:
            return
        for text in LOG_TEXTS:
            limit = 2 * len(self.ids) + 2000
            try:
                records = self.lab.logs.query(SERVICE, text=text, lookback_s=lookback, limit=limit)
            except (OSError, LabError) as exc:
                self.problems.append(f"log store query for {text!r} failed: {exc}")
                continue
            for record in records:
                if record.trace_id in wanted and text in record.body:
                    self.records[record.trace_id].add(text)
            if len(records) >= limit:
                self.problems.append(f"the log store answered the limit ({limit}) for {text!r}: "
                                     "records may be missing from the answer, not from the store")


def account(lab: Lab, run: LoadRun, *, settle_timeout: float = SETTLE_TIMEOUT_S,
            quiet: float = QUIET_S) -> Accounting:
    """Ask the stores until the run's telemetry is all there or nothing more arrives, then count."""
    started = time.monotonic()
    deadline = started + scaled(settle_timeout)
    lookups = _Lookups(lab, run)
    last_seen: tuple[float, ...] = ()
    last_progress = time.monotonic()
    moved_last: list[str] = []
    story = ""
    ok = len(lookups.ids)
    while True:
        lookups.look()
        now_snapshot = hops.snapshot(lab)
        moved = hops.movement([*run.snapshots, now_snapshot])
        prom = moved["metrics"].get(PROMETHEUS_REQUESTS, 0.0)
        complete = not lookups.missing_traces() and not lookups.missing_records() and prom >= ok
        # progress is what the lookups find and what the span counters of the collector and the
        # trace store count (a late span of a trace that is not whole moves only those; the log
        # counters are left out: the lab's probes and scrapes log all the time)
        seen = (float(lookups.found()), prom,
                 *(moved["traces"].get(k, 0.0) for k in (ACCEPTED, SENT, STORE_RECEIVED)))
        if seen != last_seen:
            before = last_seen or (None,) * len(seen)
            moved_last = [name for name, a, b in zip(_PROGRESS, seen, before, strict=True) if a != b]
            last_seen, last_progress = seen, time.monotonic()
        # a batch in retry backoff is in flight, not necessarily queued
        queued = sum(moved[s].get(hop, 0.0) for s in observes.COLLECTED
                     for hop in (QUEUE_SIZE, IN_FLIGHT, AGENT_QUEUE_SIZE, AGENT_IN_FLIGHT))
        quiet_for = time.monotonic() - last_progress
        still = not queued and quiet_for >= scaled(quiet)
        if complete or still or time.monotonic() >= deadline:
            why = ("all found" if complete else
                   f"nothing new for {quiet_for:.0f} s with empty queues" if still else "its budget ran out")
            story = f" ({why}; last moved at {last_progress - started:.0f} s: {', '.join(moved_last)})"
            break
        time.sleep(POLL_S)
    # the window closes on a consistent snapshot: each store counted after the collector's read (a
    # Prometheus scrape after it, VictoriaLogs' once-a-second /metrics refreshed after it)
    now_snapshot = hops.snapshot(lab, consistent=True)
    snapshots = [*run.snapshots, now_snapshot]
    by_hop = hops.movement(snapshots)
    wide = hops.movement(snapshots, bound=WIDE)
    settled = hops.movement(snapshots, bound=SETTLED)
    for signal in observes.COLLECTED:
        if now_snapshot.store_settled(signal) is False:
            by_hop[signal][STORE_READ_EARLY] = 1.0
    counts = list(lookups.span_counts.values())
    complete_counts = [lookups.span_counts[i] for i, lack in lookups.traces.items()
                       if lack is None and i in lookups.span_counts]
    per_trace = float(statistics.mode(complete_counts)) if complete_counts else 0.0
    missing_traces = lookups.missing_traces()
    traces = Account("traces", "traces", ok, ok - len(missing_traces), missing_traces,
                     notes=[f"{tid}: {lookups.traces[tid]}" for tid in missing_traces[:10]])
    records_found = sum(len(t) for t in lookups.records.values())
    logs = Account("logs", hops.NOUNS["logs"], len(LOG_TEXTS) * ok, records_found, lookups.missing_records())
    metrics = Account("metrics", hops.NOUNS["metrics"], ok,
                      min(int(by_hop["metrics"].get(PROMETHEUS_REQUESTS, 0.0)), ok))
    problems = list(dict.fromkeys([*lookups.problems, *now_snapshot.problems]))
    if len(set(complete_counts)) > 1:
        problems.append(f"traces have different span counts: {dict(Counter(complete_counts))}")
    result = Accounting(run, traces, logs, metrics, by_hop, sum(counts), per_trace,
                        time.monotonic() - started, problems, wide, settled, story)
    result.attach()
    return result


# ------------------------------------------------------------------------------------- budgets


def _why(accounting: Accounting, signal: str) -> str:
    return f"lost at: {accounting.placement(signal)}\n{accounting.table()}"


def assert_every_request_succeeded(run: LoadRun) -> None:
    """Users never see an error: every request answered 200."""
    bad = run.failures
    if bad:
        shown = [f"#{r.index} at +{r.at - run.started_at:.1f}s: {r.status or r.error}" for r in bad[:10]]
        raise AssertionError(f"{len(bad)} of {len(run.requests)} requests did not answer 200 "
                             f"({run.summary()['statuses']}); first: {shown}")


def assert_missing_at_most(accounting: Accounting, signal: str, pct: float) -> None:
    """No more than ``pct`` % of the signal's items are missing (0: every one is there)."""
    account = accounting.account(signal)
    if account.lost_pct > pct + 1e-9:
        shown = "; ".join(account.notes[:5]) or ", ".join(account.missing[:5])
        raise AssertionError(
            f"{account.lost} of {account.expected} {account.unit} ({account.lost_pct:.2f} %) are missing, "
            f"more than {pct:g} %; first: {shown}\n{_why(accounting, signal)}")


def assert_collector_clean(accounting: Accounting, signals: Sequence[str] = observes.COLLECTED) -> None:
    """The collector refused nothing, failed nothing, dropped nothing for a full queue — over the
    widest window (a failure counted while the last counters were read is the run's too)."""
    counters = {REFUSED: "refused", RECEIVER_FAILED: "failed on receipt", LIMITER_REFUSED: "refused by the "
                "memory_limiter", SEND_FAILED: "failed to send", ENQUEUE_FAILED: "found the queue full"}
    bad = [f"{signal}: {accounting.widest(signal, key):.0f} {hops.NOUNS[signal]} {what}"
           for signal in signals for key, what in counters.items() if accounting.widest(signal, key)]
    if bad:
        raise AssertionError("the collector reports " + "; ".join(bad) + "\n" + accounting.table())


def assert_lost_only_before_collector(accounting: Accounting, signal: str, *, at_most: float) -> None:
    """Nothing the collector accepted is lost — it failed nothing, dropped nothing for a full queue,
    sent on what it accepted and the store counted what it sent — and no more than ``at_most`` of the
    signal's items never reached it (the app SDK's buffer). What is missing then was lost before the
    collector (never sent, or refused at receipt).

    Each hop is compared within one window of consistent counters (:class:`Accounting`), with no
    tolerance: what was in flight while the counters were read is outside the comparison, a batch
    the store counted twice is said as retried, and any shortfall left is a loss."""
    h = accounting.hops[signal]
    noun = hops.NOUNS[signal]
    table = accounting.table()
    accepted, sent, received = h.get(ACCEPTED), h.get(SENT), h.get(STORE_RECEIVED)
    failed = accounting.failed(signal)
    if failed:
        raise AssertionError(f"the collector lost {failed:.0f} {noun} it had accepted\n{table}")
    if accounting.lost_inside(signal):
        raise AssertionError(f"the collector accepted {accepted:.0f} {noun} but sent "
                             f"{accounting.widest(signal, SENT):.0f}\n{table}")
    lost = accounting.lost_to_store(signal)
    if lost:
        early = (" — its count may predate the collector's read (no scrape of it after that read): "
                 "unverified, not proven lost" if h.get(STORE_READ_EARLY) else "")
        raise AssertionError(
            f"the collector sent {sent:.0f} {noun}, the store counted {received:.0f}: {lost:.0f} lost "
            f"between the collector and the store (in flight at read, outside this count: "
            f"{accounting.in_flight_at_read(signal):.0f}){early}\n{table}")
    expected = accounting.expected_items(signal)
    never = max((expected or 0.0) - (accepted or 0.0), 0.0)
    if never > at_most:
        raise AssertionError(f"~{never:.0f} {noun} never reached the collector, more than the {at_most:g} "
                             f"budgeted\n{table}")
    account = accounting.account(signal)
    explained = never >= 1 or h.get(REFUSED, 0.0) + h.get(RECEIVER_FAILED, 0.0) >= 1
    if account.lost and not explained:
        raise AssertionError(f"{account.lost} {account.unit} are missing although the collector refused "
                             f"nothing and took in everything\n{_why(accounting, signal)}")


def assert_missing_only_around(accounting: Accounting, action: LoadAction, margin: float) -> None:
    """Every request whose trace or log records are missing was in flight while ``action`` was in
    effect, or within ``margin`` seconds of it: its spans end when it is answered, and what the
    app's SDK held when the hop came back is delivered. A request of a slow lab can be sent well
    before a fault and answered during it, so its whole time in flight is what counts."""
    requests = {r.trace_id: r for r in accounting.run.requests}
    in_effect = action.window
    start, end = in_effect[0] - margin, in_effect[1] + margin

    def outside(tid: str) -> bool:
        r = requests.get(tid)
        return r is not None and (r.at + r.seconds < start or r.at > end)

    missing = {*accounting.traces.missing, *accounting.logs.missing}
    far = sorted((requests[tid] for tid in missing if outside(tid)), key=lambda r: r.at)
    if far:
        t0 = accounting.run.started_at
        shown = [f"{r.trace_id} sent at +{r.at - t0:.1f}s, answered after {r.seconds:.1f}s" for r in far[:5]]
        raise AssertionError(
            f"{len(far)} requests in flight only outside {action.describe} (+{in_effect[0] - t0:.1f}s to "
            f"+{in_effect[1] - t0:.1f}s, ± {margin:g} s) lack telemetry; first: {shown}\n"
            f"{accounting.table()}")


def assert_burst_counted(accounting: Accounting, burst: Burst) -> None:
    """The collector refused the burst (its memory_limiter), and every record of it shows in its
    counters as accepted or refused — the refusal is never silent."""
    h = accounting.hops["logs"]
    refused, limiter, accepted = h.get(REFUSED, 0.0), h.get(LIMITER_REFUSED, 0.0), h.get(ACCEPTED, 0.0)
    if not burst.refused:
        raise AssertionError(f"the collector refused none of the burst ({burst.statuses}): it was not "
                             f"above the memory limit\n{accounting.table()}")
    if refused < burst.refused or limiter < burst.refused:
        raise AssertionError(f"the collector answered 503 for {burst.refused} records of the burst but "
                             f"counts {refused:.0f} refused ({limiter:.0f} by the memory_limiter)\n"
                             f"{accounting.table()}")
    if accepted + refused < burst.records:
        raise AssertionError(f"{burst.records} records sent in the burst, the collector counts "
                             f"{accepted:.0f} accepted and {refused:.0f} refused: some went uncounted\n"
                             f"{accounting.table()}")


# ------------------------------------------------------------------------- the split topology's checks


def assert_agent_queue_grew_and_drained(accounting: Accounting, action: LoadAction) -> None:
    """The agent held what the link could not carry: its queue (read on its own host every second)
    grew while ``action`` was in effect and was empty again before the run's counters closed."""
    points, t0 = accounting.run.agent_queue, accounting.run.started_at
    story = hops.queue_story(points, t0)
    start, end = action.window
    during = [p for p in points if start <= p.at <= end + 2.0]
    if not during or max(p.queued for p in during) < 1:
        raise AssertionError(f"the agent's queue did not grow while {action.describe} was in effect "
                             f"(+{start - t0:.0f} s to +{end - t0:.0f} s): {story}\n{accounting.table()}")
    peak = max(during, key=lambda p: p.queued)
    drained = [p for p in points if p.at > peak.at and p.queued == 0]
    left = sum(accounting.hops[s].get(AGENT_QUEUE_SIZE, 0.0) for s in observes.COLLECTED)
    if not drained and left:
        raise AssertionError(f"the agent's queue did not drain: {story}; {left:.0f} still queued when the "
                             f"counters closed\n{accounting.table()}")
    evidence.attach("note", "the agent's queue grew and drained", story=story,
                    points=[(round(p.at - t0, 1), p.queued, p.in_flight) for p in points])


def delivery_delay(accounting: Accounting) -> str:
    """How late the telemetry arrived: the agent's queue peak and when it drained, and how long after
    the traffic the stores held everything."""
    return (f"{hops.queue_story(accounting.run.agent_queue, accounting.run.started_at)}; every trace and log "
            f"record of the run in the stores {accounting.settled_after_s:.0f} s after the last request")


def assert_lost_only_app_to_agent(accounting: Accounting, *, budget: float) -> None:
    """A stopped agent costs only what the app's SDK could not deliver to it: no more than ``budget``
    items per signal (the SDK's queue, OTEL_BSP_MAX_QUEUE_SIZE / OTEL_BLRP_MAX_QUEUE_SIZE: 2048), and
    every loss placed at app → agent — nothing lost in the agent, on the link, in the gateway or after."""
    for signal in observes.COLLECTED:
        account = accounting.account(signal)
        h, noun = accounting.hops[signal], hops.NOUNS[signal]
        where = accounting.placement(signal)
        if account.lost and not where.startswith("app → agent"):
            raise AssertionError(f"{signal}: {account.lost} {account.unit} lost, placed at: {where} — not "
                                 f"only at app → agent\n{accounting.table()}")
        expected, accepted = accounting.expected_items(signal), h.get(AGENT_ACCEPTED)
        never = max((expected or 0.0) - (accepted or 0.0), 0.0)
        if never > budget:
            raise AssertionError(f"~{never:.0f} {noun} never reached the agent, more than the SDK's "
                                 f"{budget:g}\n{accounting.table()}")
        if accounting.agent_failed(signal) or accounting.lost_on_link(signal):
            raise AssertionError(f"{signal}: the agent failed or the link lost what the agent had "
                                 f"accepted\n{accounting.table()}")
    assert_lost_only_before_collector(accounting, "traces", at_most=float("inf"))
    assert_lost_only_before_collector(accounting, "logs", at_most=float("inf"))
