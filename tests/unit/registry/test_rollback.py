"""registry.rollback: which version "previous" means, the tag message, and all-or-nothing tags.

The registry (GTO) and the tag writer are replaced by fakes here; tests/e2e/registry runs the
whole `gitml rollback` against real tags."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from gitml.errors import ConfigError, DataError
from gitml.registry import rollback
from gitml.registry import versions as registry
from gitml.registry.versions import ModelVersion, VersionInfo

WHEN = datetime(2026, 1, 1, tzinfo=UTC)
REPO = Path("repo")


def v(version: str, *, now: bool = False, before: bool = False) -> VersionInfo:
    ever = ("prod",) if now or before else ()
    return VersionInfo(version, f"sha-{version}", WHEN, "", ("prod",) if now else (), ever)


# newest first, as list_versions returns them; v0.10.0 is above v0.9.0 (SemVer, not text)
HISTORY = [
    v("v0.11.0"),  # registered, never in prod
    v("v0.10.0", now=True),
    v("v0.9.0"),  # never in prod: skipped
    v("v0.8.0", before=True),
    v("v0.2.0", before=True),
]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """Prod at v0.10.0 over HISTORY; the tags rollback would make, recorded, not written."""
    made: list[tuple[str, str, str]] = []

    def prod_tag(repo: Path, action: str, version: str, message: str) -> str:
        made.append((action, version, message))
        return f"model#prod{'!' if action == 'unassign' else ''}#{len(made)}"

    def find_version(repo: Path, version: str) -> ModelVersion:
        name = registry.normalise_version(version)
        if name not in {x.version for x in HISTORY}:
            raise DataError(f"no registered version model@{name} (see `gitml registry`)")
        return ModelVersion("model", name, f"sha-{name}")

    monkeypatch.setattr(registry, "list_versions", lambda repo: HISTORY)
    monkeypatch.setattr(
        registry, "find_stage", lambda repo: ModelVersion("model", "v0.10.0", "sha", "prod")
    )
    monkeypatch.setattr(registry, "find_version", find_version)
    monkeypatch.setattr(registry, "wait_past_last_tag", lambda repo: None)
    monkeypatch.setattr(rollback, "prod_tag", prod_tag)
    return made


def test_previous_is_the_newest_older_version_that_was_in_prod(fake: list[object]) -> None:
    assert rollback.previous_version(REPO, "v0.10.0") == "v0.8.0"
    assert rollback.previous_version(REPO, "v0.8.0") == "v0.2.0"
    assert rollback.previous_version(REPO, "v0.9.0") == "v0.8.0"
    with pytest.raises(DataError) as caught:
        rollback.previous_version(REPO, "v0.2.0")
    assert str(caught.value) == (
        "no version older than v0.2.0 was ever in prod; name one with --to (see `gitml registry`)"
    )


def test_rollback_to_the_previous_version(fake: list[tuple[str, str, str]]) -> None:
    result = rollback.rollback(REPO, reason="  latency regression  ")
    assert result == rollback.RollbackResult(
        "v0.10.0", "v0.8.0", ["model#prod!#1", "model#prod#2"], False, "latency regression"
    )
    message = "rollback: prod model@v0.10.0 -> v0.8.0\n\nreason: latency regression"
    assert fake == [("unassign", "v0.10.0", message), ("assign", "v0.8.0", message)]


def test_rollback_to_a_named_version_without_a_reason(fake: list[tuple[str, str, str]]) -> None:
    result = rollback.rollback(REPO, "0.11.0")  # a version never in prod may be named
    assert (result.to_version, result.reason) == ("v0.11.0", "no reason given")
    assert fake[1][2].endswith("reason: no reason given")


@pytest.mark.parametrize(
    ("to", "error"),
    [
        ("v0.10.0", r"^model@v0\.10\.0 is already in prod$"),
        ("v9.9.9", r"^no registered version model@v9\.9\.9"),
    ],
)
def test_rollback_errors_make_no_tag(fake: list[tuple[str, str, str]], to: str, error: str) -> None:
    with pytest.raises(DataError, match=error):
        rollback.rollback(REPO, to)
    assert fake == []


def test_nothing_in_prod(fake: list[object], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "find_stage", lambda repo: None)
    with pytest.raises(DataError, match="nothing is in prod yet, so there is nothing to roll back"):
        rollback.rollback(REPO)


def test_push_needs_a_remote_before_anything(
    fake: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_remote(repo: Path) -> None:
        raise ConfigError("--push needs a git remote named 'origin'")

    monkeypatch.setattr(rollback, "require_remote", no_remote)
    with pytest.raises(ConfigError):
        rollback.rollback(REPO, push=True)
    assert fake == []


def test_a_failed_step_takes_back_the_tags_already_made(
    fake: list[tuple[str, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    deleted: list[list[str]] = []
    monkeypatch.setattr(rollback, "require_remote", lambda repo: None)
    monkeypatch.setattr(rollback, "delete_tags", lambda repo, tags: deleted.append(list(tags)))

    def push_fails(repo: Path, tags: list[str], dvc_push: bool) -> None:
        assert dvc_push is False  # a rollback moves tags only: the model is on the remote
        raise DataError("pushing the tags failed")

    monkeypatch.setattr(rollback, "publish", push_fails)
    with pytest.raises(DataError, match="pushing the tags failed"):
        rollback.rollback(REPO, push=True)
    assert deleted == [["model#prod!#1", "model#prod#2"]]

    # the assign fails after the unassign was made: the unassign goes too
    deleted.clear()
    fake.clear()

    def assign_fails(repo: Path, action: str, version: str, message: str) -> str:
        if action == "assign":
            raise DataError("assigning prod: boom")
        return "model#prod!#1"

    monkeypatch.setattr(rollback, "prod_tag", assign_fails)
    with pytest.raises(DataError, match="boom"):
        rollback.rollback(REPO)
    assert deleted == [["model#prod!#1"]]
