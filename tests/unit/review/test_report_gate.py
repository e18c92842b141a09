"""The PR report's gate line counts the rules `gitml promote` counts for the same candidate:
the reproduction check included, when the report judges the workspace as promote does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from gitml.registry import promote, servable
from gitml.review import promotion_gate
from tests.unit.registry.gitrepo import commit, init_repo

PARAMS = {"data": {"task": "regression", "target": "y", "positive_class": None}}
METRICS = {"rmse": 55.0, "mae": 40.0, "r2": 0.4, "mape": 0.3, "rows": 600}
SLICES = {"columns": {}}


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A first regression version, committed and checked out: its gate has no rule (no floor
    in target units yet, no prod to compare with)."""
    repo = init_repo(tmp_path / "repo")
    commit(
        repo,
        {
            "params.yaml": yaml.safe_dump(PARAMS),
            "reports/evaluate/metrics.json": METRICS,
            "reports/evaluate/slices.json": SLICES,
        },
    )
    # no DVC here: the model file's checks are promote's business, not the gate's
    monkeypatch.setattr(servable, "judged_sha256", lambda *a: "0" * 64)
    monkeypatch.setattr(servable, "model_identity", lambda *a: None)
    return repo


def test_the_report_and_promote_count_the_same_rules(repo: Path) -> None:
    summary, passed = promotion_gate(repo, None, PARAMS) or ("", None)
    promoted = promote.promote(repo, dry_run=True)
    assert promoted.decision.summary.endswith("; 1/1 rules pass")  # the reproduction check
    assert summary == promoted.decision.summary and passed is True


def test_a_committed_revision_is_judged_as_committed(repo: Path) -> None:
    summary, _ = promotion_gate(repo, "HEAD", PARAMS) or ("", None)
    assert summary.endswith("; 0/0 rules pass")  # the committed numbers: nothing reproduced


def test_a_local_run_not_committed_yet_is_not_refused_as_unreproduced(repo: Path) -> None:
    (repo / "reports/evaluate/metrics.json").write_text(json.dumps(METRICS | {"rmse": 50.0}))
    summary, passed = promotion_gate(repo, None, PARAMS) or ("", None)
    assert summary.startswith("PROMOTE: rmse 50.0000") and summary.endswith("; 0/0 rules pass")
    assert passed is True


def test_a_branch_that_changes_the_task_is_judged_by_its_own_rules(repo: Path) -> None:
    """The template's binary rules cannot judge a regression model ('no roc_auc'): the report,
    like `gitml promote`, applies the branch's own and says why."""
    from gitml.review import judging_params

    base = {"data": {"task": "binary", "positive_class": ">50K"}, "promotion": {}}
    judge, note = judging_params(base, PARAMS)
    assert judge is PARAMS and "changes data.task from binary to regression" in note
    summary, passed = promotion_gate(repo, "HEAD", judge) or ("", None)
    assert summary.startswith("PROMOTE: rmse") and passed is True
    assert judging_params(PARAMS, PARAMS) == (PARAMS, "")  # same task: the base's
    assert judging_params({}, PARAMS) == (PARAMS, "")  # a first run: its own
