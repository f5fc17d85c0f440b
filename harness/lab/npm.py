"""The frontend bundle's npm packages on this host, installed from its lock file.

``app/frontend/bundle/package-lock.json`` pins both what the page's ``otel-web.js`` is built from
(dependencies) and the tools its browser tests use (devDependencies: axe-core). The image build
runs its own ``npm ci``; the tests and the harness use this one, in the work tree's
``app/frontend/bundle/node_modules`` (gitignored), installed once per lock file: a stamp holds the
lock's hash, and a file lock (in the temp directory: ``npm ci`` removes node_modules, and nothing
may be added to the image's build context) keeps two runs from installing at once.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from filelock import FileLock, Timeout

from harness.base.config import REPO_ROOT
from harness.base.errors import LabError

BUNDLE_DIR = Path("app") / "frontend" / "bundle"
INSTALL_TIMEOUT = 600.0  # a cold `npm ci` of about 30 packages (esbuild's binary is the largest)
STAMP = ".lab-lock-sha256"


def bundle_dir(repo_root: Path = REPO_ROOT) -> Path:
    return repo_root / BUNDLE_DIR


def lock_hash(package_dir: Path) -> str:
    return hashlib.sha256((package_dir / "package-lock.json").read_bytes()).hexdigest()


def installed(package_dir: Path) -> bool:
    stamp = package_dir / "node_modules" / STAMP
    return stamp.is_file() and stamp.read_text().strip() == lock_hash(package_dir)


def ensure_installed(package_dir: Path | None = None, *, timeout: float = INSTALL_TIMEOUT) -> Path:
    """``npm ci`` in ``package_dir`` unless its node_modules already match the lock; returns
    node_modules. LabError naming what is missing (node/npm) or npm's last lines."""
    package_dir = package_dir or bundle_dir()
    modules = package_dir / "node_modules"
    if installed(package_dir):
        return modules
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise LabError("node and npm are needed for the page's bundle and the browser checks "
                       "(apt-get install nodejs npm)")
    try:
        key = hashlib.sha256(str(package_dir.resolve()).encode()).hexdigest()[:16]
        with FileLock(str(Path(tempfile.gettempdir()) / f"lab-npm-ci-{key}.lock"), timeout=timeout):
            if installed(package_dir):  # another run installed it while we waited
                return modules
            try:
                result = subprocess.run(
                    [npm, "ci", "--no-audit", "--no-fund"], cwd=package_dir, capture_output=True,
                    text=True, timeout=timeout,
                )
            except subprocess.TimeoutExpired:
                raise LabError(f"npm ci in {package_dir} did not finish within {timeout:.0f} s") from None
            if result.returncode != 0:
                tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
                raise LabError(f"npm ci in {package_dir} failed (exit {result.returncode}):\n{tail}")
            (modules / STAMP).write_text(lock_hash(package_dir) + "\n")
    except Timeout:
        raise LabError(f"another npm ci in {package_dir} held its lock for {timeout:.0f} s") from None
    return modules


def package_file(relative: str, package_dir: Path | None = None) -> Path:
    """A file of an installed package (``axe-core/axe.min.js``), installing first if needed."""
    path = ensure_installed(package_dir) / relative
    if not path.is_file():
        raise LabError(f"{relative} is not in {path.parents[len(Path(relative).parts) - 1]}: "
                       "is it in package-lock.json?")
    return path
