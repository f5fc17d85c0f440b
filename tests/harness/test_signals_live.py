"""The Jaeger and VictoriaLogs clients against the real services (the lab's local images), fed
with OTLP the way the Collector feeds them: Jaeger v2 takes OTLP/HTTP JSON on 4318; VictoriaLogs
takes OTLP/HTTP *protobuf* only on ``/insert/opentelemetry/v1/logs`` (JSON is refused with 400), so
the few protobuf messages needed are encoded here by hand — no protobuf package required.

Containers publish their ports on 127.0.0.1 only and are removed by id when the module ends.
Skipped, with the reason, when Docker or the images (``lab images build``) are missing.
"""

from __future__ import annotations

import secrets
import shutil
import struct
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from harness.base.http import session
from harness.base.waiting import NotYet, eventually
from harness.clients.base import SignalError
from harness.clients.jaeger import JaegerTraceStore
from harness.clients.tracecontext import new_span_id, new_trace_id
from harness.clients.victorialogs import VictoriaLogsStore

pytestmark = [pytest.mark.docker, pytest.mark.slow]

JAEGER_IMAGE = "lab/jaeger:local"
VICTORIALOGS_IMAGE = "lab/victorialogs:local"


def _docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)


def _unavailable(image: str) -> str | None:
    if shutil.which("docker") is None:
        return "docker CLI not installed"
    try:
        info = _docker("info", "--format", "{{.ServerVersion}}", timeout=20)
    except subprocess.TimeoutExpired:
        return "docker engine does not answer"
    if info.returncode != 0:
        return f"docker engine not usable: {info.stderr.strip()[:200]}"
    if _docker("image", "inspect", image, timeout=20).returncode != 0:
        return f"image {image} not built (run `lab images build`)"
    return None


def _container(image: str, ports: tuple[int, ...]) -> Iterator[dict[int, str]]:
    """Run ``image`` with ``ports`` published on 127.0.0.1; yield ``{port: "http://127.0.0.1:N"}``."""
    reason = _unavailable(image)
    if reason:
        pytest.skip(reason)
    publish = [arg for port in ports for arg in ("-p", f"127.0.0.1::{port}")]
    run = _docker("run", "-d", "--rm", "--label", "obslab.test=signals-live", *publish, image)
    if run.returncode != 0:
        pytest.fail(f"docker run {image} failed: {run.stderr.strip()}")
    container_id = run.stdout.strip()
    try:
        urls = {}
        for port in ports:
            mapped = _docker("port", container_id, f"{port}/tcp").stdout.strip().splitlines()
            host_port = next(line.rsplit(":", 1)[1] for line in mapped if line.startswith("127.0.0.1:"))
            urls[port] = f"http://127.0.0.1:{host_port}"
        yield urls
    finally:
        _docker("rm", "-f", container_id)


def _wait_ready(store: Any, what: str) -> None:
    def check() -> None:
        if not store.ready():
            raise NotYet(f"{what} at {store.base_url} not ready")
    eventually(check, timeout=30, describe=f"{what} ready", interval=0.5)


# OTLP protobuf, just enough of it -----------------------------------------------------------------

def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, wire: int, payload: bytes) -> bytes:
    return _varint(number << 3 | wire) + payload


def _bytes(number: int, data: bytes) -> bytes:
    return _field(number, 2, _varint(len(data)) + data)


def _any_value(value: Any) -> bytes:  # opentelemetry.proto.common.v1.AnyValue
    if isinstance(value, bool):
        return _field(2, 0, _varint(int(value)))
    if isinstance(value, int):
        return _field(3, 0, _varint(value & 0xFFFFFFFFFFFFFFFF))
    if isinstance(value, float):
        return _field(4, 1, struct.pack("<d", value))
    return _bytes(1, str(value).encode())


def _key_value(number: int, key: str, value: Any) -> bytes:
    return _bytes(number, _bytes(1, key.encode()) + _bytes(2, _any_value(value)))


