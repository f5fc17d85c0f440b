"""Tests of stack/images/ (the no-registry image builds) and stack/healthcheck/.

Fast checks run everywhere: versions.env is plain KEY=VALUE, the collector manifest keeps every
module at the release of versions.env, build.sh parses and lists its images, and lab-healthcheck
behaves as documented (built with the host's Go, run against a real local HTTP server). Checks
marked `docker` look at the images that build.sh made, and skip when an image is not built.
"""

from __future__ import annotations

import http.server
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "stack" / "images"
HEALTHCHECK_SRC = ROOT / "stack" / "healthcheck"
BUILD_SH = IMAGES / "build.sh"

BUILDABLE = [
    "base",
    "python",
    "nginx",
    "node",
    "backend",
    "frontend",
    "healthcheck",
    "prometheus",
    "otel-collector",
    "jaeger",
    "victorialogs",
    "link",
]
UNBUILDABLE = ["tempo", "loki", "grafana"]
LOCAL_TAGS = {
    "lab/base:bookworm",
    "lab/python:bookworm",
    "lab/backend:local",
    "lab/frontend:local",
    "lab/prometheus:local",
    "lab/otel-collector:local",
    "lab/jaeger:local",
    "lab/victorialogs:local",
}


def read_versions() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in (IMAGES / "versions.env").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"([A-Z][A-Z0-9_]*)=([^\s'\"$`]*)", line)
        assert m, f"versions.env: not a plain KEY=VALUE line: {line!r}"
        values[m.group(1)] = m.group(2)
    return values


def go_binary() -> str | None:
    return shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)


# ------------------------------------------------------------------ versions and manifest


def test_versions_env_is_plain_and_complete() -> None:
    v = read_versions()
    for key in (
        "DEBIAN_SUITE",
        "COLLECTOR_CORE_VERSION",
        "COLLECTOR_STABLE_VERSION",
        "COLLECTOR_CONTRIB_VERSION",
        "JAEGER_VERSION",
        "VICTORIALOGS_VERSION",
        "PROMETHEUS_VERSION",
    ):
        assert v.get(key), f"versions.env lacks {key}"
    for key in (
        "COLLECTOR_CORE_VERSION",
        "COLLECTOR_STABLE_VERSION",
        "COLLECTOR_CONTRIB_VERSION",
        "JAEGER_VERSION",
        "JAEGER_RELEASE",
        "VICTORIALOGS_VERSION",
        "PROMETHEUS_VERSION",
    ):
        assert re.fullmatch(r"\d+\.\d+\.\d+", v[key]), f"{key}={v[key]} is not X.Y.Z (no leading v)"


def test_collector_manifest_keeps_one_release() -> None:
    v = read_versions()
    text = (IMAGES / "collector" / "builder-config.yaml").read_text()
    mods = re.findall(r"^\s*-\s*gomod:\s*(\S+)\s+(\S+)\s*$", text, flags=re.M)
    assert len(mods) >= 8, mods
    names = {m.rsplit("/", 1)[-1] for m, _ in mods}
    for needed in (
        "otlpreceiver",
        "memorylimiterprocessor",
        "batchprocessor",
        "resourceprocessor",
        "otlpexporter",
        "otlphttpexporter",
        "debugexporter",
        "healthcheckextension",
    ):
        assert needed in names, f"builder-config.yaml lacks {needed}"
    for mod, ver in mods:
        if mod.startswith("github.com/open-telemetry/opentelemetry-collector-contrib/"):
            assert ver == f"v{v['COLLECTOR_CONTRIB_VERSION']}", (mod, ver)
        else:
            assert mod.startswith("go.opentelemetry.io/collector/"), mod
            assert ver in (f"v{v['COLLECTOR_CORE_VERSION']}", f"v{v['COLLECTOR_STABLE_VERSION']}"), (mod, ver)
    assert re.search(rf"^\s*version:\s*{re.escape(v['COLLECTOR_CORE_VERSION'])}\s*$", text, re.M)


# ------------------------------------------------------------------ build.sh


def test_build_sh_parses() -> None:
    subprocess.run(["bash", "-n", str(BUILD_SH)], check=True, timeout=30)


