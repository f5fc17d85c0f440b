"""``python -m harness.report reports/results.json``: re-render the living docs and cucumber.json.

Used by ``tox -e docs`` (living docs from the last results) and after editing the template, without
running the lab again. Writes next to the results file unless ``--out`` says where.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.report import model, render


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 when the results file is missing or not ours)."""
    parser = argparse.ArgumentParser(
        prog="python -m harness.report",
        description="Render living-docs/index.html and cucumber.json from a results.json of the harness.",
    )
    parser.add_argument(
        "results",
        type=Path,
        nargs="?",
        default=Path("reports") / render.RESULTS,
        help="results.json written by the acceptance run (default: reports/results.json)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="directory to write into (default: the results file's directory)",
    )
    args = parser.parse_args(argv)
    try:
        results = model.load(args.results)
    except model.ResultsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = args.out or args.results.parent
    written = render.write_renderings(results, out)
    totals = results.get("summary", {}).get("totals", {})
    print(
        f"{written['living_docs']} and {written['cucumber']} from {args.results} "
        f"({totals.get('features', 0)} features, {totals.get('scenarios', 0)} scenarios)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
