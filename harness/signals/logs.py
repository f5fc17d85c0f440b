"""The log-store interface and its implementations in one import (ADR 0001 names
``harness.signals.logs.LogStore``); the definitions live in :mod:`harness.signals.model`."""

from harness.signals.loki import LokiLogStore
from harness.signals.model import LogRecord, LogStore
from harness.signals.stores import log_store_for
from harness.signals.victorialogs import VictoriaLogsStore

__all__ = ["LogRecord", "LogStore", "LokiLogStore", "VictoriaLogsStore", "log_store_for"]
