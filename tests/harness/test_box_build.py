"""The libvirt box is built in one place (harness.lab.targets.vagrant.build_box), which `lab box build`
and the vagrant target's first `up` both call: the script, its arguments and its bounded time."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.base.errors import LabError
from harness.base.progress import Display
from harness.lab.targets import vagrant


def fake_repo(tmp_path: Path, exit_code: int = 0) -> Path:
    script = tmp_path / vagrant.BOX_BUILD_SCRIPT
    script.parent.mkdir(parents=True)
    script.write_text('#!/bin/sh\necho "build.sh $*" > "$(dirname "$0")/called"\n'
                      f"echo building\nexit {exit_code}\n")
    script.chmod(0o755)
    return tmp_path


def test_build_box_runs_the_script_with_the_box_name(tmp_path: Path) -> None:
    repo = fake_repo(tmp_path)
    seconds = vagrant.build_box(repo, Display.silent(), name="lab/debian12")
    assert (repo / "provision" / "box" / "called").read_text().strip() == "build.sh --name lab/debian12"
    assert seconds >= 0
    vagrant.build_box(repo, Display.silent())
    assert (repo / "provision" / "box" / "called").read_text().strip() == "build.sh"


def test_a_failed_or_missing_script_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(LabError, match=r"provision/box/build\.sh does not exist"):
        vagrant.build_box(tmp_path, Display.silent())
    with pytest.raises(LabError, match=r"provision/box/build\.sh"):
        vagrant.build_box(fake_repo(tmp_path / "failing", exit_code=3), Display.silent())


def test_lab_box_build_and_the_target_call_the_same_function(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    from harness import cli
    from harness.base.config import LabConfig

    calls: list[tuple[Path, str | None]] = []
    monkeypatch.setattr(vagrant, "build_box",
                        lambda repo, display, name=None, env=None: calls.append((repo, name)) or 1.0)
    assert cli.main(["box", "build", "--target", "docker"]) == 0
    assert calls == [(cli.REPO_ROOT, None)]
    config = LabConfig(target="vagrant", repo_root=fake_repo(tmp_path))
    target = vagrant.VagrantTarget(config, Display.silent())
    names = iter([[], ["lab/debian12"]])  # not there, then built
    monkeypatch.setattr(target.vagrant, "box_names", lambda: next(names))
    target.ensure_box()
    assert calls[-1] == (target.repo_root, "lab/debian12")
    assert target.timings.facts["box_build_s"] == 1.0
