"""Every decision is kept in git (refusals too), and the model's identity includes its
metadata: a threshold-only change is a new candidate that goes through the gate."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from gitml.registry import promote, record
from tests.e2e.registry.test_promote import CFG, commit_eval, metrics, repo, slices
from tests.helpers import run

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("promotion")]
__all__ = ["repo"]  # the fixture


def commit_model(repo: Path, threshold: float, roc_auc: float = 0.90, msg: str = "train") -> str:
    """A commit whose dvc.lock records both the model and its metadata (as train writes)."""
    blob = b"the same model bytes"
    meta = json.dumps({"family": "hgb", "threshold": threshold}).encode()
    (repo / "models").mkdir(exist_ok=True)
    (repo / "models" / "model.skops").write_bytes(blob)
    (repo / "models" / "model.json").write_bytes(meta)
    sha = commit_eval(repo, metrics(roc_auc), slices(), model=blob, msg=msg)
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    lock["stages"]["train"]["outs"].append(
        {"path": "models/model.json", "md5": hashlib.md5(meta).hexdigest()}
    )
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock))
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "--amend", "--no-edit", "--allow-empty"], repo)
    return run(["git", "rev-parse", "HEAD"], repo).stdout.strip() or sha


def test_a_threshold_only_change_is_a_new_candidate(repo: Path) -> None:
    commit_model(repo, 0.40)
    assert promote.promote(repo, CFG).outcome == "promoted"
    commit_model(repo, 0.40, msg="docs only")  # same bytes, same threshold
    assert promote.promote(repo, CFG).outcome == "unchanged"
    commit_model(repo, 0.35, msg="serve at a lower threshold")
    result = promote.promote(repo, CFG)
    assert (result.outcome, result.version) == ("promoted", "v0.2.0")
    assert result.identity is not None and set(result.identity) == {
        "models/model.skops", "models/model.json",
    }  # fmt: skip


def test_every_decision_is_a_git_note_on_its_candidate(repo: Path, tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], tmp_path)
    run(["git", "remote", "add", "origin", str(origin)], repo)
    first = commit_eval(repo, metrics(0.90), slices())
    run(["git", "push", "-q", "origin", "main"], repo)
    assert promote.promote(repo, CFG, push=True).outcome == "promoted"
    worse = commit_eval(repo, metrics(0.80), slices(), msg="a worse model")
    run(["git", "push", "-q", "origin", "main"], repo)
    refused = promote.promote(repo, CFG, push=True)
    assert refused.outcome == "refused"
    notes = {r["candidate"]["commit"]: r for r in record.read_notes(repo)}
    assert notes[first]["outcome"] == "promoted" and notes[worse]["outcome"] == "refused"
    failed = [r["name"] for r in notes[worse]["rules"] if not r["passed"]]
    assert failed and notes[worse]["prod"]["version"] == "v0.1.0"
    assert notes[worse]["decided_by"]["email"]  # who decided: the tagger of its tags
    # the refusal reached the remote: a fresh clone can answer "why is my merge not in prod?"
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(origin), str(clone)], tmp_path)
    run(["git", "fetch", "-q", "origin", f"{record.NOTES_REF}:{record.NOTES_REF}"], clone)
    assert {r["outcome"] for r in record.read_notes(clone)} == {"promoted", "refused"}
    # a re-run adds a line to the same note
    promote.promote(repo, CFG)
    note = run(["git", "notes", f"--ref={record.NOTES_REF}", "show", worse], repo).stdout
    assert [json.loads(x)["outcome"] for x in note.splitlines() if x] == ["refused", "refused"]


def test_local_decisions_are_merged_with_the_remote_ones(repo: Path, tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], tmp_path)
    run(["git", "remote", "add", "origin", str(origin)], repo)
    commit_eval(repo, metrics(0.90), slices())
    run(["git", "push", "-q", "origin", "main"], repo)
    assert promote.promote(repo, CFG, push=True).outcome == "promoted"
    # another clone refuses a candidate and pushes that note
    other = tmp_path / "other"
    run(["git", "clone", "-q", str(origin), str(other)], tmp_path)
    commit_eval(other, metrics(0.80), slices(), msg="worse, elsewhere")
    run(["git", "push", "-q", "origin", "main"], other)
    assert promote.promote(other, CFG, push=True).outcome == "refused"
    # this clone decided something locally, without --push: the note histories diverged
    run(["git", "pull", "-q", "--no-rebase", "origin", "main"], repo)
    commit_eval(repo, metrics(0.70), slices(), msg="worse, here")
    assert promote.promote(repo, CFG).outcome == "refused"
    assert promote.promote(repo, CFG, push=True).outcome == "refused"
    remote = tmp_path / "fresh"
    run(["git", "clone", "-q", str(origin), str(remote)], tmp_path)
    run(["git", "fetch", "-q", "origin", f"{record.NOTES_REF}:{record.NOTES_REF}"], remote)
    outcomes = sorted(r["outcome"] for r in record.read_notes(remote))
    assert outcomes == ["promoted", "refused", "refused", "refused"]
