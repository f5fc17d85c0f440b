"""GrafanaClient against a real local HTTP server answering the Grafana HTTP API examples
(fixtures/signals/grafana, sources in fixtures/signals/README.md)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from harness.clients.base import SignalError
from harness.clients.grafana import GrafanaClient, frame_columns, frames, has_data, query_errors
from tests.harness.fake_http import Recorded, Reply, signal_doc

FIX = Path(__file__).parent / "fixtures" / "signals" / "grafana"
BASIC_ADMIN = "Basic " + base64.b64encode(b"admin:s3cret").decode()


def doc(name: str) -> Any:
    return signal_doc("grafana", name)


def text(name: str) -> str:
    return (FIX / name).read_text()


def needs_admin(reply: Reply) -> object:
    """A route that answers like Grafana: 401 without the right basic auth."""
    def handler(request: Recorded) -> Reply:
        if request.headers.get("Authorization") != BASIC_ADMIN:
            return Reply(401, {"message": "Unauthorized"})
        return reply
    return handler



@pytest.fixture
def grafana(server) -> GrafanaClient:
    return GrafanaClient(server.url, "admin", "s3cret")


def test_health_needs_no_auth(server, grafana):
    server.route("GET", "/api/health", Reply(body=doc("health.json")))
    assert grafana.health() == {"commit": "087143285", "database": "ok", "version": "5.1.3"}
    assert "Authorization" not in server.last().headers


def test_datasource_by_uid_with_basic_auth(server, grafana):
    server.route("GET", "/api/datasources/uid/kLtEtcRGk", needs_admin(Reply(body=doc("datasource_uid.json"))))
    ds = grafana.datasource("kLtEtcRGk")
    assert (ds["uid"], ds["type"], ds["url"]) == ("kLtEtcRGk", "graphite", "http://mydatasource.com")
    assert grafana.datasource("missing") is None  # 404
    with pytest.raises(SignalError, match="HTTP 401"):
        GrafanaClient(server.url, "admin", "wrong").datasource("kLtEtcRGk")


def test_datasource_health_ok_and_error(server, grafana):
    server.route("GET", "/api/datasources/uid/P8045C56BDA891CB2/health",
                 needs_admin(Reply(body=doc("datasource_health_ok.json"))))
    ok = grafana.datasource_health("P8045C56BDA891CB2")
    assert ok["status"] == "OK" and ok["http_status"] == 200
    assert ok["message"].startswith("1. Successfully queried the CloudWatch metrics API.")
    server.route("GET", "/api/datasources/uid/tempo/health", Reply(400, doc("datasource_health_error.json")))
    bad = grafana.datasource_health("tempo")
    assert (bad["status"], bad["http_status"]) == ("ERROR", 400)
    assert "no such host" in bad["message"]


def test_dashboard_by_uid(server, grafana):
    server.route("GET", "/api/dashboards/uid/cIBgcSjkk", needs_admin(Reply(body=doc("dashboard_uid.json"))))
    dashboard = grafana.dashboard("cIBgcSjkk")
    assert dashboard["dashboard"]["title"] == "Production Overview"
    assert dashboard["meta"]["url"] == "/d/cIBgcSjkk/production-overview"
    assert grafana.dashboard("nope") is None


def test_search_dashboards(server, grafana):
    server.route("GET", "/api/search", needs_admin(Reply(body=doc("search.json"))))
    [hit] = grafana.search_dashboards(query="Production Overview", tag="prod")
    assert (hit["uid"], hit["type"]) == ("cIBgcSjkk", "dash-db")
    sent = server.last()
    assert (sent.param("type"), sent.param("query"), sent.param("tag")) == (
        "dash-db", "Production Overview", "prod")


def test_ds_query_posts_the_documented_body_and_reads_frames(server, grafana):
    server.route("POST", "/api/ds/query", needs_admin(Reply(body=doc("ds_query.json"))))
    queries = [{"refId": "A", "datasource": {"uid": "prometheus"}, "expr": "up"}]
    body = grafana.ds_query(queries, from_="now-5m")
    assert server.last().json() == {"queries": queries, "from": "now-5m", "to": "now"}
    [frame] = frames(body, "A")
    assert frame_columns(frame) == {
        "time": [1644488152084, 1644488212084, 1644488272084, 1644488332084, 1644488392084, 1644488452084],
        "A-series": [1, 20, 90, 30, 5, 0],
    }
    assert has_data(body, "A") and not has_data(body, "B")
    assert query_errors(body) == {}


def test_ds_query_failure_is_returned_with_its_error(server, grafana):
    server.route("POST", "/api/ds/query", Reply(400, doc("ds_query_error.json")))
    body = grafana.ds_query([{"refId": "A", "datasource": {"uid": "prometheus"}, "expr": "sum("}])
    assert query_errors(body) == {
        "A": 'bad_data: invalid parameter "query": 1:5: parse error: unexpected end of input'}
    assert not has_data(body)
    server.route("POST", "/api/ds/query", Reply(403, {"message": "Access denied"}))
    with pytest.raises(SignalError, match=r"403.*Access denied"):
        grafana.ds_query([])


def test_anonymous_role_from_boot_data(server, grafana):
    server.route("GET", "/", Reply(body=text("index_anonymous_viewer.html"),
                                   headers={"Content-Type": "text/html; charset=UTF-8"}))
    assert grafana.anonymous_role() == "Viewer"
    assert "Authorization" not in server.last().headers  # really anonymous
    server.route("GET", "/", Reply(body=text("login_page.html"), headers={"Content-Type": "text/html"}))
    assert grafana.anonymous_role() is None


def test_anonymous_status_does_not_follow_or_authenticate(server, grafana):
    server.route("GET", "/api/admin/settings", needs_admin(Reply(body={})))
    assert grafana.anonymous_status("/api/admin/settings") == 401
    assert "Authorization" not in server.last().headers
