"""The linters, the type checker and the dead-code finder are part of the suite, so CI fails on
their findings."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT, run

pytestmark = pytest.mark.xdist_group("lint")


@pytest.mark.parametrize(
    "cmd",
    [
        ["ruff", "check", "src", "tests", "bench"],
        ["ruff", "format", "--check", "src", "tests", "bench"],
        ["mypy", "src"],
        # paths, minimum confidence and ignores: [tool.vulture] in pyproject.toml
        ["vulture"],
    ],
    ids=["ruff-check", "ruff-format", "mypy", "vulture"],
)
def test_clean(cmd: list[str]) -> None:
    run(cmd, ROOT)


def test_vulture_finds_dead_code(tmp_path: Path) -> None:
    """With the project's settings, an unused function, class and constant are reported."""
    dead = tmp_path / "dead.py"
    dead.write_text(
        "LIMIT = 3\n\n\nclass Orphan:\n    pass\n\n\ndef helper() -> int:\n    return 1\n",
        encoding="utf-8",
    )
    proc = run(["vulture", str(dead), "--config", str(ROOT / "pyproject.toml")], ROOT, check=False)
    assert proc.returncode == 3, proc.stdout + proc.stderr  # 3: dead code found
    for name in ("LIMIT", "Orphan", "helper"):
        assert f"'{name}'" in proc.stdout