def test_build_sh_lists_every_image_and_says_what_cannot_be_built() -> None:
    out = subprocess.run(
        [str(BUILD_SH), "--list"], check=True, capture_output=True, text=True, timeout=30
    ).stdout
    listed = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert listed == BUILDABLE + UNBUILDABLE
    for name in UNBUILDABLE:
        line = next(ln for ln in out.splitlines() if ln.startswith(name))
        assert "not buildable here" in line and "AGPL" in line, line
    for tag in LOCAL_TAGS:
        assert tag in out, f"--list does not name {tag}"


def test_build_sh_builds_prometheus_from_the_module_version_of_the_release() -> None:
    """Prometheus 3.MINOR.PATCH is tagged v0.3MINOR.PATCH in its Go module (3.16.0 is v0.316.0)."""
    major, minor, patch = read_versions()["PROMETHEUS_VERSION"].split(".")
    out = subprocess.run(
        [str(BUILD_SH), "--list"], check=True, capture_output=True, text=True, timeout=30
    ).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("prometheus "))
    assert f"v0.{major}{int(minor):02d}.{patch} " in line, line
    assert "github.com/prometheus/prometheus/cmd/{prometheus,promtool}" in line, line


def test_build_sh_rejects_unknown_names() -> None:
    res = subprocess.run(
        [str(BUILD_SH), "--only", "no-such-image"], capture_output=True, text=True, timeout=30
    )
    assert res.returncode == 2
    assert "unknown image name: no-such-image" in res.stderr


# ------------------------------------------------------------------ lab-healthcheck


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        code = 200 if self.path == "/ok" else 503
        body = b"fine" if code == 200 else b"still starting"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def healthcheck_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = go_binary()
    if not go:
        pytest.skip("no Go toolchain on this host")
    out = tmp_path_factory.mktemp("hc") / "lab-healthcheck"
    subprocess.run(
        [go, "build", "-trimpath", "-o", str(out), "."],
        cwd=HEALTHCHECK_SRC,
        check=True,
        timeout=300,
        env=_go_env(),
    )
    return out


def _go_env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env["CGO_ENABLED"] = "0"
    env.setdefault("GOFLAGS", "-buildvcs=false")
    return env


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def test_healthcheck_go_unit_tests() -> None:
    go = go_binary()
    if not go:
        pytest.skip("no Go toolchain on this host")
    subprocess.run([go, "vet", "./..."], cwd=HEALTHCHECK_SRC, check=True, timeout=300, env=_go_env())
    subprocess.run([go, "test", "./..."], cwd=HEALTHCHECK_SRC, check=True, timeout=300, env=_go_env())


def test_healthcheck_is_static_and_stdlib_only(healthcheck_bin: Path) -> None:
    gomod = (HEALTHCHECK_SRC / "go.mod").read_text()
    assert "require" not in gomod, "lab-healthcheck must have no dependencies"
    res = subprocess.run(["file", str(healthcheck_bin)], capture_output=True, text=True)
    if res.returncode == 0:
        assert "statically linked" in res.stdout, res.stdout


