"""Staleness: does the dvc.lock committed at a revision match that revision's code and params?

Someone who edits a stage's code or params and commits without `dvc repro` leaves a dvc.lock
that describes another pipeline. `dvc status` is the authority on what changed; it is run on a
throw-away `git worktree` of the revision, so the answer does not depend on whether the
workspace has been reproduced since (CI checks after `dvc repro`) and needs no `dvc pull`:
missing data (outputs of other stages, DVC-tracked raw files) is not a reason to call a stage
stale, only code, params and the command.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitml.errors import DataError
from gitml.io.git import git, resolve_rev


@dataclass(frozen=True)
class StaleStage:
    name: str
    reasons: tuple[str, ...]  # e.g. "src/gitml/tune.py modified", "param tune modified"

    def line(self) -> str:
        return f"{self.name}: {', '.join(self.reasons)}"


def find_stale(repo: Path, rev: str = "HEAD") -> list[StaleStage]:
    """Stages whose committed dvc.lock entry at `rev` disagrees with the code/params at `rev`."""
    commit = resolve_rev(repo, rev)
    with tempfile.TemporaryDirectory(prefix="gitml-stale-") as tmp:
        tree = Path(tmp) / "tree"
        git(repo, "worktree", "add", "--detach", "--quiet", str(tree), commit)
        try:
            if not (tree / "dvc.lock").is_file():
                raise DataError(
                    f"no dvc.lock at {rev} ({commit[:7]}): run `dvc repro` and commit dvc.lock"
                )
            status, tracked = _dvc_status(tree)
        finally:
            git(repo, "worktree", "remove", "--force", str(tree))
    return _stale_from_status(status, tracked)


def _dvc_status(tree: Path) -> tuple[dict[str, Any], list[str]]:
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    cwd = Path.cwd()
    os.chdir(tree)  # dvc names stages relative to the current directory
    try:
        with Repo(str(tree)) as dvc_repo:
            status: dict[str, Any] = dvc_repo.status()
            # every output DVC tracks (stage outputs and `dvc add`ed files): data, not code
            tracked = [str(Path(out.fs_path).relative_to(tree)) for out in dvc_repo.index.outs]
    except DvcException as exc:
        raise DataError(f"dvc status failed: {exc}") from None
    finally:
        os.chdir(cwd)
    return status, tracked


def _overlaps(path: str, tracked: list[str]) -> bool:
    p = Path(path)
    return any(p == Path(t) or Path(t) in p.parents or p in Path(t).parents for t in tracked)


def _stale_from_status(status: dict[str, Any], tracked: list[str]) -> list[StaleStage]:
    """Keep only what a commit can fix by rerunning: changed code, params or command."""
    out: list[StaleStage] = []
    for address, entries in status.items():
        name = address.rsplit(":", 1)[-1].removeprefix("dvc.yaml")
        reasons: list[str] = []
        for entry in entries:
            if entry == "changed command":
                reasons.append("command changed")
            if not isinstance(entry, dict):
                continue
            for path, state in entry.get("changed deps", {}).items():
                if isinstance(state, dict):  # a params file: {key: modified|new|deleted}
                    reasons += [f"param {key} {what}" for key, what in state.items()]
                elif state in ("modified", "new") and not _overlaps(path, tracked):
                    reasons.append(f"{path} {state}")
                elif state == "deleted" and not _overlaps(path, tracked):
                    reasons.append(f"{path} deleted")
        if reasons:
            out.append(StaleStage(name, tuple(reasons)))
    return out
