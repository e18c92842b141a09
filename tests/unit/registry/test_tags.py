"""registry.tags: the tag messages that carry a decision, the recorded sha256, and publishing
tags all-or-nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitml.errors import ConfigError, DataError
from gitml.registry import tags
from gitml.registry.gate import GateDecision, RuleResult
from tests.helpers import run
from tests.unit.registry.gitrepo import commit, init_repo
from tests.unit.registry.gitrepo import tags as tag_list

SHA = "0123456789abcdef" * 4


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = init_repo(tmp_path / "repo")
    commit(path, {"README": "x"}, "first")
    return path


def _annotated(repo: Path, name: str, message: str) -> None:
    run(["git", "tag", "-a", name, "-m", message], repo)


# --------------------------------------------------------------------------- messages


def test_tag_message_lists_each_rule_after_the_summary() -> None:
    decision = GateDecision(
        passed=False,
        rules=[
            RuleResult("floor:roc_auc", 0.91, 0.8, True, "roc_auc is 0.9100; it must be ..."),
            RuleResult("max_drop:roc_auc", 0.02, 0.0, False, "roc_auc 0.9100 vs prod 0.9300"),
        ],
        prod_version="v0.1.0",
        prod_commit="c" * 40,
        summary="REFUSE: roc_auc 0.9100 vs prod v0.1.0 0.9300 (-0.0200); 1/2 rules pass",
    )
    assert tags.tag_message("model@v0.2.0: promoted to prod", decision, "extra\nlines") == (
        "model@v0.2.0: promoted to prod\n"
        "\n"
        "REFUSE: roc_auc 0.9100 vs prod v0.1.0 0.9300 (-0.0200); 1/2 rules pass\n"
        "\n"
        "PASS floor:roc_auc: roc_auc is 0.9100; it must be ...\n"
        "FAIL max_drop:roc_auc: roc_auc 0.9100 vs prod 0.9300\n"
        "\n"
        "extra\nlines"
    )
    assert tags.tag_message("title", None) == "title"
    assert tags.tag_message("title", None, "why") == "title\n\nwhy"


def test_ref_names_tags_and_keeps_full_refs() -> None:
    assert tags._ref("model@v0.1.0") == "refs/tags/model@v0.1.0"
    assert tags._ref("refs/notes/gitml/decisions") == "refs/notes/gitml/decisions"


def test_gto_errors_become_data_errors_that_say_what_was_done() -> None:
    from gto.exceptions import GTOException

    def fails() -> None:
        raise GTOException("tag 'model@v0.1.0' already exists")

    with pytest.raises(DataError) as caught:
        tags.gto_call("registering", fails)
    assert str(caught.value).startswith("registering: tag 'model@v0.1.0' already exists. Run ")
    assert "existing tags are never overwritten" in str(caught.value)
    assert tags.gto_call("adding", lambda a, b=0: a + b, 1, b=2) == 3
    with pytest.raises(ZeroDivisionError):  # not a GTO error: not dressed up as one
        tags.gto_call("dividing", lambda: 1 / 0)


# --------------------------------------------------------------------------- sha256


def test_recorded_sha256_reads_the_tag_message(repo: Path) -> None:
    _annotated(repo, "model@v0.1.0", f"model@v0.1.0: promoted\n\ncandidate x\nmodel sha256: {SHA}")
    assert tags.recorded_sha256(repo, "v0.1.0") == SHA
    assert tags.recorded_sha256(repo, "0.1.0") == SHA  # without the v


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("model@v0.1.0: promoted\n\nno hash here", r"records no 'model sha256:' line"),
        (f"model sha256: {SHA[:-1]}", r"the tag message's 'model sha256:' line is not a sha256"),
        (f"model sha256: {SHA.upper()}", r"is not a sha256"),  # git and sha256sum write lower
    ],
)
def test_recorded_sha256_refuses_a_message_without_a_good_hash(
    repo: Path, message: str, error: str
) -> None:
    _annotated(repo, "model@v0.1.0", message)
    with pytest.raises(DataError, match=error):
        tags.recorded_sha256(repo, "v0.1.0")


def test_recorded_sha256_missing_and_lightweight_tags(repo: Path) -> None:
    with pytest.raises(DataError, match=r"^no tag model@v0\.2\.0 in .*git fetch --tags origin"):
        tags.recorded_sha256(repo, "v0.2.0")
    run(["git", "tag", "model@v0.2.0"], repo)  # what old actions/checkout leaves
    with pytest.raises(DataError, match=r"lightweight tag \(it points straight at a commit\)"):
        tags.recorded_sha256(repo, "v0.2.0")


# --------------------------------------------------------------------------- publishing


def test_require_remote_names_the_fix(repo: Path) -> None:
    with pytest.raises(ConfigError, match=r"--push needs a git remote named 'origin'") as caught:
        tags.require_remote(repo)
    assert "git remote add origin URL" in str(caught.value)
    run(["git", "remote", "add", "upstream", "/nowhere"], repo)
    with pytest.raises(ConfigError):  # another name is not origin
        tags.require_remote(repo)
    run(["git", "remote", "add", "origin", "/nowhere"], repo)
    tags.require_remote(repo)


def test_delete_tags_leaves_full_refs_alone(repo: Path) -> None:
    _annotated(repo, "model@v0.1.0", "a")
    _annotated(repo, "model#prod#1", "b")
    _annotated(repo, "keep", "c")
    tags.delete_tags(repo, ["model@v0.1.0", "model#prod#1", "refs/tags/keep", "missing"])
    assert tag_list(repo) == ["keep"]


def test_publish_pushes_all_tags_at_once(repo: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    run(["git", "init", "-q", "--bare", str(remote)], tmp_path)
    run(["git", "remote", "add", "origin", str(remote)], repo)
    _annotated(repo, "model@v0.1.0", "a")
    _annotated(repo, "model#prod#1", "b")
    tags.publish(repo, ["model@v0.1.0", "model#prod#1"], dvc_push=False)
    assert tag_list(remote) == ["model#prod#1", "model@v0.1.0"]


def test_a_failed_publish_deletes_the_local_tags(repo: Path, tmp_path: Path) -> None:
    # no remote: a usage error, and the tags made for the push are gone
    _annotated(repo, "model@v0.1.0", "a")
    with pytest.raises(ConfigError):
        tags.publish(repo, ["model@v0.1.0"], dvc_push=False)
    assert tag_list(repo) == []

    # the remote already has one of the tags (elsewhere): nothing is pushed, nothing kept
    remote = tmp_path / "remote.git"
    run(["git", "init", "-q", "--bare", str(remote)], tmp_path)
    run(["git", "remote", "add", "origin", str(remote)], repo)
    _annotated(repo, "model@v0.1.0", "theirs")
    run(["git", "push", "-q", "origin", "refs/tags/model@v0.1.0"], repo)
    run(["git", "tag", "-d", "model@v0.1.0"], repo)
    commit(repo, {"README": "y"}, "second")
    _annotated(repo, "model@v0.1.0", "ours")
    _annotated(repo, "model#prod#1", "ours")
    with pytest.raises(DataError, match=r"^pushing the tags failed \(git push --atomic origin"):
        tags.publish(repo, ["model@v0.1.0", "model#prod#1"], dvc_push=False)
    assert tag_list(repo) == []
    assert tag_list(remote) == ["model@v0.1.0"]  # the remote's own, untouched


def test_prod_tag_assigns_and_wraps_gto_errors(repo: Path) -> None:
    from gto import api

    commit(repo, {"dvc.yaml": "artifacts:\n  model:\n    path: m.bin\n"}, "artifacts")
    api.register(str(repo), "model", "HEAD", version="v0.1.0", message="reg")
    assert tags.prod_tag(repo, "assign", "v0.1.0", "go") == "model#prod#1"
    with pytest.raises(DataError, match=r"^assigning prod: "):
        tags.prod_tag(repo, "assign", "v9.9.9", "no such version")
