"""OTEL_* values that must never break a request: checked before OpenTelemetry reads them.

`opentelemetry.propagate` builds the process's propagator once, at import, from OTEL_PROPAGATORS:
an unknown name makes that import raise (the app cannot start), and `none` yields an empty
composite whose `extract()` returns None, which the Flask instrumentation then dereferences on
every request (a 500 for every request). So this module, imported before anything that imports
OpenTelemetry, drops unknown propagator names from the environment (with a warning naming the
key), and `SafePropagator` wraps whatever propagator is configured so that extracting or
injecting context can fail only into "no context", never into an exception.
"""

from __future__ import annotations

import logging
import os
from collections.abc import MutableMapping
from typing import Any

log = logging.getLogger("taskapp.telemetry")
BUILT_IN_PROPAGATORS = ("tracecontext", "baggage")
_problems: list[str] = []


def _installed_propagators() -> set[str]:
    from importlib.metadata import entry_points

    try:
        return {ep.name for ep in entry_points(group="opentelemetry_propagator")}
    except Exception:  # broken metadata must not stop the app either
        return set(BUILT_IN_PROPAGATORS)


def sanitise_propagators(environ: MutableMapping[str, str]) -> list[str]:
    """Keep OTEL_PROPAGATORS to names that load; return what was wrong (empty when all is well)."""
    raw = environ.get("OTEL_PROPAGATORS")
    if raw is None:
        return []
    names = [name.strip() for name in raw.split(",") if name.strip()]
    if any(name.lower() == "none" for name in names):
        environ["OTEL_PROPAGATORS"] = "none"  # valid per the spec: no propagation at all
        return []
    installed = _installed_propagators()
    known = [name for name in names if name in installed]
    unknown = [name for name in names if name not in installed]
    if not unknown and known:
        environ["OTEL_PROPAGATORS"] = ",".join(known)  # blank items would make the SDK's import fail
        return []
    chosen = known or list(BUILT_IN_PROPAGATORS)
    environ["OTEL_PROPAGATORS"] = ",".join(chosen)
    what = ", ".join(repr(n) for n in unknown) if unknown else "no propagator"
    return [
        f"OTEL_PROPAGATORS={raw!r}: {what} not installed (known: {', '.join(sorted(installed))}); "
        f"using {','.join(chosen)}"
    ]


# Comma-separated regular expressions the instrumentation compiles (some at import): one bad item
# would stop the app from starting, or fail requests.
REGEX_LISTS = (
    "OTEL_PYTHON_FLASK_EXCLUDED_URLS",
    "OTEL_PYTHON_EXCLUDED_URLS",
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST",
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE",
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS",
)


def sanitise_regex_lists(environ: MutableMapping[str, str]) -> list[str]:
    """Drop the items of those lists that are not valid regular expressions (naming the key)."""
    import re

    problems = []
    for key in REGEX_LISTS:
        raw = environ.get(key)
        if raw is None:
            continue
        good, bad = [], []
        for item in (part.strip() for part in raw.split(",")):
            if not item:
                continue
            try:
                re.compile(item)
                good.append(item)
            except re.error:
                bad.append(item)
        if bad:
            environ[key] = ",".join(good)
            shown = ", ".join(repr(b) for b in bad)
            problems.append(f"{key}: {shown} not valid regular expression(s); ignored")
    return problems


class SafePropagator:
    """A TextMapPropagator that never raises and never returns None from extract()."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def extract(self, carrier: Any, context: Any = None, getter: Any = None) -> Any:
        from opentelemetry.context import Context

        fallback = context if context is not None else Context()
        try:
            kwargs = {} if getter is None else {"getter": getter}
            extracted = self.inner.extract(carrier, context, **kwargs)
        except Exception:
            return fallback
        return fallback if extracted is None else extracted

    def inject(self, carrier: Any, context: Any = None, setter: Any = None) -> None:
        try:
            kwargs = {} if setter is None else {"setter": setter}
            self.inner.inject(carrier, context, **kwargs)
        except Exception:
            pass

    @property
    def fields(self) -> set[str]:
        try:
            return set(self.inner.fields)
        except Exception:
            return set()


def install_safe_propagator() -> None:
    """Wrap the process's configured propagator (once) so that no request can fail in it."""
    from opentelemetry import propagate

    current = propagate.get_global_textmap()
    if not isinstance(current, SafePropagator):
        propagate.set_global_textmap(SafePropagator(current))  # type: ignore[arg-type]


def report_problems(logger: logging.Logger) -> None:
    """Log, once per app, what this module had to correct."""
    for problem in _problems:
        logger.warning("Telemetry setting ignored", extra={"fields": {"problem": problem}})


_problems.extend(sanitise_propagators(os.environ))
_problems.extend(sanitise_regex_lists(os.environ))
