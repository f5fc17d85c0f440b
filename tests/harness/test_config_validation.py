"""LabConfig: precedence (option > env > default) and one-line errors that say what would be right."""

from __future__ import annotations

import json

import pytest

from harness.base.config import LabConfig
from harness.base.errors import ConfigError
from harness.lab.targets.base import Endpoints


def build(options=None, **env):
    """The config as `lab` and pytest check it before anything: resolved, then validated (a target
    refuses a config it cannot work with, e.g. existing without an address)."""
    from harness.lab.targets import validate

    config = LabConfig.from_sources(options or {}, env)
    validate(config)
    return config


def test_defaults() -> None:
    config = build()
    assert (config.target, config.stores, config.image_source, config.destroy) == (
        "auto",
        "jaeger-victorialogs",
        "auto",
        "passing",
    )
    assert config.timeout_scale == 1.0
    assert config.project == "obslab"
    assert config.compose_command is None and config.docker_host is None
    assert not config.has_grafana


def test_env_then_option_precedence() -> None:
    assert build(LAB_STORES="tempo-loki").stores == "tempo-loki"
    assert build({"stores": "jaeger-victorialogs"}, LAB_STORES="tempo-loki").stores == "jaeger-victorialogs"
    assert build({"stores": None}, LAB_STORES="tempo-loki").stores == "tempo-loki"  # None = not given
    assert build(LAB_STORES="tempo-loki").has_grafana


@pytest.mark.parametrize(
    ("options", "env", "expected"),
    [
        ({"target": "kubernetes"}, {}, "target='kubernetes'"),
        ({}, {"LAB_STORES": "elk"}, "use one of: jaeger-victorialogs, tempo-loki"),
        ({}, {"LAB_IMAGE_SOURCE": "cloud"}, "use one of: auto, registry, local"),
        ({}, {"LAB_DESTROY": "sometimes"}, "use one of: passing, always, never"),
        ({}, {"LAB_TIMEOUT_SCALE": "fast"}, "LAB_TIMEOUT_SCALE='fast' is not a number"),
        ({}, {"LAB_TIMEOUT_SCALE": "0"}, "must be greater than 0"),
        ({}, {"LAB_TIMEOUT_SCALE": "nan"}, "LAB_TIMEOUT_SCALE='nan' is not a finite number"),
        ({}, {"LAB_TIMEOUT_SCALE": "inf"}, "LAB_TIMEOUT_SCALE='inf' is not a finite number"),
        ({}, {"LAB_TIMEOUT_SCALE": "1e308"}, "LAB_TIMEOUT_SCALE='1e308' is more than 100"),
        ({}, {"LAB_VM_ACCEL": "fast"}, "LAB_VM_ACCEL='fast' is not valid"),
        ({}, {"LAB_VM_PORT_OFFSET": "-5"}, "LAB_VM_PORT_OFFSET='-5' is out of range"),
        ({}, {"LAB_HOST": "lab.example:8080"}, "give the host only"),
        ({}, {"LAB_HOST": "ftp://lab.example"}, "the scheme must be http or https"),
        ({}, {"LAB_PROJECT": "My Lab"}, "not a valid compose project name"),
        ({"target": "existing"}, {}, "needs the lab's address"),
        ({}, {"LAB_ENDPOINTS_FILE": "/nonexistent/endpoints.json"}, "does not exist"),
        ({}, {"LAB_COMPOSE": "podman-compose"}, "LAB_COMPOSE='podman-compose' is not valid"),
    ],
)
def test_bad_settings_fail_with_one_line(options, env, expected) -> None:
    with pytest.raises(ConfigError) as err:
        build(options, **env)
    message = str(err.value)
    assert expected in message
    assert "\n" not in message


def test_keep_means_never_destroy() -> None:
    assert build({"keep": True}, LAB_DESTROY="always").destroy == "never"


def test_compose_override_and_docker_host() -> None:
    config = build(LAB_COMPOSE="  docker   compose ", LAB_DOCKER_HOST="ssh://deploy@lab")
    assert config.compose_command == "docker compose"
    assert config.docker_host == "ssh://deploy@lab"
    assert build(LAB_COMPOSE="docker-compose").compose_command == "docker-compose"


def test_existing_with_host(tmp_path) -> None:
    config = build({"target": "existing", "lab_host": "192.0.2.10"})
    assert config.lab_host == "192.0.2.10"
    endpoints = tmp_path / "e.json"
    endpoints.write_text(json.dumps(Endpoints.for_host("192.0.2.10", "docker", "tempo-loki").to_dict()))
    assert build({"target": "existing"}, LAB_ENDPOINTS_FILE=str(endpoints)).endpoints_file == endpoints
    endpoints.write_text("{}")
    with pytest.raises(ConfigError, match="missing frontend"):  # the file is read before anything runs
        build({"target": "existing"}, LAB_ENDPOINTS_FILE=str(endpoints))


@pytest.mark.parametrize("name", ["LAB_TARGET", "LAB_STORES", "LAB_IMAGE_SOURCE", "LAB_DESTROY",
                                  "LAB_TIMEOUT_SCALE", "LAB_PROJECT", "LAB_HOST", "LAB_COMPOSE",
                                  "LAB_VM_ACCEL", "LAB_VM_PORT_OFFSET", "LAB_BIND_ADDRESS"])
@pytest.mark.parametrize("empty", ["", "  "])
def test_an_empty_variable_is_unset_everywhere(name: str, empty: str) -> None:
    from dataclasses import fields

    def settings(config: LabConfig) -> dict[str, object]:
        return {f.name: getattr(config, f.name) for f in fields(config) if f.name != "lab_env"}

    assert settings(build(**{name: empty})) == settings(build())


def test_the_config_is_the_only_reader_of_lab_variables() -> None:
    """Outside harness/base/config.py no module of the harness reads a LAB_* variable from the environment."""
    import re
    from pathlib import Path

    root = Path(__file__).parents[2] / "harness"
    pattern = re.compile(r"""(os\.environ(\.get)?\s*[\[(]\s*|getenv\(\s*)["']LAB_""")
    readers = [
        f"{path.relative_to(root.parent)}:{n}"
        for path in root.rglob("*.py")
        if path.name != "config.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not readers, f"LAB_* read outside LabConfig: {readers}"


def test_vm_settings_and_the_bind_address_are_in_the_config() -> None:
    config = build(LAB_VM_PORT_OFFSET="100", LAB_BIND_ADDRESS="0.0.0.0", LAB_BOX="debian/bookworm64")
    assert config.vm.port_offset == 100 and config.vm.box_given and config.vm.box == "debian/bookworm64"
    assert config.bind_address == "0.0.0.0" and config.host_address == "127.0.0.1"
    assert config.lab_env["LAB_VM_PORT_OFFSET"] == "100"
