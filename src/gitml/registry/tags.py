"""GTO tags and their publication: the annotated tag messages that carry each decision, pushing
them (and the DVC outputs) to the remote, and taking them back when a push fails."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from gitml.errors import ConfigError, DataError, GitmlError
from gitml.io.git import git
from gitml.registry import versions as registry
from gitml.registry.gate import GateDecision

REMOTE = "origin"


SHA256_LABEL = "model sha256:"  # the line of a version's tag message that smoke-test checks
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def gto_call(action: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    from gto.exceptions import GTOException

    try:
        return fn(*args, **kwargs)
    except GTOException as exc:
        raise DataError(
            f"{action}: {exc}. Run `git fetch --tags` and `gitml registry` to see the registry; "
            "existing tags are never overwritten"
        ) from None


def tag_message(title: str, decision: GateDecision | None, extra: str = "") -> str:
    lines = [title]
    if decision is not None:
        lines += ["", decision.summary, ""]
        lines += [f"{'PASS' if r.passed else 'FAIL'} {r.name}: {r.detail}" for r in decision.rules]
    if extra:
        lines += ["", extra]
    return "\n".join(lines)


def _run_tool(repo: Path, cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True)
    if proc.returncode != 0:
        raise DataError(f"{what} failed ({' '.join(cmd)}): {proc.stderr.strip() or proc.stdout}")


def _dvc_remote_configured(repo: Path) -> bool:
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", "remote", "list"], cwd=repo, capture_output=True, text=True
    )
    return proc.returncode == 0 and bool(proc.stdout.strip())


def publish(repo: Path, tags: list[str], dvc_push: bool) -> None:
    """`dvc push` (so no tag names a model the remote lacks), then push all tags (and any full
    ref given, e.g. the decision notes) atomically.

    git itself, not GTO's push: GTO pushes tag by tag, and a half-pushed promotion (a version
    without its stage, or the reverse) must not happen. On failure the local tags are deleted,
    so the local registry matches the remote one.
    """
    try:
        require_remote(repo)
        if dvc_push and _dvc_remote_configured(repo):
            _run_tool(repo, [sys.executable, "-m", "dvc", "push"], "dvc push")
        _run_tool(
            repo,
            ["git", "push", "--atomic", REMOTE, *[_ref(t) for t in tags]],
            "pushing the tags",
        )
    except GitmlError:
        delete_tags(repo, tags)
        raise


def _ref(name: str) -> str:
    """A tag name as its ref; a full ref name (the decision notes) as it is."""
    return name if name.startswith("refs/") else f"refs/tags/{name}"


def require_remote(repo: Path) -> None:
    if REMOTE not in git(repo, "remote", check=False).split():
        raise ConfigError(
            f"--push needs a git remote named {REMOTE!r} and {repo.resolve()} has none; "
            f"add one (`git remote add {REMOTE} URL`) or leave out --push"
        )


def delete_tags(repo: Path, tags: list[str]) -> None:
    for t in tags:
        if not t.startswith("refs/"):  # a full ref pushed with the tags is not a tag
            git(repo, "tag", "-d", t, check=False)


def stage_tag(repo: Path, action: str, stage: str, version: str, message: str) -> str:
    """Assign (or unassign) `stage` to a version with an annotated GTO tag; the tag's name."""
    from gto import api

    fn = api.assign if action == "assign" else api.unassign
    return str(
        gto_call(
            f"{'assigning' if action == 'assign' else 'unassigning'} {stage}",
            fn, str(repo), registry.ARTIFACT, stage=stage, version=version, message=message,
        ).tag
    )  # fmt: skip


def prod_tag(repo: Path, action: str, version: str, message: str) -> str:
    """Assign (or unassign) stage prod to a version with a GTO tag; return the tag's name."""
    return stage_tag(repo, action, registry.PROD, version, message)


def register_into(
    repo: Path, version: str, commit: str, message: str, stage: str, leaving: str | None, why: str
) -> list[str]:
    """Register `version` at `commit` and assign it `stage`; the version `leaving` the stage (one
    holds it) is unassigned explicitly with the message `why`. The tags made, all deleted again
    when one fails (promote's prod and the canary's stage both go through here)."""
    from gto import api

    registry.wait_past_last_tag(repo)
    tags = [f"{registry.ARTIFACT}@{version}"]
    gto_call(
        "registering", api.register, str(repo), registry.ARTIFACT, commit,
        version=version, message=message,
    )  # fmt: skip
    try:
        tags.append(stage_tag(repo, "assign", stage, version, message))
        if leaving is not None:
            tags.append(stage_tag(repo, "unassign", stage, leaving, why))
    except GitmlError:
        delete_tags(repo, tags)
        raise
    return tags


def recorded_sha256(repo: Path | str, version: str) -> str:
    """The model sha256 in the message of the annotated tag `model@VERSION`."""
    tag = f"{registry.ARTIFACT}@{registry.normalise_version(version)}"
    kind = git(repo, "cat-file", "-t", f"refs/tags/{tag}", check=False)
    if not kind:
        raise DataError(
            f"no tag {tag} in {Path(repo).resolve()}: fetch the registry (`git fetch --tags "
            "origin`) or check the version (`gitml registry`)"
        )
    if kind != "tag":
        raise DataError(
            f"{tag} is a lightweight tag (it points straight at a {kind}), so it carries no "
            "message and no recorded sha256. actions/checkout before v6.0.2 rewrites annotated "
            "tags this way with fetch-depth 0: re-fetch them with `git fetch --force --tags "
            "origin`"
        )
    message = git(repo, "for-each-ref", "--format=%(contents)", f"refs/tags/{tag}")
    for line in message.splitlines():
        if line.startswith(SHA256_LABEL):
            value = line[len(SHA256_LABEL) :].strip()
            if _HEX64.match(value):
                return value
            raise DataError(f"{tag}: the tag message's {SHA256_LABEL!r} line is not a sha256")
    raise DataError(
        f"{tag}'s message records no {SHA256_LABEL!r} line: it was registered by hand or by a "
        "gitml older than the recorded sha256, so there is no hash to check the file against"
    )