def test_healthcheck_exit_codes(healthcheck_bin: Path, http_server: str) -> None:
    ok = subprocess.run(
        [str(healthcheck_bin), f"{http_server}/ok"], capture_output=True, text=True, timeout=10
    )
    assert ok.returncode == 0, ok.stderr
    both = subprocess.run(
        [str(healthcheck_bin), f"{http_server}/ok", f"{http_server}/ready"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert both.returncode == 1
    assert "/ready: HTTP 503" in both.stderr and "still starting" in both.stderr
    assert "/ok" not in both.stderr
    usage = subprocess.run([str(healthcheck_bin)], capture_output=True, text=True, timeout=10)
    assert usage.returncode == 2 and "usage" in usage.stderr
    refused = subprocess.run(
        [str(healthcheck_bin), "http://127.0.0.1:1/"], capture_output=True, text=True, timeout=10
    )
    assert refused.returncode == 1 and "unhealthy" in refused.stderr


# ------------------------------------------------------------------ built images


def _inspect(tag: str) -> dict:
    if not shutil.which("docker"):
        pytest.skip("no docker CLI")
    res = subprocess.run(["docker", "image", "inspect", tag], capture_output=True, text=True, timeout=30)
    if res.returncode != 0:
        pytest.skip(f"{tag} is not built (stack/images/build.sh)")
    return json.loads(res.stdout)[0]


@pytest.mark.docker
@pytest.mark.parametrize(
    "tag,user",
    [
        ("lab/prometheus:local", "65534:65534"),
        ("lab/otel-collector:local", "10001:10001"),
        ("lab/jaeger:local", "10001:10001"),
        ("lab/victorialogs:local", "10001:10001"),
    ],
)
def test_service_images_are_labelled_non_root_with_healthcheck(tag: str, user: str) -> None:
    cfg = _inspect(tag)["Config"]
    assert cfg["User"] == user
    assert cfg["Labels"].get("lab.source-hash"), "build.sh labels every image with its input hash"
    assert cfg["Healthcheck"]["Test"][1] == "/lab-healthcheck"


@pytest.mark.docker
def test_collector_image_validates_its_default_config() -> None:
    _inspect("lab/otel-collector:local")
    res = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "lab/otel-collector:local",
            "validate",
            "--config",
            "/etc/otelcol/config.yaml",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    comps = subprocess.run(
        ["docker", "run", "--rm", "lab/otel-collector:local", "components"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    for name in (
        "otlp",
        "memory_limiter",
        "batch",
        "resource",
        "otlp_grpc",
        "otlp_http",
        "debug",
        "health_check",
    ):
        assert f"name: {name}\n" in comps, name


@pytest.mark.docker
def test_prometheus_image_is_the_release_of_versions_env_without_its_ui() -> None:
    """lab/prometheus:local runs (as the lab runs it: its default command, port 9090) and says the
    release of versions.env in /api/v1/status/buildinfo and `promtool --version`; its UI page
    answers what harness.clients.links recognises as "built without the UI's assets"."""
    import time
    import urllib.error
    import urllib.request

    from harness.clients import links

    _inspect("lab/prometheus:local")
    want = read_versions()["PROMETHEUS_VERSION"]
    tool = subprocess.run(["docker", "run", "--rm", "--network", "none", "--entrypoint", "/bin/promtool",
                           "lab/prometheus:local", "--version"], capture_output=True, text=True, timeout=120)
    assert f"promtool, version {want} " in tool.stdout, tool.stdout + tool.stderr
    run = subprocess.run(["docker", "run", "-d", "--rm", "-p", "127.0.0.1::9090", "lab/prometheus:local"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    container = run.stdout.strip()
    try:
        port = subprocess.run(["docker", "port", container, "9090/tcp"], capture_output=True, text=True,
                              timeout=30, check=True).stdout.split(":")[-1].strip()
        base = f"http://127.0.0.1:{port}"
        deadline, info = time.monotonic() + 60, None
        while info is None:
            try:
                with urllib.request.urlopen(f"{base}/api/v1/status/buildinfo", timeout=5) as resp:
                    info = json.loads(resp.read())["data"]
            except (OSError, ValueError):
                assert time.monotonic() < deadline, "lab/prometheus:local did not answer within 60 s"
                time.sleep(0.5)
        assert info["version"] == want, info
        with pytest.raises(urllib.error.HTTPError) as page:
            urllib.request.urlopen(f"{base}/query", timeout=5)
        assert links.prometheus_ui_lacks_assets(page.value.code, page.value.read().decode()), page.value.code
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, timeout=60)


@pytest.mark.docker
def test_jaeger_image_reports_the_release_of_versions_env() -> None:
    """lab/jaeger:local is built from the Go module version JAEGER_VERSION and reports the release
    JAEGER_RELEASE of that commit, as Jaeger's own release build does (the compose pin is that
    release: tests/stack/test_versions_table.py)."""
    _inspect("lab/jaeger:local")
    v = read_versions()
    out = subprocess.run(["docker", "run", "--rm", "--network", "none", "lab/jaeger:local", "version"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    info = json.loads(out.stdout[out.stdout.index("{"):out.stdout.rindex("}") + 1])
    assert info["gitVersion"] == f"v{v['JAEGER_RELEASE']}", info
