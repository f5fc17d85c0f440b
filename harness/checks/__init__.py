"""Floor 6 — the assertion vocabulary and the acceptance checks, one module per subject: the one
wait (:mod:`harness.checks.expectation`) and identities (:mod:`harness.checks.selection`) they all
use; traces, logs, metrics, histograms, SLIs, services, dashboards, Grafana; posture, accounting,
browser traces and the front page."""
