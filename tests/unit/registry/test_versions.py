"""registry.versions: the GTO tags read as a registry (versions, stages, SemVer order)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitml.errors import DataError
from gitml.registry import versions
from tests.helpers import run
from tests.unit.registry.gitrepo import commit, init_repo

DVC_YAML = "artifacts:\n  model:\n    path: models/model.skops\n    type: model\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = init_repo(tmp_path / "repo")
    commit(path, {"dvc.yaml": DVC_YAML, "models/model.skops": b"m0"}, "first")
    return path


def _register(repo: Path, version: str, message: str = "") -> str:
    from gto import api

    sha = commit(repo, {"models/model.skops": version.encode()}, f"train {version}")
    api.register(str(repo), "model", sha, version=version, message=message or f"reg {version}")
    return sha


@pytest.mark.parametrize(
    ("given", "tag"), [("1.2.0", "v1.2.0"), ("v1.2.0", "v1.2.0"), ("0.10.3", "v0.10.3")]
)
def test_normalise_version(given: str, tag: str) -> None:
    assert versions.normalise_version(given) == tag


def test_an_empty_registry(repo: Path) -> None:
    assert versions.find_stage(repo) is None
    assert versions.list_versions(repo) == []
    with pytest.raises(DataError, match=r"^no registered version model@v1\.0\.0 \(see `gitml"):
        versions.find_version(repo, "1.0.0")


def test_versions_are_listed_by_semver_not_by_name_or_date(repo: Path) -> None:
    from gto import api

    first = _register(repo, "v0.10.0", "REFUSE? no: PROMOTE: roc_auc 0.9")
    _register(repo, "v0.9.0")  # registered later, lower version
    _register(repo, "v0.2.0")
    api.assign(str(repo), "model", stage="prod", version="v0.10.0", message="to prod")

    listed = versions.list_versions(repo)
    assert [v.version for v in listed] == ["v0.10.0", "v0.9.0", "v0.2.0"]
    top = listed[0]
    assert (top.commit, top.stages, top.ever_in) == (first, ("prod",), ("prod",))
    assert top.message == "REFUSE? no: PROMOTE: roc_auc 0.9"
    assert listed[1].stages == () and listed[1].ever_in == ()

    prod = versions.find_stage(repo)
    assert prod == versions.ModelVersion("model", "v0.10.0", first, "prod")
    assert versions.find_stage(repo, "staging") is None
    assert versions.find_version(repo, "0.10.0") == versions.ModelVersion("model", "v0.10.0", first)


def test_a_version_that_left_prod_keeps_it_in_ever_in(repo: Path) -> None:
    from gto import api

    _register(repo, "v0.1.0")
    api.assign(str(repo), "model", stage="prod", version="v0.1.0", message="in")
    versions.wait_past_last_tag(repo)  # GTO orders one version's events by their tag second
    api.unassign(str(repo), "model", stage="prod", version="v0.1.0", message="out")
    (v,) = versions.list_versions(repo)
    assert (v.stages, v.ever_in) == ((), ("prod",))
    assert versions.find_stage(repo) is None


def test_deregistered_versions_are_not_listed(repo: Path) -> None:
    from gto import api

    _register(repo, "v0.1.0")
    _register(repo, "v0.2.0")
    versions.wait_past_last_tag(repo)
    api.deregister(str(repo), "model", version="v0.2.0", message="withdrawn")
    assert [v.version for v in versions.list_versions(repo)] == ["v0.1.0"]


def test_wait_past_last_tag_sleeps_only_into_the_next_second(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(versions.time, "sleep", slept.append)
    versions.wait_past_last_tag(repo)  # no tag: nothing to wait for
    assert slept == []

    run(["git", "tag", "-a", "model@v0.1.0", "-m", "x"], repo)
    stamp = int(run(["git", "tag", "-l", "--format=%(taggerdate:unix)"], repo).stdout)
    monkeypatch.setattr(versions.time, "time", lambda: stamp + 0.25)
    versions.wait_past_last_tag(repo)
    assert slept == [pytest.approx(0.75)]
    monkeypatch.setattr(versions.time, "time", lambda: stamp + 1.0)
    versions.wait_past_last_tag(repo)  # already the next second
    assert slept == [pytest.approx(0.75)]

    # only this artifact's tags count
    monkeypatch.setattr(versions.time, "time", lambda: stamp + 0.5)
    versions.wait_past_last_tag(repo, artifact="other")
    assert len(slept) == 1