def otlp_logs_protobuf(service: str, records: list[dict[str, Any]]) -> bytes:
    """An ``ExportLogsServiceRequest`` (= ``LogsData``): one resource, one scope, ``records``."""
    log_records = b"".join(_bytes(2, b"".join([
        _field(1, 1, struct.pack("<Q", r["time_ns"])),            # time_unix_nano
        _field(2, 0, _varint(r["severity_number"])),              # severity_number
        _bytes(3, r["severity_text"].encode()),                   # severity_text
        _bytes(5, _any_value(r["body"])),                         # body
        *(_key_value(6, k, v) for k, v in r["attributes"].items()),
        _bytes(9, bytes.fromhex(r["trace_id"])),                  # trace_id
        _bytes(10, bytes.fromhex(r["span_id"])),                  # span_id
    ])) for r in records)
    scope_logs = _bytes(1, _bytes(1, b"taskapp")) + log_records
    resource = _bytes(1, _key_value(1, "service.name", service))
    return _bytes(1, resource + _bytes(2, scope_logs))


# Jaeger ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def jaeger_urls() -> Iterator[dict[int, str]]:
    yield from _container(JAEGER_IMAGE, (16686, 4318))


def _otlp_trace(service: str, trace_id: str, caller: str, ids: tuple[str, str, str]) -> dict[str, Any]:
    now = time.time_ns()
    server, manual, sql = ids

    def span(span_id: str, parent: str, name: str, kind: int, start: int, end: int,
             attributes: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
        attrs = [{"key": k, "value": {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v}}
                 for k, v in attributes.items()]
        return {"traceId": trace_id, "spanId": span_id, "parentSpanId": parent, "name": name, "kind": kind,
                "startTimeUnixNano": str(now + start), "endTimeUnixNano": str(now + end),
                "attributes": attrs, "status": status or {}}

    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"scope": {"name": "taskapp", "version": "1.0"}, "spans": [
            span(server, caller, "POST /api/tasks", 2, 0, 12_500_000,
                 {"http.request.method": "POST", "http.response.status_code": 201}),
            span(manual, server, "create_task", 1, 1_000_000, 9_000_000,
                 {"task.id": 42, "task.title": "buy milk"}, {"code": 2, "message": "boom"}),
            span(sql, manual, "INSERT taskdb", 3, 2_000_000, 5_000_000, {"db.system": "postgresql"},
                 {"code": 1}),
        ]}],
    }]}


def test_jaeger_reads_back_an_otlp_trace(jaeger_urls):
    store = JaegerTraceStore(jaeger_urls[16686])
    _wait_ready(store, "Jaeger query API")
    service = f"live-{secrets.token_hex(4)}"
    trace_id, caller = new_trace_id(), new_span_id()
    ids = (new_span_id(), new_span_id(), new_span_id())
    payload = _otlp_trace(service, trace_id, caller, ids)
    http = session()

    def accepted() -> None:  # the OTLP receiver may open a moment after the query API
        response = http.post(jaeger_urls[4318] + "/v1/traces", json=payload)
        if response.status_code != 200:
            raise NotYet(f"OTLP/HTTP answered {response.status_code}: {response.text[:200]}")

    eventually(accepted, timeout=30, describe="Jaeger's OTLP receiver to accept the trace", interval=0.5)

    def complete() -> Any:
        trace = store.get_trace(trace_id)
        if trace is None or len(trace.spans) < 3:
            raise NotYet(trace.summary() if trace else "no trace yet")
        return trace

    trace = eventually(complete, timeout=30, describe=f"trace {trace_id} in Jaeger", interval=0.5)
    server, manual, sql = ids
    assert [(s.name, s.kind, s.status, s.span_id, s.parent_span_id, s.service) for s in trace.spans] == [
        ("POST /api/tasks", "server", "unset", server, caller, service),
        ("create_task", "internal", "error", manual, server, service),
        ("INSERT taskdb", "client", "ok", sql, manual, service),
    ]
    assert trace.spans[0].attributes == {"http.request.method": "POST", "http.response.status_code": 201}
    assert trace.spans[1].attributes == {"task.id": 42, "task.title": "buy milk"}
    assert (trace.spans[0].duration_ns, trace.spans[1].duration_ns) == (12_500_000, 8_000_000)

    v3 = JaegerTraceStore(jaeger_urls[16686], api="v3").get_trace(trace_id)
    assert [(s.name, s.kind, s.status, s.parent_span_id, s.attributes) for s in v3.spans] == [
        (s.name, s.kind, s.status, s.parent_span_id, s.attributes) for s in trace.spans]

    assert store.search(service, lookback_s=300) == [trace_id]
    assert service in store.services()
    assert store.get_trace(new_trace_id()) is None


