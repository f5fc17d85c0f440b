"""The front: static files that work offline, and the nginx config rendered the way the image's
entrypoint renders it, checked with `nginx -t` and then run for real in front of a live backend."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from app_support import LiveServer, Otel, free_port

FRONTEND = Path(__file__).resolve().parents[2] / "app" / "frontend"
HTML = FRONTEND / "html"
TEMPLATE_VARS = ("BACKEND_UPSTREAM", "NGINX_RESOLVER", "NGINX_PORT")
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
COMPOSE_VALUES = {"BACKEND_UPSTREAM": "backend:5000", "NGINX_RESOLVER": "127.0.0.11", "NGINX_PORT": "8080"}
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx)")


def render(values: dict[str, str]) -> str:
    """What the entrypoint's `envsubst '${BACKEND_UPSTREAM} ${NGINX_RESOLVER} ${NGINX_PORT}'` does."""
    template = (FRONTEND / "nginx" / "default.conf.template").read_text()
    envsubst = shutil.which("envsubst")
    if envsubst:
        env = {**os.environ, **values}
        shell_format = " ".join(f"${{{name}}}" for name in TEMPLATE_VARS)
        return subprocess.run(
            [envsubst, shell_format], input=template, env=env, capture_output=True, text=True, check=True
        ).stdout
    for name in TEMPLATE_VARS:
        template = template.replace(f"${{{name}}}", values[name])
    return template


def write_config(root: Path, values: dict[str, str]) -> Path:
    """nginx.conf + rendered server block under `root` instead of /tmp/nginx and the image paths."""
    (root / "conf.d").mkdir(parents=True, exist_ok=True)
    server = render(values).replace("/usr/share/nginx/html", str(HTML))
    (root / "conf.d" / "default.conf").write_text(server)
    main = (FRONTEND / "nginx" / "nginx.conf").read_text().replace("/tmp/nginx", str(root))
    if os.geteuid() == 0:  # as root, workers would drop to `nobody`, who may not read the work tree
        main = "user root;\n" + main
    conf = root / "nginx.conf"
    conf.write_text(main)
    return conf


def test_static_files_are_self_contained() -> None:
    for name in ("index.html", "app.js", "styles.css", "favicon.svg"):
        assert (HTML / name).is_file(), name
    index = (HTML / "index.html").read_text()
    for asset in re.findall(r'(?:src|href)="([^"#]+)"', index):
        assert not re.match(r"^(https?:)?//", asset), f"external asset: {asset}"
        assert (HTML / asset).is_file(), asset
    for name in ("index.html", "app.js", "styles.css"):
        text = (HTML / name).read_text()
        assert not re.search(r"https?://|//cdn|@import", text), f"{name} must not load anything remote"
        assert "<script>" not in text and " style=" not in text, f"{name}: inline code breaks the CSP"
    js = (HTML / "app.js").read_text()
    for path in ("/api/tasks", "/api/simulate-slow", "/api/simulate-error", "/api/smoke/db"):
        assert path in js
    assert "window.location.hostname" in js and "traceparent" in js


def test_template_uses_resolver_and_variable_proxy_pass() -> None:
    template = (FRONTEND / "nginx" / "default.conf.template").read_text()
    assert "resolver ${NGINX_RESOLVER}" in template
    assert re.search(
        r'set \$lab_backend "http://\$\{BACKEND_UPSTREAM\}";\s+proxy_pass \$lab_backend;', template
    )
    assert "listen ${NGINX_PORT};" in template
    entrypoint = (FRONTEND / "docker-entrypoint.sh").read_text()
    assert "envsubst '${BACKEND_UPSTREAM} ${NGINX_RESOLVER} ${NGINX_PORT}'" in entrypoint
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
        pytest.skip("nginx is not installed (apt-get install nginx)")
    port = free_port()
    values = {
        "BACKEND_UPSTREAM": f"127.0.0.1:{live.port}",
        "NGINX_RESOLVER": "127.0.0.1",
        "NGINX_PORT": str(port),
    }
    conf = write_config(tmp_path, values)
    proc = subprocess.Popen(
        [NGINX, "-e", "stderr", "-p", str(tmp_path), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            requests.get(url + "/healthz", timeout=1)
            break
        except requests.RequestException:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"nginx did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


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
