"""What `gitml promote` may register: a model this workspace holds, by the identity tags record.

`gitml serve --stage/--version` loads a version's model by the md5 that dvc.lock records at
its commit, from the DVC cache (after `dvc pull`, from the remote). A commit whose model was
never built or fetched here used to register fine, with the workspace model's sha256 in its
tag, and fail only when served (after a rollback, say). So before any tag is made:

- the model the gate judged (the workspace's, when the candidate is the checked-out commit) is
  in the DVC cache, where `dvc push` and a later `gitml serve` find it;
- the model the version's commit records is here too (the workspace file, the DVC cache, or
  git for a model kept in git), or promote stops with an error naming where it looked;
- the sha256 recorded in the tag is taken from those bytes.

"Same model as prod" is decided by the identity the tags record (the model's sha256 and the
metadata's md5), not by dvc.lock at prod's commit, whose model may not be the one prod's tag
names.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gitml import layout
from gitml.errors import DataError
from gitml.io.files import file_sha256
from gitml.io.git import git, lock_md5, locked_md5
from gitml.registry import versions as registry
from gitml.registry.tags import SHA256_LABEL

METADATA_MD5 = re.compile(r"metadata md5 ([0-9a-f]{32})")  # promote's tag message line
_WHAT_TO_DO = (
    "Build it here (`dvc repro`, then commit dvc.lock) or fetch it (`dvc pull` from the DVC "
    "remote it was pushed to), then promote again"
)


@dataclass(frozen=True)
class Identity:
    """What the tags record of a version: the model's sha256 and its metadata's md5."""

    sha256: str | None
    metadata_md5: str | None


def _md5(path: Path) -> str:
    digest = hashlib.md5()  # DVC's content hash, not a security hash
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_path(repo: Path, md5: str) -> Path | None:
    """Where the DVC cache of `repo` keeps a file of this md5; None when `repo` uses no DVC."""
    if not (repo / ".dvc").is_dir():
        return None
    from dvc.repo import Repo

    with Repo(str(repo)) as dvc_repo:
        return Path(dvc_repo.cache.local.oid_to_path(md5))


def _git_blob(repo: Path, commit: str, md5: str) -> bytes | None:
    """The model as git holds it at `commit` (a model kept in git), when its md5 is `md5`."""
    proc = subprocess.run(
        ["git", "show", f"{commit}:{layout.MODEL.as_posix()}"], cwd=repo, capture_output=True
    )
    if proc.returncode != 0 or hashlib.md5(proc.stdout).hexdigest() != md5:
        return None
    return proc.stdout


def committed_sha256(repo: Path, commit: str, ref: str) -> str | None:
    """sha256 of the model dvc.lock at `commit` records, found in this workspace; None when
    dvc.lock records none (identity unknown: the gate decides). DataError naming every place
    it looked when the model is nowhere here."""
    try:
        md5 = locked_md5(repo, commit, layout.MODEL)
    except DataError:
        return None
    if md5 is None:
        return None
    here = repo / layout.MODEL
    if here.is_file() and _md5(here) == md5:
        return file_sha256(here)
    cached = cache_path(repo, md5)
    if cached is not None and cached.is_file():
        return file_sha256(cached)
    blob = _git_blob(repo, commit, md5)
    if blob is not None:
        return hashlib.sha256(blob).hexdigest()
    places = [
        f"the workspace's {layout.MODEL} (" + ("another model)" if here.is_file() else "absent)")
    ]
    if cached is not None:
        places.append(f"the DVC cache ({cached})")
    raise DataError(
        f"{layout.MODEL} at {ref} ({commit[:12]}): dvc.lock records md5 {md5}, and this "
        f"workspace holds that model nowhere: not {', not '.join(places)}, not git. It was "
        "built on another machine (or its cache was cleared): a version registered now could "
        f"not be served here (`gitml serve --stage prod` would fail). {_WHAT_TO_DO}"
    )


def judged_sha256(repo: Path, commit: str, ref: str) -> str:
    """sha256 of the workspace model, the one the gate judges when `commit` is checked out.

    It must be in the DVC cache (a repo that uses DVC), and the model the commit's dvc.lock
    names must be here too: they differ only when CI's rebuild ended in other last bits
    (another CPU), a difference the reproduction check records.
    """
    path = repo / layout.MODEL
    if not path.is_file():
        raise DataError(
            f"{layout.MODEL}: not in the workspace; run `dvc repro --force` (or `dvc pull`) "
            "so that the model the gate judges is the one whose sha256 is recorded"
        )
    md5 = _md5(path)
    cached = cache_path(repo, md5)
    if cached is not None and not cached.is_file():
        raise DataError(
            f"{layout.MODEL} in the workspace (md5 {md5}) is not in the DVC cache (expected at "
            f"{cached}): `dvc push` could not publish it and a registered version could not be "
            f"served from it. `dvc commit {layout.MODEL}` (or `dvc repro`) caches it"
        )
    try:
        committed_sha256(repo, commit, ref)
    except DataError:
        _refuse_an_uncommitted_build(repo, commit, ref, md5)
        raise
    return file_sha256(path)


def _refuse_an_uncommitted_build(repo: Path, commit: str, ref: str, md5: str) -> None:
    """The commit's model is nowhere here, and the workspace's own dvc.lock names the model
    built here: the user ran `dvc repro` and did not commit it (a template's dvc.lock still
    names the template's model). Say that, rather than "built on another machine"."""
    lock = repo / "dvc.lock"
    if not lock.is_file() or lock_md5(lock.read_bytes(), layout.MODEL) != md5:
        return
    raise DataError(
        f"{layout.MODEL}: the workspace's dvc.lock names the model built here (md5 {md5}), but "
        f"dvc.lock at {ref} ({commit[:12]}) names another, which this workspace does not hold: "
        "the outputs of your last `dvc repro` are not committed. A version is a commit, so "
        "commit them (`git status` lists dvc.lock and the reports; `git add` them, `git "
        "commit`), then promote again"
    )


def recorded_identity(repo: Path, version: str) -> Identity:
    """The identity `gitml promote` wrote in the message of the tag `model@VERSION`."""
    tag = f"{registry.ARTIFACT}@{registry.normalise_version(version)}"
    message = git(repo, "for-each-ref", "--format=%(contents)", f"refs/tags/{tag}", check=False)
    sha = next(
        (
            line[len(SHA256_LABEL) :].strip()
            for line in message.splitlines()
            if line.startswith(SHA256_LABEL)
        ),
        None,
    )
    meta = METADATA_MD5.search(message)
    return Identity(sha or None, meta.group(1) if meta else None)


def version_with_sha256(repo: Path, sha256: str) -> str | None:
    """The newest registered version whose tag records this model sha256, if any: a model
    file served by path (`gitml serve --model FILE`, deploy's smoke test) is that version."""
    names = git(
        repo, "for-each-ref", "--sort=-creatordate", "--format=%(refname:strip=2)",
        f"refs/tags/{registry.ARTIFACT}@*", check=False,
    )  # fmt: skip
    for tag in names.split():
        version = tag.split("@", 1)[1]
        if recorded_identity(repo, version).sha256 == sha256:
            return version
    return None


# What the server answers depends on the model file AND its metadata: the threshold, the
# calibration, the features and schema live in model.json. A candidate is "the same as prod"
# only when every one of these files is byte-identical.
IDENTITY = (layout.MODEL, layout.MODEL_META)


def model_identity(repo: Path, commit: str) -> dict[str, str | None] | None:
    """path -> md5 (dvc.lock at `commit`) of every file that changes predictions; None when
    the model's own md5 is unknown (no dvc.lock): identity unknown, let the gate decide."""
    try:
        found = {p.as_posix(): locked_md5(repo, commit, p) for p in IDENTITY}
    except DataError:
        return None
    return found if found[layout.MODEL.as_posix()] else None


def same_as_prod(
    repo: Path,
    prod: registry.ModelVersion,
    sha256: str | None,
    identity: dict[str, str | None],
) -> str | None:
    """How the candidate is prod's model (for the note), or None when it is not.

    By the identity prod's tag records (model sha256, metadata md5); a prod tag without a
    sha256 (registered by hand, or by an older gitml) is compared by dvc.lock's md5s."""
    recorded = recorded_identity(repo, prod.version)
    if recorded.sha256 is None or sha256 is None:
        if identity != model_identity(repo, prod.commit):
            return None
        return ", ".join(f"{p} md5 {m}" for p, m in identity.items())
    meta = identity.get(layout.MODEL_META.as_posix())
    prod_meta = recorded.metadata_md5 or (model_identity(repo, prod.commit) or {}).get(
        layout.MODEL_META.as_posix()
    )
    if sha256 != recorded.sha256 or meta != prod_meta:
        return None
    return f"model sha256 {sha256} as recorded in prod's tag, {layout.MODEL_META} md5 {meta}"
