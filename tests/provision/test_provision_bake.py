"""provision/box/bake-images.sh: images of this host's engine end up in a root filesystem's Docker
storage with the same IDs, readable by another dockerd (the VM's), and only the image store stays.

Real dockerd processes (a private one bakes, another one reads, as the VM's would); a tiny image
made for the test with `docker import`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BAKE = REPO / "provision" / "box" / "bake-images.sh"
IMAGE = "obslab-test/bake-tiny:1"


def _engine_answers() -> bool:
    if shutil.which("docker") is None or shutil.which("dockerd") is None:
        return False
    return subprocess.run(["docker", "version"], capture_output=True, timeout=30).returncode == 0


pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(os.geteuid() != 0, reason="baking runs a private dockerd: needs root"),
    pytest.mark.skipif(not _engine_answers(), reason="no Docker engine answers here (dockerd not running)"),
]


@pytest.fixture
def tiny_image(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "hello.txt").write_text("baked\n")
    tar = subprocess.run(["tar", "-C", str(tmp_path), "-cf", "-", "hello.txt"], capture_output=True,
                         check=True, timeout=30).stdout
    subprocess.run(["docker", "import", "-", IMAGE], input=tar, capture_output=True, check=True, timeout=60)
    yield IMAGE
    subprocess.run(["docker", "rmi", "-f", IMAGE], capture_output=True, timeout=60)


def _host_bridge() -> bool:
    """Whether the host has Docker's default bridge (a dockerd with --bridge=none deletes it)."""
    return Path("/sys/class/net/docker0").exists()


def image_id(image: str, host: str | None = None) -> str:
    cmd = ["docker", *(["--host", host] if host else []), "image", "inspect", "--format", "{{.Id}}", image]
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=30).stdout.strip()


@pytest.fixture
def rootfs(tmp_path: Path) -> Iterator[Path]:
    """A root filesystem on a filesystem of its own, as the box's (an ext4 on a loop device): overlay2
    cannot sit on an overlayfs, and the /tmp of a container is one ('failed to mount overlay: invalid
    argument', 'driver not supported: overlay2' in a fresh Debian 13 container)."""
    root = tmp_path / "rootfs"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512m", "obslab-bake-test", str(root)], check=True,
                   timeout=30)
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], capture_output=True, timeout=30)


def test_baked_images_are_read_by_another_dockerd(rootfs: Path, tiny_image: str) -> None:
    root = rootfs
    bridge_before = _host_bridge()
    proc = subprocess.run(["bash", str(BAKE), str(root), tiny_image], capture_output=True, text=True,
                          timeout=300)
    assert _host_bridge() == bridge_before, "baking must not touch the host's docker0"
    assert proc.returncode == 0, proc.stdout + proc.stderr
    want = image_id(tiny_image)
    assert (root / "etc" / "obslab-box-images").read_text() == f"{tiny_image} {want}\n"
    left = sorted(p.name for p in (root / "var" / "lib" / "docker").iterdir())
    assert "image" in left and "overlay2" in left
    assert not {"network", "containerd", "tmp", "runtimes"} & set(left), left

    # The VM's dockerd, played by another private one on the same storage (in a network namespace
    # of its own, as bake-images.sh runs its daemon: --bridge=none would delete the host's docker0).
    run = Path(tempfile.mkdtemp(prefix="obslab-bt.", dir="/var/tmp"))  # short: unix socket paths
    sock = f"unix://{run}/docker.sock"
    data_root = root / "var" / "lib" / "docker"
    reader = subprocess.Popen(
        ["unshare", "--net", "--", "dockerd", "--data-root", str(data_root), "--exec-root", str(run / "exec"),
         "--pidfile", str(run / "pid"), "--host", sock, "--bridge=none", "--iptables=false",
         "--ip6tables=false", "--storage-driver=overlay2", "--containerd-namespace=obslab-bake-test"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(["docker", "--host", sock, "version"], capture_output=True,
                             timeout=30).returncode != 0:
            assert reader.poll() is None and time.monotonic() < deadline, "the reading dockerd did not start"
            time.sleep(0.5)
        assert image_id(tiny_image, sock) == want
    finally:
        reader.terminate()
        reader.wait(timeout=60)
        if os.path.ismount(data_root):  # dockerd bind-mounts its data root
            subprocess.run(["umount", "-l", str(data_root)], capture_output=True, timeout=30)
        shutil.rmtree(run, ignore_errors=True)
    assert _host_bridge() == bridge_before, "the host's docker0 must survive baking and reading"
