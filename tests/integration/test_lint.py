"""The linters and the type checker are part of the suite, so CI fails on their findings."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT, run

pytestmark = pytest.mark.xdist_group("lint")


@pytest.mark.parametrize(
    "cmd",
    [
        ["ruff", "check", "src", "tests", "bench"],
        ["ruff", "format", "--check", "src", "tests", "bench"],
        ["mypy", "src"],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_clean(cmd: list[str]) -> None:
    run(cmd, ROOT)
