"""The backend's own version: the default `service.version` (APP_VERSION overrides it)."""

__version__ = "1.0.0"
