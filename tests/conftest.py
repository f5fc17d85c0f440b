"""Unit and integration tests run the same whatever the caller's lab settings: every ``LAB_*``
variable of the environment is removed for each test (tests that need one set it themselves)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _no_lab_settings_from_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("LAB_")]:
        monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _timeout_scale_one() -> None:
    """Every test starts with unscaled timeouts; tests that want a scale call waiting.configure."""
    from harness import waiting

    waiting.configure(1.0)
