"""The task comes from what a project recorded (models/model.json, params.yaml's data.task),
not from the names its metric files happen to hold; the names only for files with neither."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gitml.core.metrics import task_of_metrics
from gitml.core.tasks import Task, recorded_task
from gitml.registry.gate import Evaluation, gate
from gitml.review import render
from gitml.review.compare import build
from gitml.review.curves import curves
from gitml.review.snapshot import Snapshot
from tests.unit.registry.gitrepo import commit, init_repo

# A regression model's files that hold no rmse (a trimmed or partial metrics.json): only the
# record says what the model is.
NO_RMSE = {"mae": 1.5, "r2": 0.5, "rows": 100}


def test_the_record_wins_model_json_first_then_params() -> None:
    assert (
        recorded_task({"task": "multiclass"}, {"data": {"task": "regression"}}) is Task.MULTICLASS
    )
    assert recorded_task({"model_sha256": "0"}, {"data": {"task": "regression"}}) is Task.BINARY
    assert recorded_task(None, {"data": {"task": "regression"}}) is Task.REGRESSION
    assert recorded_task(None, {}) is Task.BINARY  # params before data.task existed: binary
    assert recorded_task(None, None) is None and recorded_task({"task": "ranking"}) is None
    # no record: the names tell (older files only)
    assert task_of_metrics({"rmse": 1.0}) == "regression"
    assert task_of_metrics(None, {"roc_auc_ovr": 0.9}) == "multiclass"
    assert task_of_metrics({"roc_auc": 0.9}) == "binary"


def snap(label: str, metrics: dict[str, Any], **files: Any) -> Snapshot:
    lock = {"stages": {"evaluate": {"outs": [{"path": "m", "md5": label}]}}}
    content = {"lock": lock, "metrics": metrics, "slices": {"columns": {}}} | files
    return Snapshot(label, label * 40, content)


def test_the_report_reads_the_recorded_task() -> None:
    params = {"data": {"task": "regression"}}
    curve = {"calibration": [{"prob_pred": x, "prob_true": x + 1} for x in (1.0, 2.0, 3.0)]}
    model = {"model_sha256": "0", "task": "regression"}
    head = snap("b", NO_RMSE, params=params, model=model, calibration=curve)
    assert head.task == "regression"
    r = build(snap("a", NO_RMSE, params=params), head, "branch")
    assert r.slice_metrics == ("rmse", "mae")
    assert [c.title for c in curves(None, head)] == ["Mean residual by prediction"]
    assert render._ranked_slices(r) == "enough rows"
    # neither model.json nor params.yaml (an old revision): the metric names tell
    assert snap("c", {"rmse": 1.0}).task == "regression"
    assert snap("d", {"roc_auc": 0.9}).task == "binary"


def test_the_gate_names_the_recorded_task_of_a_candidate(tmp_path: Path) -> None:
    from gitml.config import PromotionConfig
    from gitml.errors import DataError

    repo = init_repo(tmp_path / "repo")
    files = {
        "reports/evaluate/metrics.json": NO_RMSE,
        "reports/evaluate/slices.json": {"columns": {}},
    }
    bare = commit(repo, files)
    assert Evaluation.at_rev(repo, bare).task is None  # nothing recorded
    with_params = commit(repo, {"params.yaml": "data:\n  task: regression\n"})
    assert Evaluation.at_rev(repo, with_params).task == "regression"
    with_model = commit(repo, {"models/model.json": {"model_sha256": "0", "task": "multiclass"}})
    candidate = Evaluation.at_rev(repo, with_model)
    assert candidate.task == "multiclass"  # model.json before params.yaml
    assert Evaluation.from_dir(repo / "reports/evaluate", repo).task == "multiclass"
    assert Evaluation.from_dir(repo / "reports/evaluate").task is None
    with pytest.raises(DataError, match="it holds a multiclass model's metrics"):
        gate(candidate, None, PromotionConfig())  # roc_auc, a binary rule


def test_the_recent_traffic_table_lists_the_recorded_tasks_metrics(tmp_path: Path) -> None:
    from gitml.review import recent

    params = {"data": {"target": "price", "task": "regression"}}
    out = recent.section(tmp_path, None, params, {"rows": 300, "metrics": NO_RMSE})
    assert out is not None and out["task"] == "regression"
    text = "\n".join(recent.markdown(out, "this branch"))
    assert "| mae | - | 1.5000 |" in text and "roc_auc" not in text


def test_the_site_history_lists_the_recorded_tasks_metrics() -> None:
    from gitml.review.site import model
    from gitml.review.site.render import _site_metrics

    v = model.Version("v0.1.0", "a" * 40, None, "ci", "")
    v.files = {"metrics": NO_RMSE, "model": {"model_sha256": "0", "task": "regression"}}
    assert v.task == "regression" and _site_metrics([v]) == ("mae", "r2")
    old = model.Version("v0.0.1", "b" * 40, None, "ci", "")
    old.files = {"metrics": {"rmse": 1.0, "mae": 1.0}}  # no model.json: the names tell
    assert old.task == "regression"
    assert json.dumps(_site_metrics([old])) == '["rmse", "mae"]'
