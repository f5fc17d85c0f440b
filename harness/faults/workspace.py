"""A throwaway copy of the lab's files, where a fault is applied and the suite runs.

The copy holds what a run needs — the stack, the app's sources (compose build contexts, the
front's config), the harness, the features and steps, conftest.py and pyproject.toml — so the suite
runs there exactly as in the user's tree (its ``REPO_ROOT`` is the copy), and nothing the fault or
the run writes (the edit, ``.lab/`` state and secrets, reports) touches the user's working tree.
The healthcheck binary, which git ignores, is copied too: every service's healthcheck mounts it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from harness.base.errors import LabError
from harness.faults.model import Fault

COPIED = ("stack", "app", "harness", "features", "steps", "conftest.py", "pyproject.toml")
IGNORED = ("__pycache__", "*.pyc", ".cache", ".pytest_cache", ".ruff_cache", ".hypothesis", "node_modules")


HEALTHCHECK_BINARY = Path("stack/healthcheck/bin/lab-healthcheck")
GIT_TIMEOUT = 60.0


def snapshot(repo: Path, dest: Path, ref: str | None = None) -> Path:
    """The lab's files once, for every fault of a run: the working tree as it is (``ref`` None) or a
    git commit (``git archive REF``), so that edits others make while a run goes on cannot change
    its base. The healthcheck binary (built, ignored by git) comes from the working tree."""
    import subprocess
    import tarfile

    if ref is None:
        return Workspace(repo, dest).create().root
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    archive = dest.parent / f"{dest.name}.tar"
    try:
        with archive.open("wb") as out:
            done = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", ref, *COPIED],
                                  stdout=out, stderr=subprocess.PIPE, timeout=GIT_TIMEOUT, check=False)
        if done.returncode != 0:
            raise LabError(f"git archive {ref} failed: {done.stderr.decode(errors='replace').strip()[:200]}")
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"cannot make the lab's files of {ref}: {exc}") from None
    finally:
        archive.unlink(missing_ok=True)
    binary = repo / HEALTHCHECK_BINARY
    if binary.is_file():
        (dest / HEALTHCHECK_BINARY).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(binary, dest / HEALTHCHECK_BINARY)
    return dest


class Workspace:
    """``root`` is made fresh from ``source`` (the repository, or a :func:`snapshot` of it) by
    :meth:`create`."""

    def __init__(self, source: Path, root: Path):
        self.source = Path(source)
        self.root = Path(root)

    def create(self) -> Workspace:
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        missing = [name for name in COPIED if not (self.source / name).exists()]
        if missing:
            raise LabError(f"{self.source} is not the lab's repository (no {', '.join(missing)})")
        for name in COPIED:
            src = self.source / name
            if src.is_dir():
                shutil.copytree(src, self.root / name, ignore=shutil.ignore_patterns(*IGNORED), symlinks=True)
            else:
                shutil.copy2(src, self.root / name)
        return self

    def apply(self, fault: Fault) -> list[str]:
        """Apply every edit of ``fault``; what was changed, one line each (StaleEdit when an edit no
        longer applies to today's files)."""
        return [edit.apply(self.root) for edit in fault.edits]

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
