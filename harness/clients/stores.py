"""Which trace store and log store serve the lab: chosen once from ``endpoints.stores`` so steps
ask "the trace store" and "the log store" and never name Jaeger, Tempo, VictoriaLogs or Loki.

There is no switch on the set's name here: the set is a composition of store kinds
(:data:`harness.base.observes.STORE_SETS`), each naming its client class, and the client is made at
the URL of its signal's endpoint. A new store is its client module and its catalogue entry.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from harness.base import observes
from harness.base.errors import ConfigError
from harness.base.http import DEFAULT_TIMEOUT


class HasStores(Protocol):  # harness.lab.targets.base.Endpoints satisfies this
    """The store set's name, and each signal's endpoint as an attribute (``traces``, ``logs``)."""

    stores: str


def client_class(kind: observes.StoreKind) -> type[Any]:
    """The client class a store kind names (``module:Class``)."""
    module, _, attr = kind.client.partition(":")
    return getattr(importlib.import_module(module), attr)


def store_for(endpoints: HasStores, signal: str, *, timeout: float = DEFAULT_TIMEOUT) -> Any:
    """The client of the store that holds ``signal`` in the lab's set, at that signal's endpoint: a
    :class:`harness.clients.model.TraceStore` for ``traces``, a ``LogStore`` for ``logs``."""
    kind = observes.store_of(endpoints.stores, signal)
    if kind is None:
        sets = ", ".join(s.name for s in observes.STORE_SETS.values() if s.store(signal))
        raise ConfigError(f"store set {endpoints.stores!r} has no {observes.SIGNALS[signal].holder}; "
                          f"use {sets}")
    return client_class(kind)(getattr(endpoints, observes.SIGNALS[signal].endpoint), timeout=timeout)


def store_clients(endpoints: HasStores, *, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """Signal -> the client of its store, for every signal the lab's set stores."""
    chosen = observes.STORE_SETS.get(endpoints.stores)
    signals = [observes.STORE_KINDS[n].signal for n in chosen.stores] if chosen else observes.COLLECTED
    return {signal: store_for(endpoints, signal, timeout=timeout) for signal in signals}
