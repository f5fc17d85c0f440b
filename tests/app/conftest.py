"""Fixtures for the backend tests: real SQLite files, real OTel SDK providers with in-memory
exporters (injected through create_app's config, never as process globals), and a real HTTP
server (waitress) on a free loopback port."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from app_support import LiveServer, Otel, app_config, make_otel
from flask import Flask
from taskapp import create_app, shutdown


@pytest.fixture
def otel() -> Otel:
    """In-memory OTel for one test."""
    return make_otel()


@pytest.fixture
def make_app(tmp_path: Path, otel: Otel) -> Iterator[Callable[..., Flask]]:
    """Factory of apps wired to this test's OTel and a SQLite file under tmp_path."""
    apps: list[Flask] = []

    def _make(**overrides: Any) -> Flask:
        db_path = tmp_path / f"tasks-{len(apps)}.db"
        app = create_app(app_config(db_path, otel, **overrides))
        apps.append(app)
        return app

    yield _make
    for app in apps:
        shutdown(app)


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """The default test app."""
    return make_app()


@pytest.fixture
def client(app: Flask) -> Any:
    """Flask's test client, for the few tests that need no socket."""
    return app.test_client()


@pytest.fixture
def live(app: Flask) -> Iterator[LiveServer]:
    """The default app served over real HTTP."""
    server = LiveServer(app)
    yield server
    server.stop()
