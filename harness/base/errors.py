"""Errors the harness raises on purpose, so callers can tell bad input from a broken lab."""


class LabError(Exception):
    """Something in the lab is not as it should be (a failed deploy, a service that never got ready)."""


class ConfigError(LabError, ValueError):
    """A setting is wrong; the message is one line saying what is wrong and what would be right."""
