"""The front: static files that work offline, and the nginx config rendered the way the image's
entrypoint renders it, checked with `nginx -t` and then run for real in front of a live backend."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from app_support import LiveServer, Otel
from servers import FRONTEND, HTML, NGINX, NGINX_MISSING, NginxFront, render, write_config

COMPOSE_VALUES = {"BACKEND_UPSTREAM": "backend:5000", "NGINX_RESOLVER": "127.0.0.11", "NGINX_PORT": "8080"}
needs_nginx = pytest.mark.skipif(NGINX is None, reason=NGINX_MISSING)


def test_static_files_are_self_contained() -> None:
    for name in ("index.html", "app.js", "styles.css", "favicon.svg"):
        assert (HTML / name).is_file(), name
    index = (HTML / "index.html").read_text()
    # made by the image, not kept in html/: the bundle (bundle/build.mjs, in the image's bundle stage)
    # and the deployment's values for it (a location of the server block)
    made = {"otel-web.js": (FRONTEND / "bundle" / "build.mjs", '"otel-web.js"'),
            "tracing-config.js": (FRONTEND / "nginx" / "default.conf.template",
                                  "location = /tracing-config.js")}
    for asset in re.findall(r'(?:src|href)="([^"#]+)"', index):
        assert not re.match(r"^(https?:)?//", asset), f"external asset: {asset}"
        if asset in made:
            maker, says = made[asset]
            assert says in maker.read_text(), f"{asset}: {maker.name} does not make it"
        else:
            assert (HTML / asset).is_file(), asset
    # tracing first, app.js last: defer keeps the order, so the SDK wraps fetch before the page uses it
    scripts = re.findall(r'<script src="([^"]+)" defer></script>', index)
    assert scripts == ["tracing-config.js", "otel-web.js", "app.js"], scripts
    for name in ("index.html", "app.js", "styles.css"):
        text = (HTML / name).read_text()
        assert not re.search(r"https?://|//cdn|@import", text), f"{name} must not load anything remote"
        assert "<script>" not in text and " style=" not in text, f"{name}: inline code breaks the CSP"
    js = (HTML / "app.js").read_text()
    for path in ("/api/tasks", "/api/simulate-slow", "/api/simulate-error", "/api/smoke/db"):
        assert path in js
    assert "window.location.hostname" in js and "traceparent" in js and "window.labTracing" in js


def test_template_uses_resolver_and_variable_proxy_pass() -> None:
    template = (FRONTEND / "nginx" / "default.conf.template").read_text()
    assert "resolver ${NGINX_RESOLVER}" in template
    assert re.search(
        r'set \$lab_backend "http://\$\{BACKEND_UPSTREAM\}";\s+proxy_pass \$lab_backend;', template
    )
    assert "listen ${NGINX_PORT};" in template
    entrypoint = (FRONTEND / "docker-entrypoint.sh").read_text()
    names = ("${BACKEND_UPSTREAM} ${NGINX_RESOLVER} ${NGINX_PORT} ${NGINX_TRACE_CONTEXT} "
             "${COLLECTOR_UPSTREAM} ${APP_VERSION} ${DEPLOYMENT_ENVIRONMENT}")
    assert f"envsubst '{names}'" in entrypoint
    rendered = render(
        {"BACKEND_UPSTREAM": "backend:5000", "NGINX_RESOLVER": "127.0.0.11", "NGINX_PORT": "8080"}
    )
    assert "resolver 127.0.0.11 valid=10s" in rendered and "http://backend:5000" in rendered
    assert "$lab_request_id" in rendered and "$host" in rendered  # nginx's own variables survive


@needs_nginx
def test_nginx_accepts_the_rendered_config(tmp_path: Path) -> None:
    conf = write_config(tmp_path, COMPOSE_VALUES)
    result = subprocess.run(
        [NGINX, "-t", "-e", "stderr", "-p", str(tmp_path), "-c", str(conf)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


@pytest.fixture
def nginx_front(live: LiveServer, tmp_path: Path) -> Iterator[str]:
    if NGINX is None:
        pytest.skip(NGINX_MISSING)
    front = NginxFront(tmp_path / "nginx", live.port)
    yield front.url
    front.stop()


def test_nginx_serves_ui_proxies_api_and_passes_ids(nginx_front: str, live: LiveServer, otel: Otel) -> None:
    health = requests.get(nginx_front + "/healthz", timeout=5)
    assert health.status_code == 200 and health.json() == {"status": "ok"}

    page = requests.get(nginx_front + "/", timeout=5)
    assert page.status_code == 200 and "Task Manager" in page.text
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["Referrer-Policy"]
    assert "nginx/" not in page.headers.get("Server", "")  # server_tokens off
    assert len(page.headers["X-Request-ID"]) == 32  # nginx made one
    assert (
        requests.get(nginx_front + "/app.js", timeout=5)
        .headers["Content-Type"]
        .startswith(("application/javascript", "text/javascript"))
    )

    trace_id = "5b8efff798038103d269b633813fc60c"
    created = requests.post(
        nginx_front + "/api/tasks",
        json={"title": "through nginx"},
        headers={"X-Request-ID": "front-42", "traceparent": f"00-{trace_id}-eee19b7ec3c1b174-01"},
        timeout=5,
    )
    assert created.status_code == 201, created.text
    assert created.headers["X-Request-ID"] == "front-42"  # once: a duplicate would read "front-42, front-42"
    assert created.headers["X-Trace-Id"] == trace_id
    assert "X-Frame-Options" in created.headers
    completed = [line for line in otel.json_lines() if line["message"] == "Request completed"]
    assert completed[-1]["request_id"] == "front-42" and completed[-1]["trace_id"] == trace_id

    listing = requests.get(nginx_front + "/api/tasks", timeout=5)
    assert listing.json()["count"] == 1

    too_big = requests.post(
        nginx_front + "/api/tasks",
        data=b"x" * 70_000,
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert too_big.status_code == 413 and "error" in too_big.json()  # the backend's JSON, not an nginx page


def test_nginx_answers_json_when_backend_is_down(nginx_front: str, live: LiveServer) -> None:
    live.stop()
    response = requests.get(nginx_front + "/api/tasks", timeout=10)
    assert response.status_code == 502
    assert response.json() == {"error": "backend unavailable"}
    assert requests.get(nginx_front + "/healthz", timeout=5).status_code == 200
