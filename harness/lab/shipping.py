"""What a deploy to another host moves there first (the lab VM): the repository's ``app/`` and
``stack/``, the compose variables, and the ``lab/*:local`` images — each only when it changed.

Files go with rsync over the target's ssh config (only changes travel); the variables to an env
file of mode 600 (they may hold the Grafana password); images with one ``docker save | ssh docker
load`` of those whose image ID differs on the other side (shared layers travel once).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path

from rich.markup import escape

from harness.base.errors import LabError
from harness.base.progress import Display
from harness.base.statefile import write_private
from harness.lab.deploy import DeployPlan
from harness.lab.engine import Engine
from harness.lab.remote import Remote, TransferResult

REMOTE_DIR = "obslab"  # under the remote user's home: obslab/app, obslab/stack, obslab/lab.env
ENV_FILE_NAME = "lab.env"
RSYNC_EXCLUDES = ("images/.cache/", "__pycache__/", "*.pyc", ".pytest_cache/", "node_modules/", ".venv/")
TRANSFER_TIMEOUT = 1800.0


def remote_env(plan: DeployPlan, lab_env: Mapping[str, str], bind_address: str) -> dict[str, str]:
    """The variables compose interpolates on the other host: every variable the compose files name
    that this run has (image versions, …), the plan's, and that host's bind address."""
    names: set[str] = set()
    for f in plan.files:
        names |= set(re.findall(r"\$\{([A-Z0-9_]+)", f.read_text()))
    env = {k: lab_env[k] for k in sorted(names) if k in lab_env and k != "LAB_BIND_ADDRESS"}
    env.update(plan.env)
    env["LAB_BIND_ADDRESS"] = bind_address
    return env


def sync_files(remote: Remote, repo_root: Path, env: Mapping[str, str], staging: Path,
               display: Display) -> None:
    """rsync ``app/`` and ``stack/`` into ``~/obslab/`` on the host, then the variables into
    ``~/obslab/lab.env`` (written here first to ``staging``, mode 600)."""
    write_private(
        staging,
        "# compose variables of the lab on this host; written by the harness on every deploy\n"
        + "".join(f"{k}={shlex.quote(v)}\n" for k, v in sorted(env.items())),
    )
    with display.phase(f"deploy files: rsync app/ stack/ to {remote.where}:{REMOTE_DIR}/"):
        remote.rsync([repo_root / "app", repo_root / "stack"], f"{REMOTE_DIR}/", excludes=RSYNC_EXCLUDES,
                     on_line=display.detail)
        remote.rsync([staging], f"{REMOTE_DIR}/{ENV_FILE_NAME}", delete=False, chmod="F600")


def images_to_send(wanted: Iterable[str], local: Mapping[str, str], remote: Mapping[str, str]) -> list[str]:
    """Tags whose image the remote engine lacks or has in another version (by image ID), sorted.

    Raises LabError for a wanted tag that is not here either (build it first).
    """
    wanted = sorted(set(wanted))
    absent = [t for t in wanted if t not in local]
    if absent:
        raise LabError(
            f"image(s) not in the local engine, cannot send them: {', '.join(absent)} "
            "(`lab images build` makes them)"
        )
    return [t for t in wanted if remote.get(t) != local[t]]


def send_images(wanted: Iterable[str], local: Engine, there: Engine, remote: Remote,
                display: Display) -> tuple[list[str], TransferResult | None]:
    """Send the wanted images whose ID differs on the other host: (tags sent, the transfer, or
    None when none had to travel)."""
    wanted = sorted(set(wanted))
    here_ids = local.image_ids()
    send = images_to_send(wanted, here_ids, there.image_ids())
    if not send:
        display.detail(f"images: all {len(wanted)} lab/*:local images already there (same IDs)")
        return [], None
    title = f"images: docker save | ssh docker load of {len(send)} image(s): {', '.join(send)}"
    with display.phase(title):

        def progress(sent: int, seconds: float) -> None:
            rate = sent / (1 << 20) / seconds if seconds else 0
            mib = sent / (1 << 20)
            display.update(escape(f"images: {mib:.0f} MiB sent in {seconds:.0f}s ({rate:.1f} MiB/s)"))
            if display.plain and int(seconds) % 15 == 0:
                display.detail(f"{sent / (1 << 20):.0f} MiB in {seconds:.0f}s")

        def sent(total: int, seconds: float) -> None:
            display.detail(f"{total / (1 << 20):.0f} MiB sent in {seconds:.0f}s; docker load there")
            display.update("images: docker load (unpacking layers)")

        result = remote.pipe_in(["docker", "save", *send], "docker load", timeout=TRANSFER_TIMEOUT,
                                on_progress=progress, on_sent=sent)
    display.detail(f"images: {result.mib:.0f} MiB in {result.seconds:.0f}s ({result.rate:.1f} MiB/s)")
    still = images_to_send(wanted, here_ids, there.image_ids())
    if still:
        raise LabError(f"after docker load the other host still has other image IDs for: {', '.join(still)}")
    return send, result
