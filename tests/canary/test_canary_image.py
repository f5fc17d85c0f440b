"""The canary's image carries exactly the harness modules the canary imports (ADR 0020): the files
its Dockerfile copies, the files stack/images/build.sh stages for it and the import closure of
``pipeline_canary`` are the same set, and that closure needs no third-party package beyond the
canary's requirements. Also its settings from the environment."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pipeline_canary.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]
CLOSURE = """
import json, sys
before = set(sys.modules)
import importlib
import pipeline_canary.__main__
from harness.base import observes
for kind in observes.STORE_KINDS.values():  # made at run time by harness.clients.stores
    importlib.import_module(kind.client.partition(":")[0])
new = set(sys.modules) - before
print(json.dumps(sorted(m for m in new if m == "harness" or m.startswith("harness."))))
print(json.dumps(sorted({m.split(".")[0] for m in new if not m.startswith("_") and m != "cython_runtime"}
                        - set(sys.stdlib_module_names))))
"""


def _module_files(modules: list[str]) -> set[str]:
    out = set()
    for m in modules:
        path = Path(*m.split("."))
        out.add(str(path / "__init__.py") if (ROOT / path).is_dir() else f"{path}.py")
    return out


def _dockerfile_harness_files() -> set[str]:
    text = (ROOT / "app" / "canary" / "Dockerfile").read_text().replace("\\\n", " ")
    return {w for line in text.splitlines() if line.startswith("COPY harness/")
            for w in line.split()[1:-1]}


def _build_sh_files() -> set[str]:
    text = (ROOT / "stack" / "images" / "build.sh").read_text()
    listed = re.search(r"CANARY_FILES=\((.*?)\)", text, re.S)
    assert listed, "stack/images/build.sh has no CANARY_FILES"
    return set(listed.group(1).split())


@pytest.fixture(scope="module")
def closure() -> tuple[list[str], list[str]]:
    env = {"PYTHONPATH": f"{ROOT / 'app' / 'canary'}:{ROOT}", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", CLOSURE], env=env, capture_output=True, text=True,
                         timeout=60, check=True).stdout.splitlines()
    return json.loads(out[0]), json.loads(out[1])


def test_the_image_copies_the_harness_modules_the_canary_imports(
        closure: tuple[list[str], list[str]]) -> None:
    wanted = _module_files(closure[0])
    assert _dockerfile_harness_files() == wanted
    staged = _build_sh_files()
    assert {f for f in staged if f.startswith("harness/")} == wanted
    assert {"app/canary/requirements.txt", "app/canary/pipeline_canary"} <= staged


def test_no_package_beyond_the_canary_s_requirements(closure: tuple[list[str], list[str]]) -> None:
    pinned = {line.split("==")[0].lower().replace("-", "_")
              for line in (ROOT / "app" / "canary" / "requirements.txt").read_text().splitlines()
              if "==" in line and not line.startswith("#")}
    imported = set(closure[1]) - {"harness", "pipeline_canary"}
    names = {"opentelemetry": "opentelemetry_sdk", "google": "googleapis_common_protos",
             "charset_normalizer": "charset_normalizer", "prometheus_client": "prometheus_client"}
    assert {names.get(m, m) for m in imported} <= pinned


def test_settings_default_to_the_issue_s_and_read_the_environment() -> None:
    assert (Settings.from_env({}).interval_s, Settings.from_env({}).budget_s) == (1.0, 60.0)
    s = Settings.from_env({"CANARY_INTERVAL_S": "5", "CANARY_BUDGET_S": "30", "CANARY_STORES": "tempo-loki",
                           "CANARY_TRACES_URL": "http://tempo:3200/", "OTEL_EXPORTER_OTLP_ENDPOINT": ""})
    assert (s.interval_s, s.budget_s, s.stores, s.traces_url) == (5.0, 30.0, "tempo-loki", "http://tempo:3200")
    assert s.otlp_endpoint == "http://otel-collector:4318"  # empty counts as unset
    with pytest.raises(SettingsError, match="CANARY_INTERVAL_S='x' is not a number"):
        Settings.from_env({"CANARY_INTERVAL_S": "x"})
    with pytest.raises(SettingsError, match="CANARY_BUDGET_S='0' is below 1"):
        Settings.from_env({"CANARY_BUDGET_S": "0"})
