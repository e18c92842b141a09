"""registry.canary: the tags that end a canary (promote to prod or end it), all or nothing, and
when the canary was assigned. The registry and the tag writer are fakes, except for
`assigned_at`, read from real annotated tags; tests/e2e/registry/test_canary.py runs the whole
`gitml canary decide --apply` against GTO."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gitml.errors import DataError, UnavailableError
from gitml.registry import canary
from gitml.registry import versions as registry
from gitml.registry.versions import ModelVersion
from tests.helpers import tool_env
from tests.unit.registry.gitrepo import commit, init_repo

REPO = Path("repo")


@dataclass
class Fake:
    """Canary v0.3.0 over prod v0.2.0; the tags made, recorded; the tag writer fails at
    `fail_on` (action, stage)."""

    made: list[tuple[str, str, str, str]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    fail_on: tuple[str, str] | None = None
    stages: dict[str, ModelVersion] = field(
        default_factory=lambda: {
            "canary": ModelVersion("model", "v0.3.0", "sha3", "canary"),
            "prod": ModelVersion("model", "v0.2.0", "sha2", "prod"),
        }
    )

    def stage_tag(self, repo: Path, action: str, stage: str, version: str, message: str) -> str:
        if (action, stage) == self.fail_on:
            raise UnavailableError("git tag failed")
        self.made.append((action, stage, version, message))
        return f"model#{stage}{'!' if action == 'unassign' else ''}#{len(self.made)}"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Fake:
    f = Fake()
    monkeypatch.setattr(registry, "find_stage", lambda repo, stage="prod": f.stages.get(stage))
    monkeypatch.setattr(registry, "wait_past_last_tag", lambda repo: None)
    monkeypatch.setattr(canary, "stage_tag", f.stage_tag)
    monkeypatch.setattr(canary, "assigned_at", lambda repo, version: None)
    monkeypatch.setattr(canary, "delete_tags", lambda repo, names: f.deleted.extend(names))
    monkeypatch.setattr(canary, "publish", lambda repo, names, dvc_push: None)
    return f


def test_promoting_the_canary_moves_prod_and_ends_the_canary(fake: Fake) -> None:
    names = canary.promote_canary(REPO, "ROC-AUC 0.91 vs 0.90")
    assert [(a, s, v) for a, s, v, _ in fake.made] == [
        ("assign", "prod", "v0.3.0"),
        ("unassign", "prod", "v0.2.0"),  # the old prod version leaves prod
        ("unassign", "canary", "v0.3.0"),
    ]
    assert names == ["model#prod#1", "model#prod!#2", "model#canary!#3"]
    expected = "canary model@v0.3.0 promoted to prod\n\nROC-AUC 0.91 vs 0.90"
    assert {m for *_, m in fake.made} == {expected}


def test_ending_the_canary_leaves_prod_alone(fake: Fake) -> None:
    canary.end_canary(REPO, "worse on live labels")
    assert [(a, s, v) for a, s, v, _ in fake.made] == [("unassign", "canary", "v0.3.0")]
    assert fake.made[0][3] == "canary model@v0.3.0 ended; prod unchanged\n\nworse on live labels"


def test_a_failed_tag_deletes_those_made_before_it(fake: Fake) -> None:
    fake.fail_on = ("unassign", "canary")
    with pytest.raises(UnavailableError):
        canary.promote_canary(REPO, "why")
    assert fake.deleted == ["model#prod#1", "model#prod!#2"]


def test_no_canary_is_an_error_naming_how_one_is_assigned(fake: Fake) -> None:
    del fake.stages["canary"]
    with pytest.raises(DataError, match=r"promotion\.canary\.enabled"):
        canary.end_canary(REPO, "why")
    assert canary.state(REPO).canary is None and fake.made == []


def test_assigned_at_is_the_newest_assignment_of_that_commit(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    first = commit(repo, {"a": "1"})
    second = commit(repo, {"a": "2"})

    def tagged(name: str, at: str, when: int) -> None:
        env = {**tool_env(), "GIT_COMMITTER_DATE": f"{when} +0000"}
        subprocess.run(["git", "tag", "-a", name, "-m", name, at], cwd=repo, env=env, check=True)

    tagged("model#canary#1", first, 1_700_000_000)
    tagged("model#canary!#2", first, 1_700_000_500)  # an unassignment: not counted
    tagged("model#canary#3", second, 1_700_001_000)
    tagged("model#canary#4", first, 1_700_002_000)  # assigned again
    at = canary.assigned_at(repo, ModelVersion("model", "v0.1.0", first))
    assert at is not None and int(at.timestamp()) == 1_700_002_000
    at = canary.assigned_at(repo, ModelVersion("model", "v0.2.0", second))
    assert at is not None and int(at.timestamp()) == 1_700_001_000
    assert canary.assigned_at(repo, ModelVersion("model", "v0.3.0", "0" * 40)) is None
