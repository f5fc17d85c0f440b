"""The page's spans through the front: nginx's /otlp/v1/traces (the image's config, Debian's nginx)
in front of the lab's own collector build, and the page itself in Debian's Chromium, with the
backend as its image serves it (gunicorn) exporting to the same collector.

What must hold: only POST of OTLP passes, with a size and a rate limit, each refusal a JSON answer;
a dead collector is a JSON 502 and costs the page nothing; in the browser, a click is one trace
(interaction span -> fetch span -> Flask server span) and the page works without otel-web.js.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import requests
from servers import (
    COLLECTOR_BINARY,
    COLLECTOR_MISSING,
    FRONTEND,
    NGINX,
    NGINX_MISSING,
    Collector,
    ImageBackend,
    NginxFront,
    html_with_bundle,
)

from harness.drive import browser

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(240),
    pytest.mark.skipif(NGINX is None, reason=NGINX_MISSING),
    pytest.mark.skipif(not COLLECTOR_BINARY.is_file(), reason=COLLECTOR_MISSING),
]
T = TypeVar("T")
TRACE_ID = "5b8efff798038103d269b633813fc60c"
SPANS = {"resourceSpans": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "frontend-browser"}}]},
    "scopeSpans": [{"scope": {"name": "test"}, "spans": [{
        "traceId": TRACE_ID, "spanId": "eee19b7ec3c1b174", "name": "submit", "kind": 1,
        "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000001000000"}]}]}]}


class Lab:
    """Collector, backend exporting to it, front with the page and its bundle."""

    def __init__(self, root: Path, *, bundle: bool = True, collector_up: bool = True) -> None:
        self.collector = Collector(root / "collector")
        if not collector_up:
            self.collector.stop()
        self.backend = ImageBackend(root / "backend", env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{self.collector.endpoint}",
            "OTEL_BSP_SCHEDULE_DELAY": "200"})
        html = html_with_bundle(root / "html", bundle=bundle)
        self.front = NginxFront(root / "nginx", self.backend.port, collector=self.collector.endpoint,
                                html=html)

    def stop(self) -> None:
        self.front.stop()
        self.backend.stop()
        self.collector.stop()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    the_lab = Lab(tmp_path_factory.mktemp("otlp"))
    yield the_lab
    the_lab.stop()


def json_error(response: requests.Response, status: int, says: str) -> None:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    assert says in response.json()["error"], response.json()


def wait(check, what: str, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} within {timeout} s; last seen: {exc}") from None
            time.sleep(0.2)


# -- the front's /otlp/v1/traces ---------------------------------------------------------------------
def test_spans_pass_to_the_collector_and_nothing_else_does(lab: Lab) -> None:
    before = lab.collector.accepted_spans()
    url = lab.front.url + "/otlp/v1/traces"
    sent = requests.post(url, json=SPANS, headers={"Cookie": "session=secret", "Authorization": "Bearer x"},
                         timeout=5)
    assert sent.status_code == 200, sent.text
    assert "Content-Security-Policy" in sent.headers  # the server's headers on this location too
    wait(lambda: _at_least(lab.collector.accepted_spans(), before + 1), "the collector accepted the span")
    spans = lab.collector.spans()
    assert any(s["trace_id"] == TRACE_ID and s["service"] == "frontend-browser" for s in spans), spans

    json_error(requests.get(url, timeout=5), 405, "method not allowed")
    json_error(requests.post(url, data="x", headers={"Content-Type": "text/plain"}, timeout=5), 415, "OTLP")
    for signal in ("logs", "metrics"):  # the page sends traces only: the rest is not passed on
        json_error(requests.post(lab.front.url + f"/otlp/v1/{signal}", json={}, timeout=5), 404, "not found")
    big = b'{"resourceSpans": []}' + b" " * (256 * 1024)
    too_big = requests.post(url, data=big, headers={"Content-Type": "application/json"}, timeout=5)
    json_error(too_big, 413, "262144")


def _at_least(value: float, floor: float) -> float:
    assert value >= floor, f"{value} < {floor}"
    return value


def test_a_flood_of_exports_is_limited_per_client(lab: Lab) -> None:
    """5 requests/s, burst 20: 60 at once from one client get JSON 429s with Retry-After."""
    time.sleep(5)  # let the bucket of the other tests' requests drain
    session = requests.Session()
    answers = [session.post(lab.front.url + "/otlp/v1/traces", json=SPANS, timeout=5) for _ in range(60)]
    statuses = [a.status_code for a in answers]
    assert statuses.count(200) <= 25 and statuses.count(429) >= 30, statuses
    limited = next(a for a in answers if a.status_code == 429)
    json_error(limited, 429, "too many requests")
    assert limited.headers["Retry-After"] == "1"
    assert requests.get(lab.front.url + "/api/tasks", timeout=5).status_code == 200  # the API is not limited


def test_a_dead_collector_is_a_json_502_and_the_api_still_answers(tmp_path: Path) -> None:
    dead = Lab(tmp_path, collector_up=False)
    try:
        json_error(requests.post(dead.front.url + "/otlp/v1/traces", json=SPANS, timeout=10), 502,
                   "collector unavailable")
        created = requests.post(dead.front.url + "/api/tasks", json={"title": "no collector"}, timeout=5)
        assert created.status_code == 201
    finally:
        dead.stop()


def test_the_deployment_values_reach_the_page_and_bad_ones_stop_the_entrypoint(lab: Lab) -> None:
    config = requests.get(lab.front.url + "/tracing-config.js", timeout=5)
    assert config.status_code == 200 and config.headers["Content-Type"].startswith("application/javascript")
    assert config.text == 'window.LAB_TRACING = {"serviceVersion": "1.0.0", "environment": "lab"};\n'
    entrypoint = FRONTEND / "docker-entrypoint.sh"
    for key, value in (("APP_VERSION", '1.0"; alert(1); "'), ("DEPLOYMENT_ENVIRONMENT", "lab env"),
                       ("COLLECTOR_UPSTREAM", "http://collector:4318/v1")):
        result = subprocess.run(["sh", str(entrypoint), "true"], capture_output=True, text=True, timeout=30,
                                env={**os.environ, key: value})
        assert result.returncode == 2 and f"{key} must be" in result.stderr, (key, result.stderr)


# -- the page in Chromium --------------------------------------------------------------------------
def test_a_click_is_one_trace_from_the_browser_into_flask(lab: Lab) -> None:
    def linked(trace_id: str) -> dict[str, dict[str, str]]:
        spans = [s for s in lab.collector.spans() if s.get("trace_id") == trace_id]
        seen = [(s["service"], s["name"], s["kind"], s["id"], s["parent_id"] or None) for s in spans]
        by_id = {s["id"]: s for s in spans}
        server = next((s for s in spans if s["service"] == "flask-backend" and s["kind"] == "Server"), None)
        assert server, f"no server span yet: {seen}"
        fetch = by_id.get(server["parent_id"])
        assert fetch and fetch["service"] == "frontend-browser" and fetch["kind"] == "Client", seen
        interaction = by_id.get(fetch["parent_id"])
        assert interaction and interaction["name"] == "submit" and not interaction["parent_id"], seen
        return {"server": server, "fetch": fetch, "interaction": interaction}

    with browser.task_manager(lab.front.url) as page:
        assert page.tracing() == {"active": True, "service": "frontend-browser"}
        call = page.add_task("traced in a unit test")
        assert call is not None and call.status == 201 and call.trace_id == call.answered_trace_id

        def exported() -> dict[str, dict[str, str]]:
            page.flush_spans()  # the page stays open: its last spans end after the answer is read
            return linked(str(call.trace_id))

        found = wait(exported, "submit -> fetch -> POST /api/tasks in the collector's output")
        assert not page.problems and not page.foreign_requests(), (page.problems, page.foreign_requests())
    assert found["fetch"]["id"] == call.parent_span_id  # the traceparent the browser sent


def test_the_page_works_without_its_bundle(tmp_path: Path) -> None:
    """otel-web.js missing (a 404 with a JSON body, which the browser refuses to run): the page
    still adds, lists and deletes, and sends a traceparent of its own so the trace is still found."""
    bare = Lab(tmp_path, bundle=False)
    try:
        with browser.task_manager(bare.front.url) as page:
            assert page.tracing() is None
            call = page.add_task("no bundle")
            assert call is not None and call.status == 201
            assert call.trace_id and call.answered_trace_id == call.trace_id
            assert page.delete_task("no bundle").status == 200
            assert not [p for p in page.problems if "otel-web.js" not in p and "404" not in p], page.problems
    finally:
        bare.stop()


def test_the_page_works_when_the_collector_is_down(tmp_path: Path) -> None:
    dead = Lab(tmp_path, collector_up=False)
    try:
        with browser.task_manager(dead.front.url) as page:
            assert page.tracing() == {"active": True, "service": "frontend-browser"}
            call = page.add_task("collector down")
            assert call is not None and call.status == 201 and call.trace_id == call.answered_trace_id
            page.flush_spans()  # refused (502): dropped, not raised
            page.complete_task("collector down")
            assert page.stats().completed != "0"
            assert not page.problems, page.problems
    finally:
        dead.stop()
