"""Floor 6 — the assertion vocabulary (:mod:`harness.checks.expect`) and the acceptance checks."""
