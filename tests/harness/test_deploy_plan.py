"""Deploy planning: compose files in ADR order, env (mirror, generated secrets), image-source resolution."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from harness.base.config import LabConfig
from harness.base.errors import ConfigError
from harness.lab import deploy, images

JV_IMAGES = {
    "lab/backend:local",
    "lab/frontend:local",
    "lab/prometheus:local",
    "lab/otel-collector:local",
    "lab/jaeger:local",
    "lab/victorialogs:local",
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    stack = tmp_path / "stack"
    stack.mkdir()
    for name in (
        "compose.yaml",
        "compose.jaeger-victorialogs.yaml",
        "compose.tempo-loki.yaml",
        "compose.local-images.yaml",
    ):
        (stack / name).write_text("services: {}\n")
    return tmp_path


def config(repo: Path, **changes: object) -> LabConfig:
    return LabConfig(repo_root=repo).with_(**changes)


def test_required_local_images() -> None:
    assert set(images.required_local_images("jaeger-victorialogs")) == JV_IMAGES
    with pytest.raises(ConfigError, match="Tempo, Loki, Grafana cannot be built here"):
        images.required_local_images("tempo-loki")


def test_compose_files_in_adr_order(repo: Path) -> None:
    stack = repo / "stack"
    assert deploy.compose_files(stack, "jaeger-victorialogs", "registry") == (
        stack / "compose.yaml",
        stack / "compose.jaeger-victorialogs.yaml",
    )
    assert deploy.compose_files(stack, "jaeger-victorialogs", "local") == (
        stack / "compose.yaml",
        stack / "compose.jaeger-victorialogs.yaml",
        stack / "compose.local-images.yaml",
    )
    assert deploy.compose_files(stack, "tempo-loki", "registry")[1].name == "compose.tempo-loki.yaml"
    (stack / "compose.local-images.yaml").unlink()
    with pytest.raises(ConfigError, match=r"compose file\(s\) missing: .*compose.local-images.yaml"):
        deploy.compose_files(stack, "jaeger-victorialogs", "local")


def test_auto_is_local_when_every_image_is_present(repo: Path) -> None:
    chosen = deploy.resolve_image_source(config(repo), JV_IMAGES | {"lab/base:bookworm"})
    assert chosen.source == "local" and chosen.missing == {}
    assert "all 6 lab/*:local images" in chosen.reason
    assert str(chosen).startswith("images local: auto:")


def test_auto_with_an_image_missing_asks_the_registry_once(repo: Path) -> None:
    asked: list[int] = []

    def answers() -> tuple[bool, str]:
        asked.append(1)
        return True, "docker.io answered"

    chosen = deploy.resolve_image_source(config(repo), JV_IMAGES - {"lab/jaeger:local"}, answers)
    assert chosen.source == "registry" and asked == [1]
    assert "lab/jaeger:local not in the engine and the registry answers" in chosen.reason
    assert deploy.resolve_image_source(config(repo), None).source == "registry"


def test_auto_with_no_registry_builds_what_is_missing(repo: Path) -> None:
    """The embedded default on a host like ours: no registry answers, so the images are built here."""
    chosen = deploy.resolve_image_source(
        config(repo), JV_IMAGES - {"lab/jaeger:local"}, lambda: (False, "docker.io: no such host")
    )
    assert chosen.source == "local" and chosen.missing == {"jaeger": "lab/jaeger:local"}
    assert "no registry answers (docker.io: no such host)" in chosen.reason


def test_every_image_present_never_asks_the_registry(repo: Path) -> None:
    def never() -> tuple[bool, str]:
        raise AssertionError("the registry was asked although every local image is there")

    assert deploy.resolve_image_source(config(repo), JV_IMAGES, never).source == "local"


def test_auto_tempo_loki_is_registry_and_local_is_an_error(repo: Path) -> None:
    chosen = deploy.resolve_image_source(config(repo, stores="tempo-loki"), JV_IMAGES)
    assert chosen.source == "registry" and "cannot be built here" in chosen.reason
    with pytest.raises(ConfigError) as err:
        deploy.resolve_image_source(config(repo, stores="tempo-loki", image_source="local"), JV_IMAGES)
    assert "Tempo, Loki, Grafana cannot be built here" in str(err.value)
    assert "\n" not in str(err.value)


def test_explicit_local_lists_what_to_build(repo: Path) -> None:
    chosen = deploy.resolve_image_source(config(repo, image_source="local"), {"lab/backend:local"})
    assert chosen.source == "local"
    assert set(chosen.missing) == {"frontend", "prometheus", "otel-collector", "jaeger", "victorialogs"}
    assert "5 image(s) to build first" in chosen.reason


def test_explicit_registry_mentions_the_mirror(repo: Path) -> None:
    chosen = deploy.resolve_image_source(
        config(repo, image_source="registry", registry_mirror="m.example:5000"), set()
    )
    assert chosen.source == "registry" and "m.example:5000" in chosen.reason


def test_secrets_are_generated_once_private_and_kept(repo: Path) -> None:
    first = deploy.load_secrets(repo)
    path = repo / ".lab" / "secrets.env"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    password = first["GF_SECURITY_ADMIN_PASSWORD"]
    assert len(password) >= 24
    assert deploy.load_secrets(repo) == first  # a redeploy keeps it
    assert f"GF_SECURITY_ADMIN_PASSWORD={password}" in path.read_text()
    other = repo / "other"
    other.mkdir()
    assert deploy.load_secrets(other)["GF_SECURITY_ADMIN_PASSWORD"] != password  # never a fixed default
    assert deploy.load_secrets(repo / "none", create=False) == {}
    assert not (repo / "none").exists()


def test_env_has_mirror_host_and_secrets(repo: Path) -> None:
    env = deploy.compose_env(
        config(repo, registry_mirror="https://mirror.example:5000/"),
        {"GF_SECURITY_ADMIN_PASSWORD": "s3cret", "UNRELATED": "x"},
    )
    assert env["LAB_REGISTRY_MIRROR"] == "mirror.example:5000"
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == "s3cret"
    assert "UNRELATED" not in env
    assert "LAB_REGISTRY_MIRROR" not in deploy.compose_env(config(repo), {})  # compose defaults to docker.io


def test_plan_puts_it_together(repo: Path) -> None:
    plan = deploy.plan(config(repo, project="labplan"), JV_IMAGES)
    assert plan.image_source == "local"
    assert [f.name for f in plan.files] == [
        "compose.yaml",
        "compose.jaeger-victorialogs.yaml",
        "compose.local-images.yaml",
    ]
    assert plan.public_env()["GF_SECURITY_ADMIN_PASSWORD"] == "***"
    assert plan.env["GF_SECURITY_ADMIN_PASSWORD"] != "***"
    assert plan.project == "labplan" and plan.stack_dir == repo / "stack"
    assert plan.env["LAB_BIND_ADDRESS"] == "127.0.0.1" and plan.env["LAB_STORES"] == "jaeger-victorialogs"
    assert deploy.plan(config(repo), set()).image_source == "registry"


def test_the_repositorys_stack_has_the_files_the_plan_names() -> None:
    stack = LabConfig().stack_dir
    for stores in ("jaeger-victorialogs", "tempo-loki"):
        deploy.compose_files(stack, stores, "registry")
    deploy.compose_files(stack, "jaeger-victorialogs", "local")


def test_grafana_password_comes_from_the_secrets_file_unless_the_environment_sets_it(repo: Path) -> None:
    cfg = config(repo)
    password = deploy.grafana_admin_password(cfg)
    assert password == deploy.load_secrets(repo)["GF_SECURITY_ADMIN_PASSWORD"]
    values = deploy.secret_values(cfg.with_(secrets={"GF_SECURITY_ADMIN_PASSWORD": "from-env"}))
    assert values["GF_SECURITY_ADMIN_PASSWORD"] == "from-env"


# --- local images: build.sh's interface as the harness reads it ---------------------------------
def test_build_lines_parse() -> None:
    line = images.BuildLine.parse(
        "jaeger          lab/jaeger:local                         cached          0.3s  binary cached; ok"
    )
    assert line == images.BuildLine("jaeger", "lab/jaeger:local", "cached", 0.3, "binary cached; ok")
    assert images.BuildLine.parse("build.sh: done in 0.4s") is None
    assert images.BuildLine.parse("tempo  -  unavailable  0.0s  AGPL").status == "unavailable"  # type: ignore[union-attr]


def test_build_order_adds_dependencies_in_script_order() -> None:
    listed = [
        images.ListedImage("base", "lab/base:bookworm", (), ""),
        images.ListedImage("python", "lab/python:bookworm", ("base",), ""),
        images.ListedImage("backend", "lab/backend:local", ("python",), ""),
        images.ListedImage("healthcheck", "stack/healthcheck/bin/lab-healthcheck", (), ""),
        images.ListedImage("jaeger", "lab/jaeger:local", ("base", "healthcheck"), ""),
        images.ListedImage("tempo", None, (), "not buildable"),
    ]
    assert images.build_order(listed, ["jaeger"]) == ["base", "healthcheck", "jaeger"]
    assert images.build_order(listed, ["lab/backend:local"]) == ["base", "python", "backend"]
    assert images.build_order(listed, None) == ["base", "python", "backend", "healthcheck", "jaeger"]


def test_the_real_build_script_lists_every_image_the_stores_need() -> None:
    listed = {i.name: i for i in images.list_images()}
    for name, tag in images.local_images_for("jaeger-victorialogs").items():
        assert listed[name].tag == tag
    assert {"tempo", "loki", "grafana"} <= {n for n, i in listed.items() if i.tag is None}


def test_an_unknown_image_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown image name: nosuch"):
        images.build(["nosuch"])
