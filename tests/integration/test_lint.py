"""The linters, the type checker and the dead-code finder are part of the suite, so CI fails on
their findings."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import ROOT, run

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


def _commands(lines: list[str], prefix: str) -> set[str]:
    return {line.strip().removeprefix(prefix) for line in lines if line.strip().startswith(prefix)}


def test_pre_commit_hooks_run_what_make_lint_runs() -> None:
    """.pre-commit-config.yaml's hooks are `make lint`'s commands, with the same arguments."""
    import yaml

    makefile = (ROOT / "Makefile").read_text(encoding="utf-8").split("\nlint:", 1)[1]
    recipe = makefile.split("\n\n", 1)[0].splitlines()[1:]
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    assert all(repo["repo"] == "local" for repo in config["repos"])  # nothing downloaded
    assert all(hook["language"] == "system" and not hook["pass_filenames"] for hook in hooks)
    entries = [hook["entry"] for hook in hooks]
    assert _commands(entries, ".venv/bin/") == _commands(recipe, "$(BIN)/")
