"""README's "Versions" table against the two places versions live: the compose pins (what a user
with a registry runs) and stack/images/versions.env (what build.sh builds here). Every pin and every
version is in the table, each as written there, and a row that says "same release" has the same
number on both sides; any other row must say what was checked where they differ."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STACK = REPO / "stack"
COLUMNS = ["component", "registry pin", "local build", "the suite ran against",
           "where they differ, what was checked"]
# `${LAB_REGISTRY_MIRROR:-docker.io}/prom/prometheus:${LAB_PROMETHEUS_VERSION:-v3.16.0}`
PIN = re.compile(r"\$\{LAB_REGISTRY_MIRROR:-docker\.io\}/([\w./-]+):\$\{LAB_[A-Z]+_VERSION:-([^}]+)\}")
SETTING = re.compile(r"`([A-Z][A-Z0-9_]*)=([^`\s]+)`")


def versions_env() -> dict[str, str]:
    text = (STACK / "images" / "versions.env").read_text(encoding="utf-8")
    return dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(\S*)$", text, re.M))


def compose_pins() -> dict[str, str]:
    """image -> tag of every registry image the compose files pin (``library/`` dropped, as the
    official images are named)."""
    pins: dict[str, str] = {}
    for path in sorted(STACK.glob("compose*.yaml")):
        for image, tag in PIN.findall(path.read_text(encoding="utf-8")):
            pins[image.removeprefix("library/")] = tag
    return pins


def table() -> list[dict[str, str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Versions\n(.*?)(?=^## )", text, re.M | re.S)
    assert section, 'README.md has no "## Versions" section'
    lines = [ln for ln in section.group(1).splitlines() if ln.startswith("|")]
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    assert head == COLUMNS, head
    return [dict(zip(head, (c.strip() for c in ln.strip("|").split("|")), strict=True)) for ln in lines[2:]]


def bare(version: str) -> str:
    """``v3.16.0`` -> ``3.16.0``; ``3.12.13-slim-bookworm`` -> ``3.12.13``."""
    return version.removeprefix("v").split("-")[0]


def test_every_compose_pin_is_a_row_as_pinned() -> None:
    pins = compose_pins()
    assert {"prom/prometheus", "jaegertracing/jaeger", "grafana/tempo", "python", "nginx"} <= set(pins)
    shown = {}
    for row in table():
        for image, tag in re.findall(r"`([\w./-]+):([\w.-]+)`", row["registry pin"]):
            shown[image] = tag
    assert shown == pins


def test_every_version_of_versions_env_is_in_the_table_as_written() -> None:
    env = versions_env()
    said: dict[str, str] = {}
    for row in table():
        for key, value in SETTING.findall(row["local build"]):
            assert env.get(key) == value, (f"{row['component']}: README says {key}={value}, "
                                           f"versions.env {env.get(key)}")
            said[key] = value
    wanted = {k for k in env if k.endswith("_VERSION") or k == "DEBIAN_SUITE"}
    assert wanted <= set(said), f"versions.env keys missing from the table: {sorted(wanted - set(said))}"


@pytest.mark.parametrize("row", table(), ids=lambda r: r["component"])
def test_a_row_matches_or_says_what_was_checked(row: dict[str, str]) -> None:
    assert all(row.values()), f"{row['component']}: an empty cell"
    verdict = row["where they differ, what was checked"]
    pins = re.findall(r"`[\w./-]+:([\w.-]+)`", row["registry pin"])
    local = SETTING.findall(row["local build"])
    if verdict.startswith("same release"):
        assert pins and local, f"{row['component']}: 'same release' of what? (a pin and a local version)"
        assert bare(pins[0]) == bare(local[0][1]), (
            f"{row['component']}: 'same release' but the pin is {pins[0]} and {local[0][0]}={local[0][1]}")
    else:
        assert len(verdict) >= 20, f"{row['component']}: they differ; say what was checked ({verdict!r})"
