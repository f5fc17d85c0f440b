"""Whether a running lab VM is reused: the configuration fingerprint, what to do with a VM in each
state, and the state file — decisions made without a VM."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.lab.vm import state as vs
from harness.lab.vm.vagrant_cli import NOT_CREATED, POWEROFF, RUNNING

REPO = Path(__file__).parents[2]


def _repo(tmp_path: Path) -> Path:
    (tmp_path / "provision" / "vm").mkdir(parents=True)
    (tmp_path / "Vagrantfile").write_text(
        'cpus = ENV.fetch("LAB_VM_CPUS", "2")\nENV["LAB_REPORTS_DIR"]\n'
        'env: {"LAB_DOCKER_SOURCE" => ENV["LAB_DOCKER_SOURCE"]}\n'
    )
    (tmp_path / "provision" / "vm" / "bootstrap.sh").write_text(
        'echo "${LAB_DOCKER_SOURCE:-debian} ${LAB_ROOT:-}"\n'
    )
    return tmp_path


def test_fingerprint_is_stable_and_ignores_unrelated_settings(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    first = vs.fingerprint(root, {})
    assert vs.fingerprint(root, {"LAB_STORES": "tempo-loki", "LAB_TIMEOUT_SCALE": "5"}) == first
    assert vs.fingerprint(root, {"LAB_REPORTS_DIR": "/elsewhere"}) == first  # where the serial log goes
    assert vs.fingerprint(root, {"LAB_ROOT": "/x"}) == first  # the script's test-only variable, not passed


def test_fingerprint_follows_the_vagrantfile_its_variables_and_provisioning(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    base = vs.fingerprint(root, {})
    cpus = vs.fingerprint(root, {"LAB_VM_CPUS": "4"})
    assert cpus["machine"] != base["machine"] and cpus["provision"] == base["provision"]
    docker = vs.fingerprint(root, {"LAB_DOCKER_SOURCE": "official"})
    assert docker["provision"] != base["provision"] and docker["machine"] == base["machine"]
    (root / "provision" / "vm" / "bootstrap.sh").write_text("echo changed\n")
    assert vs.fingerprint(root, {})["provision"] != base["provision"]
    (root / "Vagrantfile").write_text("# edited\n")
    assert vs.fingerprint(root, {})["machine"] != base["machine"]
    assert vs.fingerprint(root, {"LAB_BOX": "debian/bookworm64"})["box"] == "debian/bookworm64"


def test_fingerprint_of_this_repository_names_the_vagrantfiles_variables() -> None:
    if not (REPO / "Vagrantfile").is_file():
        pytest.skip("no Vagrantfile in this checkout")
    base = vs.fingerprint(REPO, {})
    assert vs.fingerprint(REPO, {"LAB_VM_MEMORY": "8192"})["machine"] != base["machine"]
    assert vs.fingerprint(REPO, {"LAB_VM_PORT_OFFSET": "10000"})["machine"] != base["machine"]


CURRENT = {"machine": "m1", "provision": "p1", "box": "lab/debian12"}


@pytest.mark.parametrize(
    ("state", "saved", "action"),
    [
        (NOT_CREATED, None, "up"),
        (NOT_CREATED, CURRENT, "up"),
        (RUNNING, CURRENT, "reuse"),
        (RUNNING, {**CURRENT, "provision": "p0"}, "provision"),
        (RUNNING, {**CURRENT, "machine": "m0"}, "reload"),
        (RUNNING, None, "provision"),
        (RUNNING, {**CURRENT, "box": "debian/bookworm64"}, "recreate"),
        (POWEROFF, CURRENT, "up"),
        (POWEROFF, {**CURRENT, "provision": "p0"}, "up-provision"),
        (POWEROFF, None, "up-provision"),
    ],
)
def test_what_to_do_with_the_vm(state: str, saved: dict[str, str] | None, action: str) -> None:
    got, reason = vs.vm_action(state, saved, CURRENT)
    assert got == action and reason


def test_state_file_round_trip(tmp_path: Path) -> None:
    vs.save_state(tmp_path, {"fingerprint": CURRENT, "domain": "x_lab"})
    assert vs.load_state(tmp_path)["fingerprint"] == CURRENT
    vs.save_state(tmp_path, None)
    assert vs.load_state(tmp_path) == {}
    (tmp_path / vs.STATE_FILE).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / vs.STATE_FILE).write_text("{not json")
    assert vs.load_state(tmp_path) == {}
