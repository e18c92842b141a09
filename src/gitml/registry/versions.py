"""The model registry is the git history: GTO tags (`model@vX.Y.Z`, `model#prod#N`).

One home for the questions promotion, serving and monitoring ask: which version holds a stage,
which commit a version points at, and what a file looked like at a revision (git for files
kept in git, DVC for cached outputs).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from gitml.errors import DataError
from gitml.io.git import git

ARTIFACT = "model"
PROD = "prod"


@dataclass(frozen=True)
class ModelVersion:
    artifact: str
    version: str  # e.g. "v0.3.0"
    commit: str  # full hexsha the version tag points at
    stage: str | None = None


def find_stage(
    repo: Path | str, stage: str = PROD, artifact: str = ARTIFACT
) -> ModelVersion | None:
    """The version currently assigned to `stage`, or None when there is none yet."""
    from gto import api
    from gto.exceptions import ArtifactNotFound

    try:
        found = api.find_versions_in_stage(str(repo), artifact, stage)
    except ArtifactNotFound:  # no tag of this artifact yet: nothing was ever registered
        return None
    if not found:
        return None
    top = found[0] if isinstance(found, list) else found
    return ModelVersion(artifact, top.version, top.commit_hexsha, stage)


def find_version(repo: Path | str, version: str, artifact: str = ARTIFACT) -> ModelVersion:
    """A registered version by name (`v1.2.0` or `1.2.0`); DataError when it does not exist."""
    commit = git(
        repo,
        "rev-list",
        "-n",
        "1",
        f"refs/tags/{artifact}@{normalise_version(version)}",
        check=False,
    )
    if not commit:
        raise DataError(
            f"no registered version {artifact}@{normalise_version(version)} (see `gitml registry`)"
        )
    return ModelVersion(artifact, normalise_version(version), commit)


def normalise_version(version: str) -> str:
    """`1.2.0` or `v1.2.0` as the tag spells it: `v1.2.0`."""
    return version if version.startswith("v") else f"v{version}"


@dataclass(frozen=True)
class VersionInfo:
    """A registered version with what `gitml registry` shows about it."""

    version: str
    commit: str
    registered_at: datetime
    message: str  # the registration tag's message: gitml puts the gate's decision there
    stages: tuple[str, ...] = ()  # stages it holds now
    ever_in: tuple[str, ...] = field(default=())  # stages it was ever assigned to


def list_versions(repo: Path | str, artifact: str = ARTIFACT) -> list[VersionInfo]:
    """Every registered, not deregistered version, newest (highest SemVer) first."""
    from gto import api
    from gto.exceptions import ArtifactNotFound
    from gto.versions import SemVer

    try:
        found = api.find_latest_version(str(repo), artifact, all=True, registered=True)
    except ArtifactNotFound:
        return []
    infos = []
    for v in found or []:
        if not v.is_registered or not v.is_active:
            continue
        reg = v.registrations[-1]
        infos.append(
            VersionInfo(
                version=v.version,
                commit=v.commit_hexsha,
                registered_at=reg.created_at,
                message=reg.message,
                stages=tuple(sorted(s.stage for s in v.get_vstages(active_only=True))),
                ever_in=tuple(sorted(v.stages)),
            )
        )
    return sorted(infos, key=lambda i: SemVer(i.version), reverse=True)


def wait_past_last_tag(repo: Path | str, artifact: str = ARTIFACT) -> None:
    """Sleep until the clock is past the second of the newest tag of `artifact`.

    GTO orders the events of a version by their tag time, which git records in whole seconds;
    two stage tags of one version made in the same second (promote, then an immediate rollback
    and roll-forward) would be ordered arbitrarily. Waiting for the next second keeps the
    order of the tags the order of the decisions. Costs at most a second, and only then.
    """
    out = git(
        repo,
        "for-each-ref",
        "--format=%(taggerdate:unix)",
        f"refs/tags/{artifact}@*",
        f"refs/tags/{artifact}#*",
        check=False,
    )
    stamps = [int(x) for x in out.split() if x.isdigit()]
    if stamps:
        delay = max(stamps) + 1 - time.time()
        if delay > 0:
            time.sleep(delay)
