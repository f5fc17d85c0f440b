"""W3C Trace Context for requests the harness makes: a step chooses the trace id, sends it in a
``traceparent`` header, and then looks for exactly that id in traces, logs and exemplars.

https://www.w3.org/TR/trace-context/#traceparent-header
"""

from __future__ import annotations

import re
import secrets

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def _random_hex(nbytes: int) -> str:
    while True:  # the all-zero id is invalid (vanishingly rare, but cheap to rule out)
        value = secrets.token_hex(nbytes)
        if set(value) != {"0"}:
            return value


def new_trace_id() -> str:
    """32 lowercase hex digits, random, never all zero."""
    return _random_hex(16)


def new_span_id() -> str:
    """16 lowercase hex digits, random, never all zero."""
    return _random_hex(8)


def new_traceparent(sampled: bool = True) -> tuple[str, str, str]:
    """``(traceparent header value, trace_id, parent span_id)`` with fresh random ids.

    ``sampled=True`` sets the trace-flags to ``01`` so the app's parent-based sampler records it.
    """
    trace_id, span_id = new_trace_id(), new_span_id()
    return f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}", trace_id, span_id


def parse_traceparent(header: str) -> tuple[str, str, bool]:
    """``(trace_id, span_id, sampled)`` of a version-00 ``traceparent`` value; ValueError if malformed."""
    m = _TRACEPARENT.match(header.strip())
    if not m or m.group(1) == "ff" or set(m.group(2)) == {"0"} or set(m.group(3)) == {"0"}:
        raise ValueError(f"not a valid traceparent: {header!r}")
    return m.group(2), m.group(3), bool(int(m.group(4), 16) & 1)
