"""Stand-ins for the binaries the VM orchestration calls, shared by the harness tests: a bin
directory first on PATH, a fake ``ssh`` that runs the remote command here, a fake ``virsh`` whose
domains and volumes are files, and a fake ``vagrant`` whose machine state is a file."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
VAGRANT_FIXTURES = FIXTURES / "vagrant"


@pytest.fixture
def fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty directory first on PATH (then this Python, then the system)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin")
    return bin_dir


def write_tool(bin_dir: Path, name: str, text: str) -> Path:
    path = bin_dir / name
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.fixture
def fake_ssh(fake_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """ssh that runs the command locally (fixtures/vagrant/bin/ssh); returns the log of its calls.
    ``tmp_path / "ssh-config"`` is a config naming host ``lab``."""
    shutil.copy(VAGRANT_FIXTURES / "bin" / "ssh", fake_bin / "ssh")
    log = tmp_path / "ssh.log"
    monkeypatch.setenv("FAKE_SSH_LOG", str(log))
    (tmp_path / "ssh-config").write_text("Host lab\n  HostName 127.0.0.1\n")
    return log


@pytest.fixture
def fake_virsh(fake_bin: Path, tmp_path: Path) -> Path:
    """virsh whose domains and volumes are files under the returned directory."""
    state = tmp_path / "libvirt"
    (state / "domains").mkdir(parents=True)
    (state / "volumes").mkdir()
    write_tool(fake_bin, "virsh", (
        "#!/bin/sh\n"
        f"S={state}\n"
        'shift 2\necho "$*" >> $S/calls\n'
        'case "$1" in\n'
        "  list) ls $S/domains ;;\n"
        "  vol-list) echo ' Name  Path'; echo '------';\n"
        '    for v in $(ls $S/volumes); do echo " $v  /x/$v"; done ;;\n'
        '  vol-delete) rm "$S/volumes/$4" ;;\n'
        "  destroy) ;;\n"
        '  undefine) rm "$S/domains/$2"; rm -f "$S/volumes/$2.img" ;;\n'
        "  version) echo 'Running hypervisor: QEMU 7.2.0' ;;\n"
        "esac\n"
    ))
    return state


@pytest.fixture
def fake_vagrant(fake_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """vagrant driven by files in the returned directory (see fixtures/vagrant/bin/vagrant)."""
    shutil.copy(VAGRANT_FIXTURES / "bin" / "vagrant", fake_bin / "vagrant")
    (tmp_path / "ssh-config-lab.txt").write_text((VAGRANT_FIXTURES / "ssh-config-lab.txt").read_text())
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("FAKE_VAGRANT_DIR", str(state))
    return state


@pytest.fixture
def server():
    """A real HTTP server on 127.0.0.1 answering recorded replies (tests/harness/fake_http.py)."""
    from tests.harness.fake_http import fake_server

    with fake_server() as s:
        yield s
