"""What every signal client shares: one HTTP session per client, JSON decoding that fails with a
message a person can act on, identifier normalisation and OTLP/JSON parsing.

Stores disagree on small things (Tempo sends base64 span ids, Jaeger drops leading zeros, OTLP/JSON
spells a span kind as a string or a number); the helpers here turn all of them into the one shape
of :mod:`harness.clients.model`, so steps never see the difference.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import requests

from harness.base import evidence
from harness.base.errors import LabError
from harness.base.http import DEFAULT_TIMEOUT, LabSession, session
from harness.clients.model import Span, Trace

_HEX = re.compile(r"^[0-9a-fA-F]+$")


class SignalError(LabError):
    """A signal backend answered, but not with what its API documents (or with an error)."""


class HttpClient:
    """Base of the clients: a base URL, one :class:`LabSession`, JSON helpers."""

    def __init__(self, base_url: str, *, timeout: float = DEFAULT_TIMEOUT,
                 http: LabSession | None = None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.http = http or session(timeout=timeout)

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def _get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.get(self.url(path), **kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"


def decode_json(response: requests.Response, what: str) -> Any:
    """The JSON body, or a :class:`SignalError` naming the URL, status and what came instead."""
    try:
        return response.json()
    except ValueError:
        raise SignalError(
            f"{what}: expected JSON from {response.request.method} {response.url}, got HTTP "
            f"{response.status_code} {evidence.trim(response.content, 300)!r}"
        ) from None


def raise_for_status(response: requests.Response, what: str) -> None:
    """Raise :class:`SignalError` for a non-2xx answer, quoting the body (it holds the reason)."""
    if response.status_code >= 400:
        raise SignalError(
            f"{what}: HTTP {response.status_code} from {response.request.method} {response.url}: "
            f"{evidence.trim(response.content, 500)}"
        )


# identifiers --------------------------------------------------------------------------------------

def hex_id(value: str | bytes | None, nbytes: int) -> str | None:
    """A trace (16 bytes) or span (8 bytes) id as lowercase, zero-padded hex.

    Accepts hex of any case, hex with its leading zeros dropped (Jaeger, Tempo's search) and
    base64 (Tempo's ``/api/traces`` and protobuf-JSON marshallers). Empty or all-zero -> None.
    """
    if value is None:
        return None
    if isinstance(value, bytes):
        raw = value
    else:
        text = value.strip()
        if not text:
            return None
        if _HEX.match(text) and len(text) <= 2 * nbytes:
            out = text.lower().zfill(2 * nbytes)
            return None if set(out) == {"0"} else out
        try:
            raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise SignalError(f"{text!r} is neither hex nor base64 for a {nbytes}-byte id") from None
    if len(raw) > nbytes:
        raise SignalError(f"id {value!r} has {len(raw)} bytes, expected at most {nbytes}")
    out = raw.hex().zfill(2 * nbytes)
    return None if set(out) == {"0"} else out


def trace_id_hex(value: str | bytes | None) -> str | None:
    return hex_id(value, 16)


def span_id_hex(value: str | bytes | None) -> str | None:
    return hex_id(value, 8)


def require_trace_id(trace_id: str) -> str:
    """Validate a trace id given by a caller (32 hex, or shorter hex) and normalise it."""
    if not isinstance(trace_id, str) or not _HEX.match(trace_id or "") or len(trace_id) > 32:
        raise ValueError(f"trace id {trace_id!r} is not hex of at most 32 digits")
    out = trace_id_hex(trace_id)
    if out is None:
        raise ValueError("the all-zero trace id is invalid")
    return out


# time -----------------------------------------------------------------------------------------------

def epoch_seconds(value: float | int | dt.datetime) -> float:
    """Unix seconds from a number or an (aware or UTC-naive) datetime."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.timestamp()
    return float(value)


_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$"
)


def rfc3339_to_ns(text: str) -> int:
    """Nanoseconds since the epoch from RFC 3339 with up to nanosecond precision."""
    m = _RFC3339.match(text.strip())
    if not m:
        raise SignalError(f"{text!r} is not an RFC 3339 timestamp")
    year, month, day, hour, minute, second, frac, zone = m.groups()
    tz = dt.UTC if zone == "Z" else dt.datetime.strptime(zone, "%z").tzinfo
    whole = dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=tz)
    return int(whole.timestamp()) * 1_000_000_000 + int((frac or "0").ljust(9, "0"))


