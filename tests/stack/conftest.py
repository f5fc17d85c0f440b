"""Fixtures of the stack/ config tests; the helpers live in test_configs_support.py."""

from __future__ import annotations

from typing import Any

import pytest

from tests.stack.test_configs_support import load_dashboards


@pytest.fixture(scope="session")
def dashboards() -> list[dict[str, Any]]:
    return load_dashboards()
