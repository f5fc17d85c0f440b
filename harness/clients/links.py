"""From one trace id to the pages that show its three signals: the trace, its log records and the
latency series its exemplar sits on — in this lab's UIs where they exist, in their APIs always.

A :class:`Link` is a URL plus what it is: ``ui`` (a page a person opens; its data is drawn by the
page's script, so the HTML itself holds none of it) or ``api`` (an answer that *is* the data: a
``curl`` shows the trace id in it). ``shows_data`` says whether following the link shows this
trace's data at all: the Jaeger UI of the local ``lab/jaeger:local`` image is a placeholder page
(its assets are built from the jaeger-ui sources, which no registry carries), so there only the API
link shows the trace; :func:`jaeger_ui_is_placeholder` tells the two apart by the page itself. The
Prometheus of ``lab/prometheus:local`` is built from the Go module without its React UI: its pages
answer 500 "Error opening React index.html" (:func:`prometheus_ui_lacks_assets`), and the API links
show the series.

The URL formats, each from the UI's own source or the store's documented API:

- **Jaeger**: ``/trace/<id>`` (the UI's trace page), ``/api/traces/<id>`` (the JSON API the UI uses).
- **VictoriaLogs**: vmui's logs explorer ``/select/vmui/#/?query=…&g0.range_input=…&g0.end_input=…
  &g0.relative_time=none`` (vmui reads its time range from ``g0.*`` as the metrics vmui does);
  the LogsQL API ``/select/logsql/query?query=…&start=…&end=…``.
- **Prometheus** 3: ``/query?g0.expr=…&g0.tab=graph&g0.range_input=…&g0.end_input=…&g0.show_exemplars=1``
  (the 3.x UI's ``urlStateEncoding.ts``; ``/graph`` only redirects there); the HTTP API's
  ``/api/v1/query_range`` and ``/api/v1/query_exemplars``.
- **Tempo** ``/api/v2/traces/<id>``; **Loki** ``/loki/api/v1/query_range`` (start/end in ns).
- **Grafana Explore** (tempo-loki): ``/explore?schemaVersion=1&panes={"<pane id>": {"datasource":
  uid, "queries": [...], "range": {"from": ms, "to": ms}}}&orgId=1`` — the URL state Grafana 10+
  parses (``public/app/features/explore/state/utils`` ``ExploreURLV1``), with the provisioned
  data source uids (``prometheus``, ``tempo``, ``loki``) and the provisioned trace-to-logs query.

Nothing here sends a request except :func:`jaeger_ui_available` (one GET of Jaeger's UI root) and
:func:`prometheus_ui_available` (one GET of Prometheus' ``/query`` page); the
URLs are built from the lab's endpoints (``lab endpoints --json``, the lab floor's
``Endpoints.to_dict()``), so this floor needs nothing above it.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import quote, urlencode

import requests

from harness.base import observes
from harness.base.errors import ConfigError
from harness.base.http import LabSession

TRACE_ID: Final = re.compile(r"^[0-9a-f]{32}$")
BEFORE_S: Final = 15 * 60  # the window around the request: a quarter of an hour before it …
AFTER_S: Final = 5 * 60  # … and five minutes after (late batches, late scrapes)
LATENCY: Final = "http_request_duration_seconds"
SERVICE: Final = observes.APP_SERVICE
UI, API = "ui", "api"
# Grafana's provisioned data source uids (stack/grafana/provisioning/datasources/datasources.yaml).
GRAFANA_UIDS: Final = MappingProxyType({"metrics": "prometheus", "traces": "tempo", "logs": "loki"})
# What lab/jaeger:local serves at its UI's root (and /trace/<id>) instead of the UI: Jaeger's
# placeholder page, "This is a placeholder for the Jaeger UI home page. If you are seeing this, you
# are running a binary that was not compiled with the UI assets." (seen on v1.76.0 and v1.75.0; no script).
PLACEHOLDER_MARKS: Final = ("placeholder for the jaeger ui", "not compiled with the ui assets")
# What a Prometheus built without its UI assets (lab/prometheus:local) answers on its UI's pages, with
# HTTP 500: "Error opening React index.html: open web/ui/static/mantine-ui/index.html: no such file or
# directory" (web/web.go, v3.16.0, when the binary was built without the `builtinassets` tag).
NO_UI_ASSETS_MARK: Final = "error opening react index.html"


@dataclass(frozen=True)
class Link:
    """One place that shows (part of) a trace's signals."""

    signal: str  # "traces", "logs", "metrics"
    label: str  # what a person reads: "Jaeger UI: the trace"
    url: str
    kind: str  # UI (a page) or API (the data itself)
    shows_data: bool = True  # following it shows this trace's data (False: a placeholder page)
    note: str = ""  # why not, or what to expect

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def require_trace_id(text: str) -> str:
    """A trace id as the lab's stores and headers write it: 32 hex digits (upper case accepted and
    lowered); anything else is one line saying what is wrong (:class:`ConfigError`)."""
    value = (text or "").strip().lower()
    if not TRACE_ID.match(value):
        raise ConfigError(f"trace id {text!r} is not 32 hexadecimal digits (e.g. "
                          "4bf92f3577b34da6a3ce929d0e0e4736, as in a traceparent header)")
    if value == "0" * 32:
        raise ConfigError("the all-zero trace id is invalid (W3C Trace Context)")
    return value


