"""registry.servable: which model a commit names, where the workspace holds it, the identity a
version's tag records, and "the same as prod". Tiny git repositories without DVC (no .dvc/: no
cache to look in); tests/e2e/registry/test_promote_servable.py runs promote with DVC."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from gitml import layout
from gitml.errors import DataError
from gitml.registry import servable
from gitml.registry.versions import ModelVersion
from tests.helpers import run
from tests.unit.registry.gitrepo import commit, init_repo

MODEL = layout.MODEL.as_posix()
META = layout.MODEL_META.as_posix()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def lock(model: bytes, meta: bytes = b"{}") -> str:
    return (
        "schema: '2.0'\nstages:\n  train:\n    outs:\n"
        f"    - path: {MODEL}\n      md5: {md5(model)}\n"
        f"    - path: {META}\n      md5: {md5(meta)}\n"
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return init_repo(tmp_path / "repo")


def test_the_committed_model_is_found_in_the_workspace(repo: Path) -> None:
    sha = commit(repo, {"dvc.lock": lock(b"model-1")})
    (repo / MODEL).parent.mkdir(parents=True)
    (repo / MODEL).write_bytes(b"model-1")
    assert servable.committed_sha256(repo, sha, "HEAD") == hashlib.sha256(b"model-1").hexdigest()


def test_a_model_kept_in_git_is_found_there(repo: Path) -> None:
    sha = commit(repo, {"dvc.lock": lock(b"model-1"), MODEL: b"model-1"})
    (repo / MODEL).write_bytes(b"another model")  # the workspace moved on
    assert servable.committed_sha256(repo, sha, "HEAD") == hashlib.sha256(b"model-1").hexdigest()


def test_a_model_held_nowhere_here_is_an_error_naming_where_it_looked(repo: Path) -> None:
    sha = commit(repo, {"dvc.lock": lock(b"built elsewhere")})
    (repo / MODEL).parent.mkdir(parents=True)
    (repo / MODEL).write_bytes(b"model-1")
    with pytest.raises(DataError, match="holds that model nowhere") as info:
        servable.committed_sha256(repo, sha, "v0.2.0")
    assert "(another model)" in str(info.value) and "dvc pull" in str(info.value)
    assert md5(b"built elsewhere") in str(info.value)


def test_no_dvc_lock_means_identity_unknown(repo: Path) -> None:
    sha = commit(repo, {"README.md": "no pipeline yet"})
    assert servable.committed_sha256(repo, sha, "HEAD") is None
    assert servable.model_identity(repo, sha) is None


def test_an_uncommitted_repro_is_named_as_such(repo: Path) -> None:
    """HEAD's dvc.lock names another model; the workspace's dvc.lock names the one built
    here: the user did not commit `dvc repro`'s outputs (not "another machine")."""
    sha = commit(repo, {"dvc.lock": lock(b"template model")})
    (repo / MODEL).parent.mkdir(parents=True)
    (repo / MODEL).write_bytes(b"built here")
    (repo / "dvc.lock").write_text(lock(b"built here"))
    with pytest.raises(DataError, match="your last `dvc repro` are not committed"):
        servable.judged_sha256(repo, sha, "HEAD")
    run(["git", "commit", "-qam", "repro"], repo)
    head = run(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    assert servable.judged_sha256(repo, head, "HEAD") == hashlib.sha256(b"built here").hexdigest()


def tag(repo: Path, version: str, sha256: str | None, meta_md5: str | None) -> None:
    lines = ["Registered by gitml promote"]
    if sha256:
        lines.append(f"model sha256: {sha256}")
    if meta_md5:
        lines.append(f"metadata md5 {meta_md5}")
    run(["git", "tag", "-a", f"model@{version}", "-m", "\n".join(lines)], repo)


def test_the_identity_a_tag_records_and_the_version_of_a_sha256(repo: Path) -> None:
    commit(repo, {"dvc.lock": lock(b"m1")})
    tag(repo, "v0.1.0", "a" * 64, "b" * 32)
    commit(repo, {"README.md": "x"})
    tag(repo, "v0.2.0", None, None)  # registered by hand: no identity
    assert servable.recorded_identity(repo, "0.1.0") == servable.Identity("a" * 64, "b" * 32)
    assert servable.recorded_identity(repo, "v0.2.0") == servable.Identity(None, None)
    assert servable.version_with_sha256(repo, "a" * 64) == "v0.1.0"
    assert servable.version_with_sha256(repo, "c" * 64) is None


def test_same_as_prod_by_the_tag_s_identity_else_by_dvc_lock(repo: Path) -> None:
    sha = commit(repo, {"dvc.lock": lock(b"m1", b"meta-1")})
    tag(repo, "v0.1.0", "a" * 64, md5(b"meta-1"))
    prod = ModelVersion("model", "v0.1.0", sha, "prod")
    identity = servable.model_identity(repo, sha)
    assert identity == {MODEL: md5(b"m1"), META: md5(b"meta-1")}
    said = servable.same_as_prod(repo, prod, "a" * 64, identity)
    assert said is not None and "as recorded in prod's tag" in said
    assert servable.same_as_prod(repo, prod, "f" * 64, identity) is None  # another model
    other_meta = {**identity, META: md5(b"meta-2")}  # same model, another threshold
    assert servable.same_as_prod(repo, prod, "a" * 64, other_meta) is None
    # a prod tag without a sha256: dvc.lock's md5s at prod's commit decide
    run(["git", "tag", "-d", "model@v0.1.0"], repo)
    tag(repo, "v0.1.0", None, None)
    assert servable.same_as_prod(repo, prod, "a" * 64, identity) is not None
    assert servable.same_as_prod(repo, prod, "a" * 64, other_meta) is None
