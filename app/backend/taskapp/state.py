"""What one app instance holds beyond Flask's own config (reached through `current_state()`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import current_app

from taskapp.admission import Admission
from taskapp.metrics import Metrics
from taskapp.settings import Settings
from taskapp.telemetry import Telemetry

EXTENSION_KEY = "taskapp"


@dataclass
class AppState:
    """Settings, telemetry, metrics, the request logger and the admission slots of one app."""

    settings: Settings
    telemetry: Telemetry
    metrics: Metrics
    logger: logging.Logger
    slow_slots: Admission
    smoke_slots: Admission


def current_state() -> AppState:
    """The AppState of the app handling the current request."""
    return current_app.extensions[EXTENSION_KEY]
