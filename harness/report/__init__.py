"""Floor 8 — the lab's reports: ``results.json`` (the model), ``cucumber.json``, ``junit.xml`` and the
living docs; the sensitivity table; the living docs checked in Chromium.

- :mod:`harness.report.plugin` — the pytest hooks that record scenarios, steps and evidence
  (registered from the root conftest: ``pytest_plugins = ["harness.report.plugin"]``);
- :mod:`harness.report.records` — the run's records (scenario, step, phase) and their status rules;
- :mod:`harness.bdd.bdd_adapter` (a floor below) — the only reader of pytest-bdd's internals;
- :mod:`harness.report.failures` — failure and skip texts from pytest's reports, trimmed;
- :mod:`harness.report.model` — the results model, statuses and load/save;
- :mod:`harness.report.cucumber` and :mod:`harness.report.living_docs` — renderers of that model,
  written by :mod:`harness.report.render` (which writes the sensitivity table's files too,
  :mod:`harness.report.sensitivity_report`);
- ``python -m harness.report reports/results.json`` — re-render both from a saved run;
- ``python -m harness.report.docs_check reports/`` — the living docs checked in Chromium.
"""
