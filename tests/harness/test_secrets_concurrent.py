"""Shards deploy at once from one checkout: the secrets are made once and every lab gets the same
ones (a fresh clone's first sharded run failed with FileNotFoundError on the shared temporary file)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from harness.base.statefile import read_env_file, write_private
from harness.lab.deploy import SECRETS_FILE, load_secrets


def _load(repo: str) -> dict[str, str]:
    return load_secrets(Path(repo))


def test_shards_starting_together_share_one_set_of_secrets(tmp_path: Path) -> None:
    with multiprocessing.get_context("fork").Pool(8) as pool:
        results = pool.map(_load, [str(tmp_path)] * 16)
    assert all(r == results[0] for r in results), "every shard must deploy with the same secrets"
    assert read_env_file(tmp_path / SECRETS_FILE) == results[0]
    assert not list((tmp_path / SECRETS_FILE).parent.glob("*.tmp")), "no temporary file left behind"


def _write(args: tuple[str, int]) -> None:
    path, n = args
    for i in range(50):
        write_private(Path(path), f"writer {n} line {i}\n")


def test_writers_at_once_never_meet_on_one_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    with multiprocessing.get_context("fork").Pool(4) as pool:
        pool.map(_write, [(str(target), n) for n in range(4)])
    assert target.read_text().startswith("writer ")
    assert not list(tmp_path.glob("*.tmp"))
