"""`lab links` and harness.clients.links: from a trace id to the URLs that show its three signals,
for both store sets. Tempo, Loki and Grafana are never run here: their URLs are checked against the
formats their documentation and sources give (Grafana Explore's schema-1 ``panes``, Tempo's
``/api/v2/traces``, Loki's ``query_range`` in nanoseconds), parsed back rather than compared as text."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from harness import cli
from harness.base.errors import ConfigError
from harness.clients import links
from tests.harness.fake_http import Reply, fake_server

REPO = Path(__file__).resolve().parents[2]
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
AT = 1_796_661_000.0  # 2026-12-07 16:30:00 UTC
JV = {"stores": "jaeger-victorialogs", "traces": "http://127.0.0.9:16686", "logs": "http://127.0.0.9:9428",
      "prometheus": "http://127.0.0.9:9090", "frontend": "http://127.0.0.9:8080"}
TL = {"stores": "tempo-loki", "traces": "http://127.0.0.9:3200", "logs": "http://127.0.0.9:3100",
      "prometheus": "http://127.0.0.9:9090", "grafana": "http://127.0.0.9:3000"}


def by_label(found: list[links.Link]) -> dict[str, links.Link]:
    return {link.label.split(":")[0]: link for link in found}


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_jaeger_victorialogs_links_name_the_trace_its_records_and_its_series_around_the_time() -> None:
    found = links.trace_links(JV, TRACE, AT)
    assert {link.signal for link in found} == {"traces", "logs", "metrics"}
    urls = {link.label: link.url for link in found}
    assert urls["Jaeger UI: the trace"] == f"http://127.0.0.9:16686/trace/{TRACE}"
    assert urls["Jaeger API: the trace as JSON"] == f"http://127.0.0.9:16686/api/traces/{TRACE}"
    api = query(urls["VictoriaLogs LogsQL API: the records as JSON lines"])
    assert api["query"] == f"trace_id:{TRACE}"
    assert (api["start"], api["end"]) == ("2026-12-07T16:15:00Z", "2026-12-07T16:35:00Z")
    vmui = urlsplit(urls["VictoriaLogs vmui: the trace's log records"])
    assert vmui.path == "/select/vmui/" and vmui.fragment.startswith("/?")
    hash_query = {k: v[0] for k, v in parse_qs(vmui.fragment[2:]).items()}
    assert hash_query == {"query": f"trace_id:{TRACE}", "g0.range_input": "20m",
                          "g0.end_input": "2026-12-07 16:35:00", "g0.relative_time": "none"}
    assert "+" not in vmui.fragment  # a fragment's "+" is a plus to vmui, not a space
    graph = query(urls["Prometheus graph: the latency histogram around the request"])
    assert graph["g0.expr"] == "sum by (le) (rate(http_request_duration_seconds_bucket[1m]))"
    assert urlsplit(urls["Prometheus graph: the latency histogram around the request"]).path == "/query"
    assert graph["g0.tab"] == "graph" and graph["g0.show_exemplars"] == "1"
    assert (graph["g0.range_input"], graph["g0.end_input"]) == ("20m", "2026-12-07 16:35:00")
    rng = query(urls["Prometheus API: the latency series around the request"])
    assert float(rng["start"]) == AT - 900 and float(rng["end"]) == AT + 300
    assert query(urls["Prometheus API: the exemplars (one carries this trace id)"])["query"] == \
        "http_request_duration_seconds_bucket"
    assert not any("grafana" in link.label.lower() for link in found)  # the set has no Grafana


def test_the_local_jaeger_ui_is_said_to_be_a_placeholder_and_only_its_api_shows_the_trace() -> None:
    found = by_label(links.trace_links(JV, TRACE, AT, jaeger_ui=False))
    assert not found["Jaeger UI"].shows_data and "placeholder" in found["Jaeger UI"].note
    assert found["Jaeger API"].shows_data and found["Jaeger API"].kind == links.API


def test_a_prometheus_without_ui_assets_is_said_so_and_only_its_api_shows_the_series() -> None:
    found = by_label(links.trace_links(JV, TRACE, AT, prometheus_ui=False))
    assert not found["Prometheus graph"].shows_data and "no UI" in found["Prometheus graph"].note
    assert found["Prometheus API"].shows_data and found["Prometheus API"].kind == links.API


def test_prometheus_without_ui_assets_is_told_from_its_ui() -> None:
    """What lab/prometheus:local answers on /query (v3.16.0 built without ``builtinassets``), and a
    page of the real UI."""
    missing = ("Error opening React index.html: open web/ui/static/mantine-ui/index.html: "
               "no such file or directory")
    assert links.prometheus_ui_lacks_assets(500, missing)
    assert not links.prometheus_ui_lacks_assets(200, "<!doctype html><html><head><title>Prometheus</title>"
                                                     "<script type=\"module\" src=\"./assets/index.js\">")
    assert not links.prometheus_ui_lacks_assets(503, "Service Unavailable")


def test_tempo_loki_links_are_the_documented_apis_and_grafana_explore_panes() -> None:
    found = links.trace_links(TL, TRACE.upper(), AT, endpoint="create_task")
    urls = {link.label: link for link in found}
    assert urls["Tempo API: the trace as OTLP JSON"].url == f"http://127.0.0.9:3200/api/v2/traces/{TRACE}"
    loki = query(urls["Loki API: the records as JSON"].url)
    assert loki["query"] == f'{{service_name="flask-backend"}} | trace_id="{TRACE}"'
    assert (int(loki["start"]), int(loki["end"])) == (int((AT - 900) * 1e9), int((AT + 300) * 1e9))
    explore = [link for link in found if link.label.startswith("Grafana Explore")]
    assert [link.signal for link in explore] == ["traces", "logs", "metrics"]
    wanted = [("tempo", "query", TRACE), ("loki", "expr", f'| trace_id="{TRACE}"'),
              ("prometheus", "expr", 'endpoint="create_task"')]
    for link, (uid, key, want) in zip(explore, wanted, strict=True):
        parts = urlsplit(link.url)
        assert parts.path == "/explore" and link.kind == links.UI
        params = query(link.url)
        assert params["schemaVersion"] == "1" and params["orgId"] == "1"
        (pane,) = json.loads(params["panes"]).values()
        assert pane["datasource"] == uid
        assert pane["range"] == {"from": str(int((AT - 900) * 1000)), "to": str(int((AT + 300) * 1000))}
        (q,) = pane["queries"]
        assert q["datasource"] == {"type": uid, "uid": uid} and q["refId"] == "A"
        assert want in q[key]
    # the provisioned uids are the ones the links use
    provisioned = (REPO / "stack/grafana/provisioning/datasources/datasources.yaml").read_text()
    assert all(f"uid: {uid}" in provisioned for uid in links.GRAFANA_UIDS.values())


@pytest.mark.parametrize("bad", ["", "xyz", TRACE[:-1], TRACE + "0", "0" * 32, f"{TRACE[:-1]}g",
                                 "00-" + TRACE])
def test_a_bad_trace_id_is_one_line_error(bad: str) -> None:
    with pytest.raises(ConfigError) as err:
        links.trace_links(JV, bad, AT)
    assert "\n" not in str(err.value)


def test_an_unknown_store_set_is_refused() -> None:
    with pytest.raises(ConfigError, match="store set"):
        links.trace_links({**JV, "stores": "elastic"}, TRACE, AT)


def test_the_placeholder_page_is_told_from_the_ui() -> None:
    # what lab/jaeger:local (Jaeger v1.76.0 without UI assets) answered at / and /trace/<id>
    placeholder = ("<!DOCTYPE html>\n<html lang=\"en\">\n<title>Test Page</title>\n<body><h1>This is not the "
                   "Jaeger UI you are looking for!</h1>\n<p>\n  This is a placeholder for the Jaeger UI home "
                   "page.\n  If you are seeing this, you are running a binary that was not compiled "
                   "with the UI assets.\n</p></body>")
    ui = '<html><head><script type="module" src="/static/index-abc.js"></script></head><body></body></html>'
    assert links.jaeger_ui_is_placeholder(placeholder)
    assert not links.jaeger_ui_is_placeholder(ui)


def test_jaeger_ui_available_asks_the_ui_root_once() -> None:
    page = "<html><body>This is a placeholder for the Jaeger UI home page.</body></html>"
    with fake_server() as server:
        server.route("GET", "/", Reply(200, page))
        endpoints = {**JV, "traces": server.url}
        assert links.jaeger_ui_available(endpoints) is False
        assert links.jaeger_ui_available(endpoints) is False
        assert len([r for r in server.requests if r.path == "/"]) == 1
    assert links.jaeger_ui_available(TL) is True  # no Jaeger in the set: nothing to ask


def test_prometheus_ui_available_asks_its_query_page_once() -> None:
    missing = "Error opening React index.html: open web/ui/static/mantine-ui/index.html: no such file"
    with fake_server() as server:
        server.route("GET", "/query", Reply(500, missing))
        endpoints = {**JV, "prometheus": server.url}
        assert links.prometheus_ui_available(endpoints) is False
        assert links.prometheus_ui_available(endpoints) is False
        assert len([r for r in server.requests if r.path == "/query"]) == 1


def test_lab_links_refuses_a_bad_trace_id_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["links", "not-a-trace"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "32 hexadecimal digits" in err
    with pytest.raises(SystemExit) as exit_:
        cli.main(["links", TRACE, "--at", "yesterday"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--at" in err


def test_lab_links_json_on_an_existing_lab(tmp_path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    with fake_server() as server:
        server.route("GET", "/", Reply(200, "<html><script src=x></script>Jaeger UI</html>"))
        server.route("GET", "/query", Reply(200, "<html><script src=x></script>Prometheus</html>"))
        base = server.url
        endpoints = {**JV, "target": "existing", "traces": base, "prometheus": base,
                     "backend": "http://127.0.0.9:5000",
                     "collector_health": "http://127.0.0.9:13133"}
        path = tmp_path / "lab.json"
        path.write_text(json.dumps(endpoints))
        monkeypatch.setenv("LAB_TARGET", "existing")
        monkeypatch.setenv("LAB_ENDPOINTS_FILE", str(path))
        monkeypatch.setenv("LAB_STORES", "jaeger-victorialogs")
        assert cli.main(["links", TRACE, "--json", "--at", "2026-12-07T16:30:00Z"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["trace_id"] == TRACE and out["at"] == AT
    ui = next(link for link in out["links"] if link["label"] == "Jaeger UI: the trace")
    assert ui["shows_data"] is True and ui["url"] == f"{base}/trace/{TRACE}"
    graph = next(link for link in out["links"] if link["label"].startswith("Prometheus graph"))
    assert graph["shows_data"] is True and graph["url"].startswith(f"{base}/query?")
    assert unquote(out["links"][2]["url"]).count(TRACE) == 1
