"""A feature with a skipped scenario beside passing ones is not a skipped feature."""

import pytest

from harness.report.model import rollup


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["passed", "skipped"], "passed"),
        (["skipped", "skipped"], "skipped"),
        (["passed", "failed", "skipped"], "failed"),
        (["passed", "undefined"], "undefined"),
        ([], "skipped"),
    ],
)
def test_rollup(statuses: list[str], expected: str) -> None:
    assert rollup(statuses) == expected
