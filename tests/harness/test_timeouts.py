"""One table of the harness's timeout kinds: scaled together, printed once, and the modules' own
constants read from it (no wait keeps a private number of seconds)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.base import timeouts, waiting

HARNESS = Path(__file__).resolve().parents[2] / "harness"


def test_every_kind_scales_with_the_run_and_the_header_names_them_all() -> None:
    waiting.configure(6.0)
    try:
        assert timeouts.of("deploy") == 6 * timeouts.base("deploy")
        header = timeouts.header(6.0)
        for kind, entry in timeouts.TIMEOUTS.items():
            assert f"{kind} {entry.seconds * 6:g} s" in header
    finally:
        waiting.configure(1.0)
    with pytest.raises(KeyError, match="kinds: deploy"):
        timeouts.base("forever")


def test_the_waits_of_the_lab_read_their_kind_from_the_table() -> None:
    """The module constants that used to hold these numbers now name a kind of the table."""
    expected = {
        "lab/engine/base.py": ("WAIT_TIMEOUT", "deploy"), "lab/compose.py": ("DOWN_TIMEOUT", "cleanup"),
        "lab/engine/ssh.py": ("ACT_TIMEOUT", "exec"), "base/http.py": ("DEFAULT_TIMEOUT", "http"),
        "faults/network.py": ("HOST_TIMEOUT", "fault"), "lab/vm/vagrant_cli.py": ("DEFAULT_TIMEOUT", "vm"),
    }
    for module, (name, kind) in expected.items():
        text = (HARNESS / module).read_text()
        assert re.search(rf'^{name} = timeouts\.base\("{kind}"\)', text, re.M), f"{module}: {name}"
