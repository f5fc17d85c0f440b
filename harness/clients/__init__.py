"""Floor 2 — one client per thing the harness reads: the app, Prometheus, the trace store, the log
store, Grafana, and the hop counters (:mod:`harness.clients.hops`)."""
