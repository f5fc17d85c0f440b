"""The acceptance run's plugins, loaded for every pytest run from the repo root.

The run itself — options, the lab session, scenario selection and order, shards, diagnostics of a
failed step — is :mod:`harness.bdd.plugin`; the reports are :mod:`harness.report.plugin`; the
step definitions are ``steps/``. The lab is only brought up when a scenario asks for it, so
``pytest tests`` never deploys anything.
"""

pytest_plugins = [
    "harness.bdd.plugin",
    "harness.report.plugin",
    "steps.common",
    "steps.deployment",
    "steps.metrics",
    "steps.traces",
    "steps.logs",
    "steps.correlation",
    "steps.failure",
    "steps.delivery",
    "steps.accounting",
    "steps.topology",
    "steps.security",
    "steps.vm",
    "steps.ui",
]
