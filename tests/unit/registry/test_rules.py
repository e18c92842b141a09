"""registry.rules: which `promotion:` a candidate is judged by (never its own, when there is a
base), read from params.yaml as committed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gitml.config import PromotionConfig
from gitml.errors import ConfigError, DataError
from gitml.registry import rules
from gitml.registry import versions as registry
from tests.unit.registry.gitrepo import commit, init_repo


def params(**promotion: object) -> str:
    return yaml.safe_dump({"promotion": promotion})


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # no prod unless a test says so (the GTO lookup itself is tested in test_versions.py)
    monkeypatch.setattr(registry, "find_stage", lambda repo: None)
    return init_repo(tmp_path / "repo")


def test_promotion_at_a_revision(repo: Path) -> None:
    sha = commit(repo, {"params.yaml": params(max_drop=0.01, slice_min_rows=7)})
    cfg = rules._promotion_at(repo, sha)
    assert cfg == PromotionConfig(max_drop=0.01, slice_min_rows=7)
    # a params.yaml without `promotion:` (or with it null) means the defaults
    bare = commit(repo, {"params.yaml": "data: {}\n"})
    assert rules._promotion_at(repo, bare) == PromotionConfig()
    null = commit(repo, {"params.yaml": "promotion:\n"})
    assert rules._promotion_at(repo, null) == PromotionConfig()
    # no params.yaml at all: None (not an error: the caller looks elsewhere)
    (repo / "params.yaml").unlink()
    gone = commit(repo, {})
    assert rules._promotion_at(repo, gone) is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (params(max_drop=2), "promotion.max_drop = 2"),
        (params(min_gain=0.1), "promotion.min_gain = 0.1"),
        ("promotion: [1, 2]\n", "promotion = [1, 2]"),
        ("- a list\n", "the top level must be a mapping, not list"),
        (
            "data: {task: regression}\npromotion: {floors: {recall: 0.5}}\n",
            "promotion.floors.recall: 'recall' is not a metric of a regression model",
        ),
        ("promotion: {max_drop: [\n", "ParserError"),
    ],
)
def test_invalid_rules_at_a_revision_say_where_and_how_to_go_on(
    repo: Path, text: str, kind: str
) -> None:
    sha = commit(repo, {"params.yaml": text})
    with pytest.raises(ConfigError) as caught:
        rules._promotion_at(repo, sha)
    message = str(caught.value)
    assert message.startswith(
        f"params.yaml at {sha[:12]}: its `promotion:` section is not valid for this gitml ({kind}"
    )
    assert message.endswith("promote with explicit rules (`gitml promote --params FILE`)")
    assert "\n" not in message  # one line, whatever pydantic's report looks like


def test_invalid_rules_at_a_revision_name_the_key(repo: Path) -> None:
    sha = commit(repo, {"params.yaml": params(max_drop=2)})
    with pytest.raises(ConfigError, match=r"promotion\.max_drop = 2: .*between -1 and 1"):
        rules._promotion_at(repo, sha)


def test_a_first_commit_with_no_prod_is_judged_by_its_own_rules(repo: Path) -> None:
    sha = commit(repo, {"params.yaml": params(max_drop=0.05)})
    got = rules.rules_for(repo, sha)
    assert got == rules.GateRules(
        PromotionConfig(max_drop=0.05),
        "candidate",
        sha,
        False,
        "first version: its own rules apply",
    )


def test_a_candidate_is_judged_by_its_first_parent(repo: Path) -> None:
    base = commit(repo, {"params.yaml": params(max_drop=0.0)})
    same = commit(repo, {"README": "docs only"})
    got = rules.rules_for(repo, same)
    assert (got.source, got.commit, got.cfg.max_drop) == ("first parent", base, 0.0)
    assert (got.candidate_changes, got.note) == (False, "")

    loosened = commit(repo, {"params.yaml": params(max_drop=0.2)}, "loosen the gate")
    got = rules.rules_for(repo, loosened)
    assert (got.source, got.commit, got.cfg.max_drop) == ("first parent", same, 0.0)
    assert got.candidate_changes is True
    assert got.note == (
        f"this commit changes `promotion:`; it is judged by the rules of its first parent "
        f"({same[:12]}), and the new rules apply from the next merge on"
    )
    # the candidate may even drop params.yaml: the parent's rules still apply, no change noted
    (repo / "params.yaml").unlink()
    removed = commit(repo, {})
    got = rules.rules_for(repo, removed)
    assert (got.source, got.cfg.max_drop, got.candidate_changes) == ("first parent", 0.2, False)


def test_without_rules_in_the_parent_prods_commit_decides(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prod_commit = commit(repo, {"params.yaml": params(max_drop=0.03)})
    (repo / "params.yaml").unlink()
    parent = commit(repo, {"README": "no params here"})
    candidate = commit(repo, {"params.yaml": params(max_drop=0.5)})
    prod = registry.ModelVersion("model", "v0.1.0", prod_commit, "prod")
    monkeypatch.setattr(registry, "find_stage", lambda repo: prod)
    got = rules.rules_for(repo, candidate)
    assert (got.source, got.commit, got.cfg.max_drop) == ("prod", prod_commit, 0.03)
    assert got.candidate_changes and f"rules of its prod ({prod_commit[:12]})" in got.note
    assert parent != prod_commit


def test_no_rules_anywhere_is_a_data_error(repo: Path) -> None:
    sha = commit(repo, {"README": "x"})
    with pytest.raises(DataError) as caught:
        rules.rules_for(repo, sha)
    assert str(caught.value) == (
        f"no params.yaml at {sha[:12]}, its first parent or prod's commit: "
        "there are no `promotion:` rules to judge it by"
    )


def test_a_broken_base_is_not_skipped_for_the_candidates_own_rules(repo: Path) -> None:
    commit(repo, {"params.yaml": params(max_drop=5)})  # invalid on main
    fixed = commit(repo, {"params.yaml": params(max_drop=0.0)})
    with pytest.raises(ConfigError, match=r"promotion:` section is not valid"):
        rules.rules_for(repo, fixed)


def test_a_commit_that_changes_the_task_is_judged_by_its_own_rules(repo: Path) -> None:
    """A new user's first own table changes data.task (the template is binary): the base's rules
    name a binary model's metrics, and the merge's promotion failed on 'no roc_auc' (the walk),
    with no way to pass. Its own rules apply, and the note says why."""
    commit(repo, {"params.yaml": params(max_drop=0.01)})  # the template: binary
    own = yaml.safe_dump({"data": {"task": "multiclass"}, "promotion": {"max_drop": 0.02}})
    sha = commit(repo, {"params.yaml": own})
    found = rules.rules_for(repo, sha)
    assert found.source == "candidate" and found.commit == sha
    assert found.cfg.primary_metric == "roc_auc_ovr" and found.cfg.max_drop == 0.02
    assert "data.task changed from binary to multiclass" in found.note
    # the same task on both sides: the base's rules, as before
    again = commit(repo, {"params.yaml": own.replace("0.02", "0.5")})
    assert rules.rules_for(repo, again).source == "first parent"