# OTLP/JSON ------------------------------------------------------------------------------------------

_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_STATUS = {0: "unset", 1: "ok", 2: "error"}

SEVERITY_BY_NUMBER = (  # OTLP SeverityNumber ranges -> text
    (1, 4, "TRACE"), (5, 8, "DEBUG"), (9, 12, "INFO"), (13, 16, "WARN"), (17, 20, "ERROR"), (21, 24, "FATAL"),
)


def severity_text(number: int | str | None) -> str:
    """The OTLP severity text for a SeverityNumber ("" when unknown)."""
    try:
        n = int(number)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    for low, high, text in SEVERITY_BY_NUMBER:
        if low <= n <= high:
            return text
    return ""


def otlp_kind(value: Any) -> str:
    """``SPAN_KIND_SERVER`` / ``2`` / ``"server"`` -> ``"server"``."""
    if value is None or value == "":
        return "unspecified"
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return _KINDS.get(int(value), "unspecified")
    text = str(value).lower().removeprefix("span_kind_")
    return text if text in _KINDS.values() else "unspecified"


def otlp_status(status: Mapping[str, Any] | None) -> str:
    """``{"code": "STATUS_CODE_ERROR"}`` / ``{"code": 2}`` / ``{}`` -> ``"error"`` / ``"unset"``."""
    code = (status or {}).get("code")
    if code is None or code == "":
        return "unset"
    if isinstance(code, int) or (isinstance(code, str) and code.isdigit()):
        return _STATUS.get(int(code), "unset")
    text = str(code).lower().removeprefix("status_code_")
    return text if text in _STATUS.values() else "unset"


def any_value(value: Mapping[str, Any] | None) -> Any:
    """The Python value of an OTLP ``AnyValue`` (intValue arrives as a string in JSON)."""
    if not value:
        return None
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [any_value(v) for v in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return attributes(value["kvlistValue"].get("values", []))
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def attributes(items: Iterable[Mapping[str, Any]] | None) -> dict[str, Any]:
    """OTLP ``[{key, value: AnyValue}]`` -> ``{key: value}``."""
    return {item["key"]: any_value(item.get("value")) for item in items or [] if "key" in item}


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def parse_otlp_spans(resource_spans: Iterable[Mapping[str, Any]]) -> list[Span]:
    """Spans from OTLP/JSON ``resourceSpans`` (also Tempo's ``batches`` and the legacy
    ``instrumentationLibrarySpans`` spelling)."""
    spans: list[Span] = []
    for rs in resource_spans or []:
        resource = attributes((rs.get("resource") or {}).get("attributes"))
        service = str(resource.get("service.name", ""))
        scopes = rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans") or []
        for scope in scopes:
            for raw in scope.get("spans") or []:
                start = _int(raw.get("startTimeUnixNano"))
                end = _int(raw.get("endTimeUnixNano"))
                trace_id = trace_id_hex(raw.get("traceId"))
                span_id = span_id_hex(raw.get("spanId"))
                if trace_id is None or span_id is None:
                    raise SignalError(f"span without trace or span id: {json.dumps(raw)[:300]}")
                spans.append(Span(
                    trace_id=trace_id,
                    span_id=span_id,
                    parent_span_id=span_id_hex(raw.get("parentSpanId")),
                    name=raw.get("name", ""),
                    service=service,
                    kind=otlp_kind(raw.get("kind")),
                    status=otlp_status(raw.get("status")),
                    attributes=attributes(raw.get("attributes")),
                    start_ns=start,
                    duration_ns=max(0, end - start) if end else 0,
                ))
    return spans


def make_trace(trace_id: str, spans: list[Span]) -> Trace | None:
    """A :class:`Trace` of the spans that belong to ``trace_id``, ordered by start; None if none."""
    own = sorted((s for s in spans if s.trace_id == trace_id), key=lambda s: (s.start_ns, s.span_id))
    return Trace(trace_id=trace_id, spans=tuple(own)) if own else None


def record_trace(store: str, trace_id: str, trace: Trace | None) -> None:
    """Evidence of a trace lookup: which store, which id, what came back."""
    if trace is None:
        evidence.attach("trace", f"{store}: trace {trace_id}", found=False)
    else:
        evidence.attach("trace", f"{store}: trace {trace_id}", found=True, spans=len(trace.spans),
                        spans_summary=evidence.trim(trace.summary(), 1000))
