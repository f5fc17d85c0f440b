"""SSH to the lab VM and what travels over it, against a fake ssh that runs the command here: the
remote run, rsync, the counted pipe for images, shipping decisions, and testinfra's ssh-docker
backend."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.base.errors import LabError
from harness.lab import remote as hr
from harness.lab import shipping, testinfra_ssh


def test_only_images_whose_id_differs_are_sent() -> None:
    local = {
        "lab/backend:local": "sha256:b2",
        "lab/frontend:local": "sha256:f1",
        "lab/jaeger:local": "sha256:j1",
    }
    remote = {"lab/backend:local": "sha256:b1", "lab/frontend:local": "sha256:f1"}
    wanted = ["lab/frontend:local", "lab/backend:local", "lab/jaeger:local"]
    assert shipping.images_to_send(wanted, local, remote) == ["lab/backend:local", "lab/jaeger:local"]
    assert shipping.images_to_send(wanted, local, local) == []


def test_an_image_missing_here_cannot_be_sent() -> None:
    with pytest.raises(LabError, match="lab/victorialogs:local"):
        shipping.images_to_send(["lab/victorialogs:local"], {}, {})


def test_remote_env_forwards_what_the_compose_files_name() -> None:
    from harness.base.config import LabConfig
    from harness.lab import deploy

    config = LabConfig(target="vagrant")
    plan = deploy.DeployPlan(
        project="obslab",
        stores=config.stores,
        images=deploy.ImageSource("local", "test"),
        files=deploy.compose_files(config.stack_dir, config.stores, "local"),
        env={"LAB_STORES": config.stores, "LAB_BIND_ADDRESS": "127.0.0.1"},
        stack_dir=config.stack_dir,
    )
    lab_env = {"LAB_NGINX_VERSION": "1.99.0", "LAB_BIND_ADDRESS": "127.0.0.3", "LAB_UNRELATED": "x"}
    got = shipping.remote_env(plan, lab_env, "0.0.0.0")
    assert got["LAB_NGINX_VERSION"] == "1.99.0" and "LAB_UNRELATED" not in got
    assert got["LAB_BIND_ADDRESS"] == "0.0.0.0", "the host's bind address is not the VM's"
    assert got["LAB_STORES"] == config.stores


def test_image_list_parsing() -> None:
    text = (
        "lab/backend:local sha256:aaa\n<none>:<none> sha256:bbb\nlab/base:bookworm sha256:ccc\n"
        "garbage line here\n"
    )
    assert hr.parse_image_ids(text) == {"lab/backend:local": "sha256:aaa", "lab/base:bookworm": "sha256:ccc"}


def test_remote_run_quotes_words_and_uses_the_config(fake_ssh: Path, tmp_path: Path) -> None:
    remote = hr.Remote(tmp_path / "ssh-config", "lab", user="deploy")
    result = remote.run(["printf", "%s|", "a b", "$HOME"], check="printf")
    assert result.output == "a b|$HOME|"
    assert fake_ssh.read_text().startswith(f"-F {tmp_path / 'ssh-config'} -l deploy lab -- ")
    with pytest.raises(LabError, match="exited 3"):
        remote.run("exit 3", check="a failing command")


def test_rsync_over_the_ssh_config_copies_only_what_changed(fake_ssh: Path, tmp_path: Path) -> None:
    src = tmp_path / "stack"
    (src / "images" / ".cache").mkdir(parents=True)
    (src / "compose.yaml").write_text("services: {}\n")
    (src / "images" / ".cache" / "big").write_text("x" * 1000)
    dest = tmp_path / "vm-home" / "obslab"
    dest.parent.mkdir()
    remote = hr.Remote(tmp_path / "ssh-config", "lab", user="deploy")
    remote.rsync([src], f"{dest}/", excludes=shipping.RSYNC_EXCLUDES)
    assert (dest / "stack" / "compose.yaml").read_text() == "services: {}\n"
    assert not (dest / "stack" / "images" / ".cache").exists()
    assert "-F" in fake_ssh.read_text()


def test_pipe_in_counts_bytes_and_reports_progress(fake_ssh: Path, tmp_path: Path) -> None:
    remote = hr.Remote(tmp_path / "ssh-config", "lab")
    out = tmp_path / "received"
    seen: list[int] = []
    result = remote.pipe_in(
        [
            sys.executable,
            "-c",
            "import sys,time\nfor _ in range(3):\n sys.stdout.buffer.write(b'x'*(3<<20)); "
            "sys.stdout.flush(); time.sleep(0.6)",
        ],
        f"cat > {out}; echo Loaded image: fake",
        timeout=60,
        on_progress=lambda sent, seconds: seen.append(sent),
    )
    assert result.bytes == 9 << 20 and out.stat().st_size == 9 << 20
    assert "Loaded image: fake" in result.output and result.mib == 9.0
    assert seen and seen[-1] <= result.bytes


def test_pipe_in_is_killed_at_its_timeout(fake_ssh: Path, tmp_path: Path) -> None:
    remote = hr.Remote(tmp_path / "ssh-config", "lab")
    with pytest.raises(LabError, match="timed out"):
        remote.pipe_in(["sleep", "30"], "cat >/dev/null", timeout=1)


def test_pipe_in_failure_of_either_end_is_an_error(fake_ssh: Path, tmp_path: Path) -> None:
    remote = hr.Remote(tmp_path / "ssh-config", "lab")
    with pytest.raises(LabError, match="exited 1"):
        remote.pipe_in(["sh", "-c", "echo no such image >&2; exit 1"], "cat >/dev/null", timeout=30)
    with pytest.raises(LabError, match="exited 4"):
        remote.pipe_in(["echo", "data"], "cat >/dev/null; exit 4", timeout=30)


def test_testinfra_reaches_a_container_in_the_vm_through_ssh_docker_exec(
    fake_ssh: Path, tmp_path: Path
) -> None:
    import testinfra

    bin_dir = tmp_path / "bin"
    (bin_dir / "docker").write_text('#!/bin/sh\n[ "$1" = exec ] && shift 2 && exec "$@"\n')
    (bin_dir / "docker").chmod(0o755)
    spec = testinfra_ssh.container_hostspec(tmp_path / "ssh-config", "abc123")
    assert spec.startswith("ssh-docker://deploy@lab?ssh_config=")
    host = testinfra.get_host(spec)
    assert host.run("echo $((40 + 2))").stdout.strip() == "42"
    logged = fake_ssh.read_text()
    assert "docker exec abc123 /bin/sh -c" in logged and f"-F {tmp_path / 'ssh-config'}" in logged
