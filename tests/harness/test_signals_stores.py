"""Choosing the stores from the endpoints, and the shared helpers every store relies on."""

from __future__ import annotations

import base64

import pytest

from harness.base.errors import ConfigError
from harness.clients.base import (
    SignalError,
    any_value,
    hex_id,
    otlp_kind,
    otlp_status,
    require_trace_id,
    rfc3339_to_ns,
    severity_text,
)
from harness.clients.jaeger import JaegerTraceStore
from harness.clients.loki import LokiLogStore
from harness.clients.stores import client_class, store_clients, store_for
from harness.clients.tempo import TempoTraceStore
from harness.clients.victorialogs import VictoriaLogsStore
from harness.lab.targets.base import Endpoints


def test_jaeger_victorialogs_endpoints():
    endpoints = Endpoints.for_host("127.0.0.1", "docker", "jaeger-victorialogs")
    trace_store, log_store = store_for(endpoints, "traces"), store_for(endpoints, "logs")
    assert isinstance(trace_store, JaegerTraceStore) and trace_store.base_url == "http://127.0.0.1:16686"
    assert isinstance(log_store, VictoriaLogsStore) and log_store.base_url == "http://127.0.0.1:9428"
    assert (trace_store.name, log_store.name) == ("jaeger", "victorialogs")


def test_tempo_loki_endpoints():
    endpoints = Endpoints.for_host("127.0.0.1", "docker", "tempo-loki")
    trace_store, log_store = store_for(endpoints, "traces"), store_for(endpoints, "logs")
    assert isinstance(trace_store, TempoTraceStore) and trace_store.base_url == "http://127.0.0.1:3200"
    assert isinstance(log_store, LokiLogStore) and log_store.base_url == "http://127.0.0.1:3100"


def test_unknown_store_set_is_a_config_error():
    endpoints = Endpoints(target="docker", stores="zipkin-elk", frontend="", backend="", prometheus="",
                          traces="http://x", logs="http://y", collector_health="")
    with pytest.raises(ConfigError, match=r"zipkin-elk.* has no trace store; use jaeger-victorialogs"):
        store_for(endpoints, "traces")
    with pytest.raises(ConfigError, match=r"zipkin-elk.* has no log store"):
        store_for(endpoints, "logs")
    with pytest.raises(ConfigError, match="zipkin-elk"):
        store_clients(endpoints)


def test_each_store_kind_names_a_client_of_its_signal_s_interface():
    """The catalogue's import paths resolve, to a class of the signal's interface named as the kind."""
    from harness.base import observes
    from harness.clients.model import LogStore, TraceStore

    interfaces = {"traces": TraceStore, "logs": LogStore}
    for kind in observes.STORE_KINDS.values():
        cls = client_class(kind)
        assert issubclass(cls, interfaces[kind.signal]), kind.name
        assert cls.name == kind.name, kind.name
    assert set(interfaces) == set(observes.COLLECTED)


def test_a_lab_gets_one_client_per_signal_its_set_stores():
    clients = store_clients(Endpoints.for_host("127.0.0.1", "docker", "tempo-loki"))
    assert {s: type(c) for s, c in clients.items()} == {"traces": TempoTraceStore, "logs": LokiLogStore}


def test_every_store_implements_the_one_interface_of_its_kind():
    from harness.clients.model import LogStore, TraceStore

    assert issubclass(JaegerTraceStore, TraceStore) and issubclass(TempoTraceStore, TraceStore)
    assert issubclass(VictoriaLogsStore, LogStore) and issubclass(LokiLogStore, LogStore)


@pytest.mark.parametrize(("value", "nbytes", "expected"), [
    ("4BF92F3577B34DA6A3CE929D0E0E4736", 16, "4bf92f3577b34da6a3ce929d0e0e4736"),
    ("d6e9329d67b6146a", 16, "0000000000000000d6e9329d67b6146a"),  # Tempo search drops zeros
    (base64.b64encode(bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")).decode(), 16,
     "4bf92f3577b34da6a3ce929d0e0e4736"),
    ("AAAAAAAAEjQ=", 8, "0000000000001234"),  # base64 with leading zero bytes
    ("2", 8, "0000000000000002"),
    ("", 8, None),
    (None, 16, None),
    ("0000000000000000", 8, None),
])
def test_hex_id(value, nbytes, expected):
    assert hex_id(value, nbytes) == expected


def test_hex_id_rejects_garbage():
    with pytest.raises(SignalError):
        hex_id("not an id!", 8)
    with pytest.raises(SignalError):
        hex_id(base64.b64encode(b"x" * 20).decode(), 16)


def test_require_trace_id():
    assert require_trace_id("ABC") == "00000000000000000000000000000abc"
    for bad in ("xyz", "0" * 32, "1" * 33):
        with pytest.raises(ValueError):
            require_trace_id(bad)


def test_rfc3339_to_ns():
    assert rfc3339_to_ns("2023-11-14T22:13:20Z") == 1_700_000_000_000_000_000
    assert rfc3339_to_ns("2023-11-14T22:13:20.000000001Z") == 1_700_000_000_000_000_001
    assert rfc3339_to_ns("2023-11-14T23:13:20.5+01:00") == 1_700_000_000_500_000_000
    with pytest.raises(SignalError):
        rfc3339_to_ns("yesterday")


def test_otlp_enums_and_values():
    assert [otlp_kind(v) for v in ("SPAN_KIND_SERVER", 3, "2", "internal", None, "weird")] == [
        "server", "client", "server", "internal", "unspecified", "unspecified"]
    assert [otlp_status(v) for v in ({"code": "STATUS_CODE_ERROR"}, {"code": 1}, {}, None)] == [
        "error", "ok", "unset", "unset"]
    assert any_value({"intValue": "10"}) == 10
    assert any_value({"arrayValue": {"values": [{"stringValue": "a"}, {"boolValue": True}]}}) == ["a", True]
    assert any_value({"kvlistValue": {"values": [{"key": "k", "value": {"doubleValue": 1.5}}]}}) == {"k": 1.5}
    assert [severity_text(n) for n in (1, 9, 12, 13, 17, 21, 0, "x")] == [
        "TRACE", "INFO", "INFO", "WARN", "ERROR", "FATAL", "", ""]
