"""`gitml rollback`: move `prod` back to an earlier version, with the reason in the tags."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gitml.errors import DataError, GitmlError
from gitml.registry import versions as registry
from gitml.registry.tags import delete_tags, prod_tag, publish, require_remote


@dataclass(frozen=True)
class RollbackResult:
    from_version: str
    to_version: str
    tags: list[str]
    pushed: bool
    reason: str


def previous_version(repo: Path, current: str) -> str:
    """The newest version older than `current` that has been in prod before."""
    from gto.versions import SemVer

    older = [
        v
        for v in registry.list_versions(repo)
        if registry.PROD in v.ever_in and SemVer(v.version) < SemVer(current)
    ]
    if not older:
        raise DataError(
            f"no version older than {current} was ever in prod; name one with --to "
            "(see `gitml registry`)"
        )
    return older[0].version


def rollback(
    repo: Path, to: str | None = None, *, reason: str = "", push: bool = False
) -> RollbackResult:
    """Move `prod` from its current version to `to` (default: the previous prod version)."""

    repo = Path(repo)
    if push:
        require_remote(repo)
    current = registry.find_stage(repo)
    if current is None:
        raise DataError("nothing is in prod yet, so there is nothing to roll back")
    target = (
        registry.find_version(repo, to).version if to else previous_version(repo, current.version)
    )
    if target == current.version:
        raise DataError(f"{registry.ARTIFACT}@{target} is already in prod")
    why = reason.strip() or "no reason given"
    message = f"rollback: prod {registry.ARTIFACT}@{current.version} -> {target}\n\nreason: {why}"
    registry.wait_past_last_tag(repo)
    tags: list[str] = []
    try:
        tags.append(prod_tag(repo, "unassign", current.version, message))
        tags.append(prod_tag(repo, "assign", target, message))
        if push:
            publish(repo, tags, dvc_push=False)
    except GitmlError:
        delete_tags(repo, tags)
        raise
    return RollbackResult(current.version, target, tags, push, why)