def _iso(at: float) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` (UTC): what VictoriaLogs' ``start``/``end`` take."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ui_time(at: float) -> str:
    """``YYYY-MM-DD HH:MM:SS`` (UTC): what Prometheus' and vmui's ``g0.end_input`` take."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _query(params: Mapping[str, str]) -> str:
    """A query string with spaces as %20 (``+`` is a plus in a URL fragment, which vmui reads)."""
    return urlencode(params, quote_via=quote)


def _minutes(seconds: float) -> str:
    return f"{max(1, round(seconds / 60))}m"


def latency_expr(endpoint: str | None = None) -> str:
    """The latency histogram's request rate by bucket — the series an exemplar of the request sits
    on (of one endpoint when named)."""
    matcher = f'{{endpoint="{endpoint}"}}' if endpoint else ""
    return f"sum by (le) (rate({LATENCY}_bucket{matcher}[1m]))"


def _pane(datasource: str, query: Mapping[str, Any], start: float, end: float) -> str:
    pane = {"datasource": datasource,
            "queries": [{"refId": "A", "datasource": {"type": datasource, "uid": datasource}, **query}],
            "range": {"from": str(int(start * 1000)), "to": str(int(end * 1000))}}
    return json.dumps({"links": pane}, separators=(",", ":"))


def grafana_explore(grafana: str, datasource: str, query: Mapping[str, Any], start: float, end: float) -> str:
    """A Grafana Explore URL (schema version 1: one pane) for ``query`` on the data source of uid
    ``datasource`` over [start, end]."""
    params = {"schemaVersion": "1", "panes": _pane(datasource, query, start, end), "orgId": "1"}
    return f"{grafana}/explore?{_query(params)}"


def trace_links(endpoints: Mapping[str, Any], trace_id: str, at: float | None = None, *,
                jaeger_ui: bool = True, prometheus_ui: bool = True,
                endpoint: str | None = None) -> list[Link]:
    """Every link of this lab's store set that shows trace ``trace_id`` (a request made around
    ``at``, epoch seconds; now when None), its log records and its latency series.

    ``endpoints`` is ``lab endpoints --json``'s object (``stores``, ``traces``, ``logs``,
    ``prometheus``, ``grafana``); ``jaeger_ui`` False says the Jaeger UI is a placeholder page,
    ``prometheus_ui`` False that Prometheus serves no UI (built without its assets);
    ``endpoint`` narrows the latency series to the app's endpoint label (e.g. ``create_task``)."""
    trace_id = require_trace_id(trace_id)
    stores = str(endpoints.get("stores") or "")
    chosen = observes.STORE_SETS.get(stores)
    if chosen is None:
        raise ConfigError(f"store set {stores!r} is unknown; use one of: "
                          f"{', '.join(observes.STORE_SET_NAMES)}")
    at = time.time() if at is None else float(at)
    start, end = at - BEFORE_S, at + AFTER_S
    traces, logs, prom = (str(endpoints.get(k) or "").rstrip("/") for k in ("traces", "logs", "prometheus"))
    grafana = str(endpoints.get("grafana") or "").rstrip("/")
    out: list[Link] = []
    trace_store, log_store = chosen.store("traces"), chosen.store("logs")

    if trace_store is not None and trace_store.name == "jaeger":
        out.append(Link("traces", "Jaeger UI: the trace", f"{traces}/trace/{trace_id}", UI, jaeger_ui,
                        "" if jaeger_ui else "placeholder page: this Jaeger image carries no UI assets "
                        "(lab/jaeger:local); the API link shows the trace"))
        out.append(Link("traces", "Jaeger API: the trace as JSON", f"{traces}/api/traces/{trace_id}", API))
    elif trace_store is not None and trace_store.name == "tempo":
        out.append(Link("traces", "Tempo API: the trace as OTLP JSON", f"{traces}/api/v2/traces/{trace_id}",
                        API))

    if log_store is not None and log_store.name == "victorialogs":
        logsql = f"trace_id:{trace_id}"
        hash_query = _query({"query": logsql, "g0.range_input": _minutes(end - start),
                             "g0.end_input": _ui_time(end), "g0.relative_time": "none"})
        out.append(Link("logs", "VictoriaLogs vmui: the trace's log records",
                        f"{logs}/select/vmui/#/?{hash_query}", UI,
                        note="the records are drawn by vmui's script"))
        api = _query({"query": logsql, "start": _iso(start), "end": _iso(end), "limit": "100"})
        out.append(Link("logs", "VictoriaLogs LogsQL API: the records as JSON lines",
                        f"{logs}/select/logsql/query?{api}", API))
    elif log_store is not None and log_store.name == "loki":
        logql = f'{{service_name="{SERVICE}"}} | trace_id="{trace_id}"'
        api = _query({"query": logql, "start": str(int(start * 1e9)), "end": str(int(end * 1e9)),
                      "limit": "100", "direction": "forward"})
        out.append(Link("logs", "Loki API: the records as JSON", f"{logs}/loki/api/v1/query_range?{api}",
                        API))

    expr = latency_expr(endpoint)
    graph = _query({"g0.expr": expr, "g0.tab": "graph", "g0.range_input": _minutes(end - start),
                    "g0.end_input": _ui_time(end), "g0.show_exemplars": "1"})
    out.append(Link("metrics", "Prometheus graph: the latency histogram around the request",
                    f"{prom}/query?{graph}", UI, prometheus_ui,
                    "the series are drawn by Prometheus' script" if prometheus_ui else
                    "no UI: this Prometheus was built without its web UI assets (lab/prometheus:local); "
                    "the API links show the series"))
    window = {"start": f"{start:.3f}", "end": f"{end:.3f}"}
    out.append(Link("metrics", "Prometheus API: the latency series around the request",
                    f"{prom}/api/v1/query_range?{_query({'query': expr, **window, 'step': '15'})}", API))
    out.append(Link("metrics", "Prometheus API: the exemplars (one carries this trace id)",
                    f"{prom}/api/v1/query_exemplars?"
                    f"{_query({'query': f'{LATENCY}_bucket', **window})}", API))

    if grafana and "grafana" in chosen.extras:
        out.append(Link("traces", "Grafana Explore: the trace (Tempo)", grafana_explore(
            grafana, GRAFANA_UIDS["traces"], {"queryType": "traceql", "query": trace_id}, start, end), UI))
        out.append(Link("logs", "Grafana Explore: the trace's log records (Loki)", grafana_explore(
            grafana, GRAFANA_UIDS["logs"],
            {"expr": f'{{service_name="{SERVICE}"}} | trace_id="{trace_id}"', "queryType": "range"},
            start, end), UI))
        out.append(Link("metrics", "Grafana Explore: the latency histogram with exemplars (Prometheus)",
                        grafana_explore(grafana, GRAFANA_UIDS["metrics"],
                                        {"expr": expr, "range": True, "exemplar": True}, start, end), UI))
    return out


@functools.lru_cache(maxsize=16)
def _jaeger_ui_at(base: str) -> bool:
    try:
        page = LabSession(timeout=5, record=False).get(f"{base}/")
    except requests.RequestException:
        return True  # not answering says nothing about the image: the link stays a UI link
    return not (page.ok and jaeger_ui_is_placeholder(page.text))


def jaeger_ui_available(endpoints: Mapping[str, Any]) -> bool:
    """Whether this lab's Jaeger serves its real UI (asked once per URL per process, 5 s at most);
    True for a set without Jaeger, and when Jaeger does not answer (nothing to say then)."""
    store = observes.store_of(str(endpoints.get("stores") or ""), "traces")
    if store is None or store.name != "jaeger" or not endpoints.get("traces"):
        return True
    return _jaeger_ui_at(str(endpoints["traces"]).rstrip("/"))


def jaeger_ui_is_placeholder(page: str) -> bool:
    """Whether the HTML Jaeger serves at its UI's root is its placeholder page (no UI assets)."""
    lowered = " ".join(page.lower().split())
    return any(mark in lowered for mark in PLACEHOLDER_MARKS) and "<script" not in lowered


@functools.lru_cache(maxsize=16)
def _prometheus_ui_at(base: str) -> bool:
    try:
        page = LabSession(timeout=5, record=False).get(f"{base}/query")
    except requests.RequestException:
        return True  # not answering says nothing about the build: the link stays a UI link
    return not prometheus_ui_lacks_assets(page.status_code, page.text)


def prometheus_ui_available(endpoints: Mapping[str, Any]) -> bool:
    """Whether this lab's Prometheus serves its web UI (asked once per URL per process, 5 s at
    most); True when it does not answer (nothing to say then)."""
    if not endpoints.get("prometheus"):
        return True
    return _prometheus_ui_at(str(endpoints["prometheus"]).rstrip("/"))


def prometheus_ui_lacks_assets(status: int, page: str) -> bool:
    """Whether Prometheus' answer on a UI page says the binary has no UI assets."""
    return status >= 500 and NO_UI_ASSETS_MARK in page.lower()
