"""Clients for what the lab emits: the app, Prometheus, the trace store, the log store, Grafana."""
