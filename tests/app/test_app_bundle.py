"""The page's OpenTelemetry bundle (app/frontend/bundle -> html/otel-web.js), built here from the
lock file exactly as the image's bundle stage builds it (`npm ci`, then `node build.mjs`).

It builds, it stays under its size budget, it names no external URL (the page must work with no
internet, and loads nothing from anywhere but the front), it needs no eval (the front's CSP allows
only 'self' scripts), the same lock gives the same bytes, and the image serves those bytes.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.lab import npm

BUNDLE = npm.bundle_dir()
# The budget, minified: 160 KiB (measured: 125 396 bytes, 40.5 KB gzipped, with the packages of the
# lock file in December 2026). A bundle past it pulled in something the page does not use.
MAX_BYTES = 160 * 1024
NODE_MISSING = "node/npm not installed (apt-get install nodejs npm)"
# scheme://host... in any string of the bundle; a host is a name or an address, not a ${template}
ABSOLUTE_URL = re.compile(r"\b([a-z][a-z0-9+.-]*)://([^/\"'`\s)]*)", re.I)
PROTOCOL_RELATIVE = re.compile(r"[\"'`]//([a-z0-9-]+\.)+[a-z]{2,}", re.I)
NOT_EXTERNAL = {"localhost", "127.0.0.1", "[::1]"}

pytestmark = pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                                reason=NODE_MISSING)


def build(out: Path) -> Path:
    npm.ensure_installed(BUNDLE)
    result = subprocess.run(["node", "build.mjs", "--outdir", str(out)], cwd=BUNDLE, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return out / "otel-web.js"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("bundle"))


def external_urls(text: str) -> list[str]:
    """Absolute or protocol-relative URLs of hosts other than this machine's loopback names."""
    found = []
    for match in ABSOLUTE_URL.finditer(text):
        host = match[2].split(":")[0] if not match[2].startswith("[") else match[2].split("]")[0] + "]"
        if host and not host.startswith("$") and host.lower() not in NOT_EXTERNAL:
            found.append(match[0])
    return found + [m[0] for m in PROTOCOL_RELATIVE.finditer(text)]


def test_the_url_check_catches_what_it_must() -> None:
    caught = external_urls('a="https://unpkg.com/x.js";b="//cdn.example.org/y";c=`wss://collector:4318`')
    assert caught == ["https://unpkg.com", "wss://collector:4318", '"//cdn.example.org']
    assert external_urls('u="http://localhost:4318/v1/traces";t=`http://${s}`;p="/otlp/v1/traces"') == []


def test_the_bundle_builds_within_its_budget_and_names_no_external_url(bundle: Path) -> None:
    size = bundle.stat().st_size
    assert 20_000 < size <= MAX_BYTES, f"otel-web.js is {size} bytes (budget {MAX_BYTES})"
    text = bundle.read_text(encoding="utf-8")
    assert external_urls(text) == [], "otel-web.js names external URLs"
    no_eval = r"\beval\(|new Function\(|importScripts\(|\bimport\("
    assert not re.search(no_eval, text), "the front's CSP allows script-src 'self' only"
    for needed in ("frontend-browser", "/otlp/v1/traces", "labTracing", "traceparent"):
        assert needed in text, needed
    licences = (bundle.parent / "otel-web.LICENSES.txt").read_text()
    for package in ("@opentelemetry/sdk-trace-web", "@opentelemetry/instrumentation-fetch",
                    "@opentelemetry/instrumentation-document-load",
                    "@opentelemetry/instrumentation-user-interaction",
                    "@opentelemetry/exporter-trace-otlp-http", "@opentelemetry/context-zone", "zone.js"):
        assert f"  {package} " in licences, package


def test_the_lock_pins_every_package_and_gives_the_same_bytes_again(bundle: Path, tmp_path: Path) -> None:
    import json

    manifest = json.loads((BUNDLE / "package.json").read_text())
    for section in ("dependencies", "devDependencies"):
        for name, version in manifest[section].items():
            assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name}@{version} is not pinned exactly"
    lock = json.loads((BUNDLE / "package-lock.json").read_text())
    assert all(p.get("integrity") for k, p in lock["packages"].items() if k), "every package has its hash"
    again = build(tmp_path)
    assert again.read_bytes() == bundle.read_bytes()


@pytest.mark.docker
def test_the_image_serves_the_bundle_built_from_the_lock(bundle: Path) -> None:
    """lab/frontend:local was bundled in its own stage (Debian's Node and npm): same bytes."""
    if shutil.which("docker") is None:
        pytest.skip("no docker CLI")
    tag = "lab/frontend:local"
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True, timeout=30).returncode != 0:
        pytest.skip(f"{tag} is not built (bash stack/images/build.sh --only frontend)")
    served = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "cat", tag, "/usr/share/nginx/html/otel-web.js"],
        capture_output=True, timeout=120, check=True).stdout
    assert hashlib.sha256(served).hexdigest() == hashlib.sha256(bundle.read_bytes()).hexdigest(), (
        f"{tag} serves another otel-web.js than package-lock.json gives: rebuild it")
