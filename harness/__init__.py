"""Acceptance harness for the observability lab: targets, deploy, signals, waiting, evidence, reports."""

__version__ = "0.1.0"
