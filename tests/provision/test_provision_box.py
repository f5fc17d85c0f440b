"""provision/box/build.sh: the .box it packs, and its cache check.

A full build takes minutes (measured in docs/adr/0002-vagrant-vms.md); here the packaging step runs
on a small qcow2 made for the test (`--pack-only`), and the added box — when this host has one — is
checked for the shape vagrant-libvirt needs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "provision" / "box" / "build.sh"

needs_qemu_img = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img not installed")


def run_build(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(BUILD), *args], capture_output=True, text=True, timeout=120,
                          check=False, env={**os.environ, **env})


@needs_qemu_img
@pytest.mark.parametrize(("size", "gb"), [("1G", 1), ("1536M", 2), ("20G", 20)])
def test_pack_only_makes_a_libvirt_box(tmp_path: Path, size: str, gb: int) -> None:
    img = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(img), size], check=True, timeout=30)
    proc = run_build("--pack-only", str(img), "--output", str(tmp_path / "out"), "--name", "test/box")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    box = tmp_path / "out" / "test-box.box"
    with tarfile.open(box) as tar:
        assert sorted(tar.getnames()) == ["Vagrantfile", "box.img", "metadata.json", "obslab-inputs"]
        metadata = json.load(tar.extractfile("metadata.json"))  # type: ignore[arg-type]
        vagrantfile = tar.extractfile("Vagrantfile").read().decode()  # type: ignore[union-attr]
        assert tar.getmember("box.img").size == img.stat().st_size
    assert metadata == {"provider": "libvirt", "format": "qcow2", "virtual_size": gb}
    assert "Vagrant.configure(\"2\")" in vagrantfile
    if shutil.which("ruby"):
        check = subprocess.run(["ruby", "-c"], input=vagrantfile, capture_output=True, text=True, timeout=30,
                               check=False)
        assert check.returncode == 0, check.stderr


# `qemu-img info --output=json` of a 20 GiB qcow2 as QEMU 10 (Debian 13) prints it: the protocol
# layer ("file", its virtual size the file's size) comes before the image's own keys.
QEMU10_INFO = {
    "children": [{"name": "file", "info": {"children": [], "virtual-size": 197120, "filename": "disk.qcow2",
                                           "format": "file", "actual-size": 200704}}],
    "virtual-size": 20 * 1024**3, "filename": "disk.qcow2", "cluster-size": 65536, "format": "qcow2",
    "actual-size": 200704, "format-specific": {"type": "qcow2", "data": {"compat": "1.1"}},
    "dirty-flag": False,
}


def test_pack_only_reads_the_image_s_own_format_and_size_not_its_children_s(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    qemu_img = bin_dir / "qemu-img"
    qemu_img.write_text(f"#!/bin/sh\ncat <<'EOF'\n{json.dumps(QEMU10_INFO, indent=4)}\nEOF\n")
    qemu_img.chmod(0o755)
    img = tmp_path / "disk.qcow2"
    img.write_bytes(b"QFI\xfb")
    proc = run_build("--pack-only", str(img), "--output", str(tmp_path / "out"), "--name", "test/box",
                     PATH=f"{bin_dir}:{os.environ['PATH']}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with tarfile.open(tmp_path / "out" / "test-box.box") as tar:
        metadata = json.load(tar.extractfile("metadata.json"))  # type: ignore[arg-type]
    assert metadata == {"provider": "libvirt", "format": "qcow2", "virtual_size": 20}


@needs_qemu_img
def test_pack_only_refuses_raw_images(tmp_path: Path) -> None:
    img = tmp_path / "disk.raw"
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(img), "16M"], check=True, timeout=30)
    proc = run_build("--pack-only", str(img), "--output", str(tmp_path))
    assert proc.returncode == 1
    assert "needs qcow2" in proc.stderr


def test_unknown_option_is_refused() -> None:
    proc = run_build("--frobnicate")
    assert proc.returncode == 2
    assert "unknown option --frobnicate" in proc.stderr


def added_box_dir() -> Path | None:
    home = Path(os.environ.get("VAGRANT_HOME", Path.home() / ".vagrant.d"))
    found = sorted(home.glob("boxes/lab-VAGRANTSLASH-debian12/*/libvirt/metadata.json"))
    return found[0].parent if found else None


@pytest.mark.skipif(added_box_dir() is None, reason="box lab/debian12 not added on this host (lab box build)")
def test_added_box_has_the_shape_vagrant_libvirt_needs() -> None:
    box = added_box_dir()
    assert box is not None
    metadata = json.loads((box / "metadata.json").read_text())
    assert metadata["provider"] == "libvirt" and metadata["format"] == "qcow2"
    assert isinstance(metadata["virtual_size"], int) and metadata["virtual_size"] >= 10
    assert len((box / "obslab-inputs").read_text().strip()) == 64, "the cache key is recorded in the box"
    if shutil.which("qemu-img"):
        info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(box / "box.img")],
                                         capture_output=True, text=True, timeout=30, check=True).stdout)
        assert info["format"] == "qcow2"
        assert info["virtual-size"] <= metadata["virtual_size"] * 2**30


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (the box build runs as root)")
@pytest.mark.skipif(shutil.which("vagrant") is None, reason="vagrant not installed (provision/host/setup.sh)")
@pytest.mark.skipif(added_box_dir() is None, reason="no lab/debian12 box added yet (lab box build)")
def test_check_says_whether_a_build_would_run() -> None:
    """--check never builds: 0 = the added box is current, 3 = inputs changed (or box missing)."""
    proc = run_build("--check")
    assert proc.returncode in (0, 3), proc.stdout + proc.stderr
    box = added_box_dir()
    assert box is not None
    if proc.returncode == 0:
        assert "cached" in proc.stdout
    proc = run_build("--check", "--name", "obslab-test/never-added")
    assert proc.returncode == 3
    assert "a build would run" in proc.stdout


def heredoc(text: str, target: str) -> str:
    """The body of the first `cat >…TARGET… <<'EOF'` (or put_file TARGET …) heredoc in a script."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if target in line and "<<'EOF'" in line:
            body = []
            for following in lines[i + 1:]:
                if following == "EOF":
                    return "\n".join(body) + "\n"
                body.append(following)
    raise AssertionError(f"no heredoc for {target}")


@pytest.mark.parametrize("target", ["/etc/docker/daemon.json", "/etc/systemd/resolved.conf.d/obslab.conf"])
def test_box_prewrites_exactly_what_the_bootstrap_writes(target: str) -> None:
    """Same bytes → the first `vagrant up` reports them unchanged and restarts nothing."""
    box = heredoc(BUILD.read_text(), target)
    bootstrap = heredoc((REPO / "provision" / "vm" / "bootstrap.sh").read_text(), target)
    assert box == bootstrap
