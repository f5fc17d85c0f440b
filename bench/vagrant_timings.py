"""Deploy on the vagrant target, each phase: the table of the last vagrant ``up``'s timings.json.

    python -m bench.vagrant_timings [FILE ...]

The vagrant target writes ``<reports>/vagrant/timings.json`` on every ``up`` (phases box, vm, ssh,
deploy-files, images, compose-up, wait-healthy, and how many image bytes went over SSH). A VM under
TCG takes minutes and shares libvirt with other users, so the bench does not start one itself:
run the vagrant target (README "Benchmarks") and this reads what it wrote — several files side
by side (e.g. before/after baking the images into the box).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from bench.common import REPO, Report

PHASES = ("box", "vm", "ssh", "deploy-files", "images", "compose-up", "wait-healthy", "total")


def default_files() -> list[Path]:
    dirs = [Path(os.environ["LAB_REPORTS_DIR"])] if os.environ.get("LAB_REPORTS_DIR") else []
    dirs.append(REPO / "reports")
    return [d / "vagrant" / "timings.json" for d in dirs if (d / "vagrant" / "timings.json").is_file()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args(argv)
    files = args.files or default_files()
    rep = Report("vagrant", "Deploy on the vagrant target (phases of `up`, seconds)")
    rows, docs = [], []
    for path in files:
        doc = json.loads(path.read_text())
        docs.append({"file": str(path), **doc})
        phases = doc.get("phases_s", {})
        sent = doc.get("image_transfer", {})
        rows.append((doc.get("at", "?"), doc.get("accel", "?"), doc.get("vm_action", "?"),
                     *(phases.get(p, float("nan")) for p in PHASES),
                     f"{len(doc.get('images_sent', []))} / {sent.get('bytes', 0) / 2**20:.0f} MiB"))
    if rows:
        headers = ("at", "accel", "VM action", *PHASES, "images sent")
        rep.add_table("vagrant `up` (from timings.json)", headers,
                      rows, digits=1)
        last = docs[-1].get("phases_s", {})
        if "total" in last:
            rep.goal("vagrant deploy (s), warm box", last["total"], "≤ 120", last["total"] <= 120)
    else:
        rep.notes.append("no vagrant timings.json found: run the vagrant target first "
                         "(README \"Benchmarks\")")
    rep.data = {"runs": docs}
    rep.write()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
