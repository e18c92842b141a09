"""The GTO stage `canary`: a version that passed the gate serves a share of traffic before prod.

With `promotion.canary.enabled`, `gitml promote` registers a passed candidate and assigns it
`canary` (`register_canary`); prod is untouched. `gitml canary decide --apply` later ends it in
one of two ways, each a set of annotated GTO tags whose message carries the reason and the
comparison (pushed atomically, as promote's are):

- `promote_canary`: `prod` moves to the canary's version (the old prod version leaves prod), and
  the version leaves `canary`;
- `end_canary`: the version leaves `canary`; prod was never touched.

The statistics that decide live in `gitml.monitor.canary`; this module only reads and writes
the registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gitml.errors import DataError, GitmlError
from gitml.io.git import git
from gitml.registry import versions as registry
from gitml.registry.tags import delete_tags, publish, register_into, require_remote, stage_tag

CANARY = "canary"


@dataclass(frozen=True)
class CanaryState:
    """The versions in `canary` and `prod` now, and when the canary was assigned."""

    canary: registry.ModelVersion | None
    prod: registry.ModelVersion | None
    since: datetime | None  # the canary's newest assignment tag (UTC)


def assigned_at(repo: Path, version: registry.ModelVersion, stage: str = CANARY) -> datetime | None:
    """When `version` was last assigned `stage`: the tagger date of the newest `model#STAGE#N`
    tag at its commit (unassignments are `model#STAGE!#N` and do not match)."""
    out = git(
        repo, "for-each-ref", "--sort=-taggerdate",
        "--format=%(*objectname) %(taggerdate:unix)", f"refs/tags/{registry.ARTIFACT}#{stage}#*",
        check=False,
    )  # fmt: skip
    for line in out.splitlines():
        commit, _, stamp = line.partition(" ")
        if commit == version.commit and stamp.isdigit():
            return datetime.fromtimestamp(int(stamp), UTC)
    return None


def state(repo: Path) -> CanaryState:
    canary = registry.find_stage(repo, CANARY)
    since = assigned_at(repo, canary) if canary is not None else None
    return CanaryState(canary, registry.find_stage(repo), since)


def register_canary(repo: Path, version: str, commit: str, message: str) -> list[str]:
    """Register `version` at `commit` and assign it `canary`; a version already in `canary`
    leaves it (superseded). Prod is not touched. Every tag made is deleted again on a failure."""
    old = registry.find_stage(repo, CANARY)
    leaving = old.version if old is not None else None
    why = f"{registry.ARTIFACT}@{leaving} leaves canary: superseded by {version}"
    return register_into(repo, version, commit, message, CANARY, leaving, why)


def _apply(repo: Path, steps: list[tuple[str, str, str, str]], push: bool) -> list[str]:
    """(action, stage, version, message) tags in order; all deleted again when one fails."""
    if push:
        require_remote(repo)
    registry.wait_past_last_tag(repo)
    tags: list[str] = []
    try:
        for action, stage, version, message in steps:
            tags.append(stage_tag(repo, action, stage, version, message))
        if push:
            publish(repo, tags, dvc_push=False)
    except GitmlError:
        delete_tags(repo, tags)
        raise
    return tags


def _current(repo: Path) -> CanaryState:
    now = state(repo)
    if now.canary is None:
        raise DataError(
            f"no version is in stage {CANARY}: `gitml promote` assigns it when "
            "promotion.canary.enabled is true (see `gitml registry`)"
        )
    return now


def promote_canary(repo: Path, reason: str, *, push: bool = False) -> list[str]:
    """Prod moves to the canary's version; the old prod version leaves prod; the version leaves
    canary. The reason (the comparison) is every tag's message."""
    now = _current(repo)
    assert now.canary is not None
    version = now.canary.version
    message = f"canary {registry.ARTIFACT}@{version} promoted to prod\n\n{reason}"
    steps = [("assign", registry.PROD, version, message)]
    if now.prod is not None and now.prod.version != version:
        steps.append(("unassign", registry.PROD, now.prod.version, message))
    steps.append(("unassign", CANARY, version, message))
    return _apply(repo, steps, push)


def end_canary(repo: Path, reason: str, *, push: bool = False) -> list[str]:
    """The canary's version leaves canary, with the reason in the tag message; prod stays."""
    now = _current(repo)
    assert now.canary is not None
    version = now.canary.version
    message = f"canary {registry.ARTIFACT}@{version} ended; prod unchanged\n\n{reason}"
    return _apply(repo, [("unassign", CANARY, version, message)], push)
