"""The lab's reports: ``results.json`` (the model), ``cucumber.json`` and the living docs.

- :mod:`harness.report.plugin` — the pytest plugin that records scenarios, steps and evidence
  (registered from the root conftest: ``pytest_plugins = ["harness.report.plugin"]``);
- :mod:`harness.report.model` — the results model, statuses and load/save;
- :mod:`harness.report.cucumber` and :mod:`harness.report.living_docs` — renderers of that model;
- ``python -m harness.report reports/results.json`` — re-render both from a saved run.
"""
