"""The lab's reports: ``results.json`` (the model), ``cucumber.json`` and the living docs.

- :mod:`harness.report.plugin` — the pytest hooks that record scenarios, steps and evidence
  (registered from the root conftest: ``pytest_plugins = ["harness.report.plugin"]``);
- :mod:`harness.report.records` — the run's records (scenario, step, phase) and their status rules;
- :mod:`harness.report.bdd_adapter` — the only reader of pytest-bdd's internals, checked at start;
- :mod:`harness.report.failures` — failure and skip texts from pytest's reports, trimmed;
- :mod:`harness.report.model` — the results model, statuses and load/save;
- :mod:`harness.report.cucumber` and :mod:`harness.report.living_docs` — renderers of that model,
  written by :mod:`harness.report.render`;
- ``python -m harness.report reports/results.json`` — re-render both from a saved run.
"""
