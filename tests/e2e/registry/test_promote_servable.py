"""`gitml promote` registers only what this workspace can serve, by the identity tags record
(issue 25): a commit whose model was never built here is an error naming where it was looked
for, and the model prod's tag names is not registered a second time.

Hand-made evaluations in throw-away repos (test_promote.py's fixtures); here the repo uses
DVC, and the model is kept out of git, as in a real project.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from gitml.errors import DataError
from gitml.registry import promote, servable
from gitml.registry.tags import recorded_sha256
from tests.e2e.registry import test_promote
from tests.e2e.registry.test_promote import CFG, commit_eval, metrics, slices, tags
from tests.helpers import run

repo = test_promote.repo  # the fixture: a git repo with this project's artifacts and params

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("promotion")]


def cache(repo: Path, blob: bytes) -> Path:
    """Put `blob` in the repo's DVC cache, as `dvc repro` does with a model it built."""
    path = servable.cache_path(repo, hashlib.md5(blob).hexdigest())
    assert path is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob)
    return path


def commit_lock_only(repo: Path, model: bytes, msg: str) -> str:
    """A commit whose dvc.lock names `model` while the file itself is not in git (DVC keeps it):
    what a pull of a commit built on another machine brings."""
    commit_eval(repo, metrics(0.90), slices(), model=model, msg=msg)
    run(["git", "rm", "-q", "--cached", "models/model.skops"], repo)
    (repo / ".gitignore").write_text("/models/model.skops\n")
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "--amend", "--no-edit"], repo)
    return run(["git", "rev-parse", "HEAD"], repo).stdout.strip()


def test_a_commit_whose_model_was_never_built_here_is_an_error_naming_where(repo: Path) -> None:
    run(["dvc", "init", "-q"], repo)
    run(["git", "commit", "-qm", "dvc"], repo)
    elsewhere = b"the model built on a teammate's machine"
    commit_lock_only(repo, elsewhere, "built elsewhere")
    (repo / "README.md").write_text("docs\n")
    run(["git", "add", "README.md"], repo)
    run(["git", "commit", "-qm", "docs"], repo)
    mine = b"the model this workspace built earlier"
    (repo / "models/model.skops").write_bytes(mine)
    cache(repo, mine)
    before = tags(repo)
    missing = servable.cache_path(repo, hashlib.md5(elsewhere).hexdigest())
    for ref in ("HEAD", "HEAD~1"):  # reproduced here, and judged as committed
        with pytest.raises(DataError) as info:
            promote.promote(repo, CFG, ref=ref)
        message = str(info.value)
        assert f"dvc.lock records md5 {hashlib.md5(elsewhere).hexdigest()}" in message
        assert f"not the DVC cache ({missing})" in message and "another model" in message
        assert "`dvc pull`" in message and "`dvc repro`" in message
    assert tags(repo) == before  # nothing registered
    # once fetched (here: cached), it is found and its own sha256 is recorded
    cache(repo, elsewhere)
    result = promote.promote(repo, CFG, ref="HEAD~1")
    assert result.outcome == "promoted"
    assert recorded_sha256(repo, "v0.1.0") == hashlib.sha256(elsewhere).hexdigest()


def test_a_repro_left_uncommitted_is_named_as_such(repo: Path) -> None:
    """A new user's order: `gitml init`, `dvc repro`, `gitml promote` without committing the
    outputs. HEAD's dvc.lock still names the template's model, which is nowhere here; the
    workspace's dvc.lock names the one just built. "Built on another machine" would mislead."""
    run(["dvc", "init", "-q"], repo)
    template = b"the template's model, built where the template was made"
    commit_lock_only(repo, template, "template")
    mine = b"the model dvc repro just built here"
    (repo / "models/model.skops").write_bytes(mine)
    cache(repo, mine)
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    for stage in lock["stages"].values():
        for out in stage.get("outs") or []:
            if out["path"] == "models/model.skops":
                out["md5"] = hashlib.md5(mine).hexdigest()  # what dvc repro wrote, uncommitted
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock))
    before = tags(repo)
    with pytest.raises(DataError) as info:
        promote.promote(repo, CFG)
    message = str(info.value)
    assert "the outputs of your last `dvc repro` are not committed" in message
    assert f"names the model built here (md5 {hashlib.md5(mine).hexdigest()})" in message
    assert "another machine" not in message
    assert tags(repo) == before


def test_the_judged_model_must_be_in_the_dvc_cache(repo: Path) -> None:
    run(["dvc", "init", "-q"], repo)
    blob = b"copied in by hand"
    commit_lock_only(repo, blob, "train")
    (repo / "models/model.skops").write_bytes(blob)  # the right bytes, never cached
    with pytest.raises(DataError, match=r"is not in the DVC cache \(expected at .*`dvc commit"):
        promote.promote(repo, CFG)
    cache(repo, blob)
    assert promote.promote(repo, CFG).outcome == "promoted"


def test_the_model_prod_s_tag_names_is_not_registered_twice(repo: Path) -> None:
    """v0.1.0's tag records the runner's model (another CPU: dvc.lock at its commit names the
    committer's); a later commit whose dvc.lock names the runner's model is the same model."""
    commit_eval(repo, metrics(0.90), slices(), model=b"the committer's model")
    runner = b"the runner's model"
    (repo / "models/model.skops").write_bytes(runner)  # CI's `dvc repro --force`
    assert promote.promote(repo, CFG).outcome == "promoted"
    assert recorded_sha256(repo, "v0.1.0") == hashlib.sha256(runner).hexdigest()
    commit_eval(repo, metrics(0.90), slices(), model=runner, msg="dvc.lock from the runner")
    result = promote.promote(repo, CFG)
    assert (result.outcome, result.version) == ("unchanged", None)
    assert f"model sha256 {hashlib.sha256(runner).hexdigest()}" in result.note
    assert json.loads((repo / "reports/promotion.json").read_text())["outcome"] == "unchanged"
    assert [t for t in tags(repo) if t.startswith("model@")] == ["model@v0.1.0"]
    # a new model is a new candidate
    commit_eval(repo, metrics(0.91), slices(), model=b"a new model", msg="retrain")
    assert promote.promote(repo, CFG).version == "v0.2.0"
    # a file served by path answers as the version whose tag records it (deploy's smoke test)
    new = hashlib.sha256(b"a new model").hexdigest()
    assert servable.version_with_sha256(repo, new) == "v0.2.0"
    assert servable.version_with_sha256(repo, hashlib.sha256(runner).hexdigest()) == "v0.1.0"
    assert servable.version_with_sha256(repo, "0" * 64) is None


def test_a_prod_tag_without_a_sha256_is_compared_by_dvc_lock(repo: Path) -> None:
    commit_eval(repo, metrics(0.90), slices(), model=b"the model")
    run(["gto", "register", "model", "HEAD", "--version", "v0.1.0"], repo)
    run(["gto", "assign", "model", "--version", "v0.1.0", "--stage", "prod"], repo)
    assert servable.recorded_identity(repo, "v0.1.0") == servable.Identity(None, None)
    (repo / "README.md").write_text("docs\n")
    commit_eval(repo, metrics(0.90), slices(), model=b"the model", msg="docs")
    assert promote.promote(repo, CFG).outcome == "unchanged"
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert lock["stages"]["train"]["outs"][0]["md5"] == hashlib.md5(b"the model").hexdigest()
