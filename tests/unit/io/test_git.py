"""git reads at a revision: a missing revision is named, with the remote's branch of that name
when a clone has only that one."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitml.errors import DataError
from gitml.io.git import resolve_rev
from tests.helpers import run


def test_a_branch_a_clone_only_has_as_origins_is_suggested(tmp_path: Path) -> None:
    """`gitml report` compares with main by default; a fresh clone of a branch other than main
    has only origin/main, and 'revision main does not exist' left the user guessing."""
    upstream, clone = tmp_path / "upstream", tmp_path / "clone"
    upstream.mkdir()
    run(["git", "init", "-q", "-b", "main"], upstream)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty",
         "-m", "first"], upstream)  # fmt: skip
    run(["git", "branch", "-q", "feature"], upstream)
    run(["git", "clone", "-q", "-b", "feature", str(upstream), str(clone)], tmp_path)
    with pytest.raises(
        DataError, match=r"revision 'main' does not exist.*did you mean 'origin/main'"
    ):
        resolve_rev(clone, "main")
    with pytest.raises(DataError) as caught:
        resolve_rev(clone, "nowhere")
    assert "did you mean" not in str(caught.value)
    assert resolve_rev(clone, "origin/main") == resolve_rev(upstream, "main")
