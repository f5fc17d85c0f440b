"""Floor 1 — what everything stands on: errors, the configuration (the only reader of ``LAB_*``),
the services (:mod:`harness.base.services`), waiting and timeouts, HTTP, evidence, progress and
state files. Imports no other floor."""