# VictoriaLogs ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def victorialogs_url() -> Iterator[str]:
    for urls in _container(VICTORIALOGS_IMAGE, (9428,)):
        yield urls[9428]


def test_victorialogs_reads_back_otlp_logs(victorialogs_url):
    store = VictoriaLogsStore(victorialogs_url)
    _wait_ready(store, "VictoriaLogs")
    service = f"live-{secrets.token_hex(4)}"
    trace_id, span_id, other_trace = new_trace_id(), new_span_id(), new_trace_id()
    now = time.time_ns()
    records = [
        {"time_ns": now, "severity_number": 9, "severity_text": "INFO", "body": "Incoming request",
         "attributes": {"method": "POST", "path": "/api/tasks"}, "trace_id": trace_id, "span_id": span_id},
        {"time_ns": now + 5_000_000, "severity_number": 17, "severity_text": "ERROR",
         "body": "Request completed",
         "attributes": {"method": "POST", "path": "/api/tasks", "status": 500, "duration_ms": 5.5},
         "trace_id": trace_id, "span_id": span_id},
        {"time_ns": now + 6_000_000, "severity_number": 9, "severity_text": "INFO",
         "body": "Incoming request",
         "attributes": {"method": "GET", "path": "/api/tasks"}, "trace_id": other_trace, "span_id": span_id},
    ]
    http = session()
    refused = http.post(victorialogs_url + "/insert/opentelemetry/v1/logs", json={"resourceLogs": []})
    response = http.post(victorialogs_url + "/insert/opentelemetry/v1/logs",
                         data=otlp_logs_protobuf(service, records),
                         headers={"Content-Type": "application/x-protobuf"})
    assert response.status_code == 200, response.text

    def by_trace() -> Any:
        found = store.query(service, trace_id=trace_id, lookback_s=300)
        if len(found) < 2:
            raise NotYet(found)
        return found

    found = eventually(by_trace, timeout=30, describe="both records of the trace", interval=0.5)
    assert [(r.body, r.severity, r.service, r.trace_id, r.span_id, r.timestamp_ns) for r in found] == [
        ("Request completed", "ERROR", service, trace_id, span_id, now + 5_000_000),
        ("Incoming request", "INFO", service, trace_id, span_id, now),
    ]
    assert {k: found[0].attributes[k] for k in ("method", "path", "status", "duration_ms")} == {
        "method": "POST", "path": "/api/tasks", "status": "500", "duration_ms": "5.5"}

    by_text = store.query(service, text="Incoming request", lookback_s=300)
    assert sorted(r.trace_id for r in by_text) == sorted([trace_id, other_trace])
    [other] = store.query(service, text="Incoming request", trace_id=other_trace)
    assert other.attributes["method"] == "GET"
    assert store.query(f"{service}-nobody", lookback_s=300) == []

    with pytest.raises(SignalError, match="HTTP 400"):
        store.logsql('"service.name":=')
    # the reason the Collector must export logs to VictoriaLogs as protobuf (this release)
    assert refused.status_code in (200, 204) or "protobuf" in refused.text
