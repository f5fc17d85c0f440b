"""provision/host/cleanup-leftovers.sh against a fake libvirt (virsh and qemu-img stand-ins on PATH).

What must hold: only the lab's prefix is destroyed; box copies are removed only when no domain's
disk is built on them; the current box's copy stays unless asked; --dry-run changes nothing.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "provision" / "host" / "cleanup-leftovers.sh"
IMAGES = "/var/lib/libvirt/images"
BOX = "lab-VAGRANTSLASH-debian12_vagrant_box_image_0_{}_box.img"

FAKE_VIRSH = r"""#!/bin/bash
# fake virsh: state in $FAKE_STATE (removed domains/volumes/networks), actions logged to $FAKE_LOG
[[ $1 == -c ]] && shift 2
gone() { grep -qxF "$1" "$FAKE_STATE" 2>/dev/null; }
case $1 in
  list)
    for d in obslab-test_lab other_vm; do gone "$d" || echo "$d"; done; echo ;;
  domstate) echo running ;;
  dumpxml)
    case $2 in
      obslab-test_lab) echo "<source file='IMAGES/obslab-test_lab.img'/><source network='obslab0'/>" ;;
      other_vm) echo "<source file='IMAGES/other_vm.img'/><source network='vagrant-libvirt'/>" ;;
    esac ;;
  vol-list)
    echo " Name   Path"; echo "------"
    for v in obslab-test_lab.img other_vm.img BOX111 BOX222 BOX333; do
      gone "$v" || echo " $v   IMAGES/$v"
    done; echo ;;
  net-info) gone "net:$2" && exit 1; echo "Name: $2"; echo "Active:         yes" ;;
  destroy|net-destroy) echo "$*" >> "$FAKE_LOG" ;;
  undefine) echo "$*" >> "$FAKE_LOG"; echo "$2" >> "$FAKE_STATE" ;;
  net-undefine) echo "$*" >> "$FAKE_LOG"; echo "net:$2" >> "$FAKE_STATE" ;;
  vol-delete) echo "$*" >> "$FAKE_LOG"; echo "$4" >> "$FAKE_STATE" ;;
  *) echo "fake virsh: unexpected $*" >&2; exit 1 ;;
esac
"""

FAKE_QEMU_IMG = r"""#!/bin/bash
# fake qemu-img info -U --backing-chain FILE: other_vm's disk is built on box copy 111
for last; do :; done
echo "image: $last"
[[ $last == */other_vm.img ]] && echo "image: IMAGES/BOX111"
exit 0
"""


@pytest.fixture
def fake_libvirt(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("virsh", FAKE_VIRSH), ("qemu-img", FAKE_QEMU_IMG)):
        text = text.replace("IMAGES", IMAGES)
        for n in (111, 222, 333):
            text = text.replace(f"BOX{n}", BOX.format(n))
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    box_img = tmp_path / "vagrant" / "boxes" / "lab-VAGRANTSLASH-debian12" / "0" / "libvirt" / "box.img"
    box_img.parent.mkdir(parents=True)
    box_img.touch()
    os.utime(box_img, (222, 222))  # the current box: its copy is ..._222_box.img
    return {
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "FAKE_LOG": str(tmp_path / "log"),
        "FAKE_STATE": str(tmp_path / "state"),
        "VAGRANT_HOME": str(tmp_path / "vagrant"),
        "LAB_VM_PREFIX": "obslab-test_",
        "LAB_BOX": "lab/debian12",
    }


def cleanup(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    proc = subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    log = Path(env["FAKE_LOG"])
    return proc, (log.read_text().splitlines() if log.exists() else [])


def test_removes_the_labs_domain_volume_network_and_stale_box_copies(fake_libvirt: dict[str, str]) -> None:
    proc, actions = cleanup(fake_libvirt, "--box-volumes")
    assert proc.returncode == 0, proc.stderr
    assert actions == [
        "destroy obslab-test_lab",
        "undefine obslab-test_lab --nvram --managed-save --snapshots-metadata",
        "vol-delete --pool default obslab-test_lab.img",
        f"vol-delete --pool default {BOX.format(333)}",
        "net-destroy obslab0",
        "net-undefine obslab0",
    ]
    assert "backs a domain's disk: kept" in proc.stdout  # 111 under other_vm
    assert "is the current box's copy: kept" in proc.stdout  # 222


def test_without_box_volumes_only_the_lab_goes(fake_libvirt: dict[str, str]) -> None:
    _, actions = cleanup(fake_libvirt)
    assert not any("box_image" in a for a in actions)
    assert not any("other_vm" in a for a in actions)


def test_all_box_volumes_takes_the_current_copy_but_never_one_in_use(fake_libvirt: dict[str, str]) -> None:
    _, actions = cleanup(fake_libvirt, "--all-box-volumes")
    deleted = {a.split()[-1] for a in actions if a.startswith("vol-delete")}
    assert deleted == {"obslab-test_lab.img", BOX.format(222), BOX.format(333)}


def test_dry_run_changes_nothing(fake_libvirt: dict[str, str]) -> None:
    proc, actions = cleanup(fake_libvirt, "--all-box-volumes", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert actions == []
    assert "cleanup: destroy obslab-test_lab" in proc.stdout
