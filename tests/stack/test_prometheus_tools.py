"""The one lookup of promtool/prometheus (tests/stack/prometheus_tools.py): the order it looks in,
the version it insists on, and the one line it skips or fails with — with stand-in binaries that
print what promtool prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.stack import prometheus_tools as tools

WANT = tools.wanted_version()


def fake(path: Path, version: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho 'promtool, version {version} (branch: HEAD, revision: x)'\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def caller(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """No variable set, an empty build cache, an empty PATH, not CI."""
    env = {name: "" for name in tools.CALLER_ENV}
    env["LAB_IMAGES_CACHE"] = str(tmp_path / "cache")
    monkeypatch.setattr(tools, "CALLER_ENV", env)
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    monkeypatch.delenv("CI", raising=False)
    return env


def test_the_release_is_the_one_of_versions_env() -> None:
    assert WANT == "3.16.0"


def test_the_variable_then_the_build_cache_then_path(caller: dict[str, str], tmp_path: Path) -> None:
    on_path = fake(tmp_path / "path" / "promtool", WANT)
    assert tools.locate("promtool") == tools.Found(str(on_path), "PATH")
    cached = fake(tmp_path / "cache" / "bin" / "promtool", WANT)
    assert tools.locate("promtool") == tools.Found(str(cached), "build.sh's cache")
    named = fake(tmp_path / "mine" / "promtool", WANT)
    caller["LAB_PROMTOOL"] = str(named)
    assert tools.require_prometheus_tool("promtool") == str(named)


def test_another_release_skips_with_one_line_naming_both(caller: dict[str, str], tmp_path: Path) -> None:
    fake(tmp_path / "path" / "promtool", "2.42.0+ds")
    with pytest.raises(pytest.skip.Exception) as skipped:
        tools.require_prometheus_tool("promtool")
    line = str(skipped.value)
    assert "\n" not in line and "2.42.0+ds" in line and WANT in line and "build.sh --only prometheus" in line


def test_none_at_all_skips_off_ci_and_fails_in_ci(caller: dict[str, str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(pytest.skip.Exception, match="not on PATH"):
        tools.require_prometheus_tool("prometheus")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="not found"):
        tools.require_prometheus_tool("prometheus")


def test_a_named_binary_of_another_release_fails(caller: dict[str, str], tmp_path: Path) -> None:
    caller["LAB_PROMTOOL"] = str(fake(tmp_path / "old" / "promtool", "2.42.0"))
    with pytest.raises(pytest.fail.Exception, match="from LAB_PROMTOOL"):
        tools.require_prometheus_tool("promtool")
    caller["LAB_PROMTOOL"] = str(tmp_path / "nowhere" / "promtool")
    with pytest.raises(pytest.fail.Exception, match="does not run"):
        tools.require_prometheus_tool("promtool")
