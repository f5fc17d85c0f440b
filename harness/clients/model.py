"""The store-independent shapes of traces and logs, and the two small interfaces every store
implements. Steps assert on these, so a scenario reads the same on Jaeger as on Tempo, on
VictoriaLogs as on Loki.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Span:
    trace_id: str  # 32 lowercase hex
    span_id: str  # 16 lowercase hex
    parent_span_id: str | None
    name: str
    service: str
    kind: str  # "server", "client", "internal", "producer", "consumer", "unspecified"
    status: str  # "ok", "error", "unset"
    attributes: dict[str, Any] = field(default_factory=dict)
    start_ns: int = 0
    duration_ns: int = 0


@dataclass(frozen=True)
class Trace:
    trace_id: str
    spans: tuple[Span, ...]

    def named(self, name: str) -> list[Span]:
        return [s for s in self.spans if s.name == name]

    def children_of(self, span: Span) -> list[Span]:
        return [s for s in self.spans if s.parent_span_id == span.span_id]

    def descendants_of(self, span: Span) -> list[Span]:
        out, todo = [], [span]
        while todo:
            kids = self.children_of(todo.pop())
            out.extend(kids)
            todo.extend(kids)
        return out

    def server_spans(self) -> list[Span]:
        return [s for s in self.spans if s.kind == "server"]

    def summary(self) -> str:
        return ", ".join(f"{s.name}[{s.kind},{s.status}]" for s in self.spans)


@dataclass(frozen=True)
class LogRecord:
    timestamp_ns: int
    body: str
    severity: str  # upper-case text: "INFO", "ERROR", ...
    service: str
    trace_id: str | None
    span_id: str | None
    attributes: dict[str, Any] = field(default_factory=dict)


class TraceStore(abc.ABC):
    """Get a trace by id; list a service's recent trace ids."""

    name: str

    @abc.abstractmethod
    def get_trace(self, trace_id: str) -> Trace | None:
        """The whole trace, or None when the store does not (yet) have it."""

    @abc.abstractmethod
    def search(self, service: str, *, limit: int = 20, lookback_s: int = 900) -> list[str]:
        """Trace ids of the service's recent traces, newest first."""

    @abc.abstractmethod
    def ready(self) -> bool: ...


class LogStore(abc.ABC):
    """Query a service's recent log records by text or by trace id."""

    name: str

    @abc.abstractmethod
    def query(self, service: str, *, text: str | None = None, trace_id: str | None = None,
              lookback_s: int = 900, limit: int = 200) -> list[LogRecord]: ...

    @abc.abstractmethod
    def ready(self) -> bool: ...
