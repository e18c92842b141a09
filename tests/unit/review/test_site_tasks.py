"""The model site for a regression and a multiclass project: the task's metrics with their
directions, its curves, slices, per-class table and confusion matrix."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gitml.review.site import model, render
from gitml.review.site.gitobjects import TagRecord


def tag(name: str, commit: str, second: int) -> TagRecord:
    when = datetime.fromtimestamp(1_760_000_000 + second, UTC)
    return TagRecord(name, commit, True, "ci", "<ci@x>", when, "")


def site(task: str, files: list[dict[str, Any]], meta: dict[str, Any]) -> model.Site:
    versions, events = model.replay(
        [
            tag("model@v0.1.0", "a" * 40, 1),
            tag("model#prod#1", "a" * 40, 2),
            tag("model@v0.2.0", "b" * 40, 3),
            tag("model#prod#2", "b" * 40, 4),
        ]
    )
    params = {"data": {"task": task}}
    for v, f in zip((versions["v0.1.0"], versions["v0.2.0"]), files, strict=True):
        v.files = f | {"params": params, "model": {"model_sha256": "0" * 64, "task": task} | meta}
    primary, min_rows = model._settings(params)
    return model.Site(Path(), primary, min_rows, list(versions.values()), events)


def reg_files(rmse: float, bias: float) -> dict[str, Any]:
    values = {"f": {"rows": 150, "target_mean": 10.0, "rmse": rmse, "mae": 2.0, "ranked": True}}
    curve = [{"prob_pred": x, "prob_true": x + bias} for x in (100.0, 200.0, 300.0)]
    return {
        "metrics": {"rmse": rmse, "mae": 2.0, "r2": 0.5, "rows": 300},
        "slices": {"columns": {"sex": {"values": values, "gap": {}}}},
        "roc": {"roc": []},
        "pr": {"precision_recall": []},
        "calibration": {"calibration": curve},
        "importance": [{"feature": "bmi", "importance": "3.5", "std": "0.1"}],
    }


def test_a_regression_site_shows_rmse_lower_is_better(tmp_path: Path) -> None:
    s = site("regression", [reg_files(50.0, 0.0), reg_files(45.0, 5.0)], {"target": "y"})
    assert s.primary == "rmse"
    render.write(s, tmp_path / "site")
    page = (tmp_path / "site" / "versions" / "v0.2.0.html").read_text()
    assert "y, a number (regression)" in page
    assert 'data-metric="rmse"' in page and "better" in page.split('data-metric="rmse"')[1][:400]
    assert "Predicted vs actual, mean per bin of the prediction" in page
    assert "ROC curve" not in page and "Precision-recall curve" not in page
    assert '<th class="num">target mean</th><th class="num">rmse</th>' in page
    history = (tmp_path / "site" / "history.html").read_text()
    assert "rmse (lower is better) by version" in history
    assert "Secondary metrics by version (mae: lower is better)" in history


def mc_files(matrix: list[list[int]]) -> dict[str, Any]:
    per_class = {"ant": {"rows": 3, "precision": 1.0, "recall": 0.5}}
    metrics = {
        "roc_auc_ovr": 0.9,
        "log_loss": 0.3,
        "accuracy": 0.8,
        "rows": 5,
        "per_class": per_class,
        "confusion": {"classes": ["ant", "bee"], "matrix": matrix},
    }
    values = {"x": {"rows": 200, "roc_auc_ovr": 0.9, "balanced_accuracy": 0.8, "ranked": True}}
    roc = [{"fpr": 0.0, "tpr": 0.0, "threshold": 1.0}, {"fpr": 1.0, "tpr": 1.0, "threshold": 0.0}]
    return {
        "metrics": metrics,
        "slices": {"columns": {"hive": {"values": values, "gap": {}}}},
        "roc": {"roc": roc},
    }


def test_a_multiclass_site_shows_classes(tmp_path: Path) -> None:
    meta = {"classes": ["ant", "bee"], "target": "insect"}
    s = site("multiclass", [mc_files([[2, 1], [0, 2]]), mc_files([[3, 0], [1, 1]])], meta)
    render.write(s, tmp_path / "site")
    page = (tmp_path / "site" / "versions" / "v0.2.0.html").read_text()
    assert "the most probable of 2 classes" in page
    metrics = page.split('id="metrics"')[1].split("</table>")[0]
    order = [m.split('"')[0] for m in metrics.split('data-metric="')[1:]]
    assert order == ["roc_auc_ovr", "log_loss", "accuracy", "rows"]
    confusion = page.split('id="confusion"')[1].split("</table>")[0]
    assert '<th>ant</th><td class="num">3</td><td class="num">0</td>' in confusion
    assert 'id="per-class"' in page and "ROC curve (one-vs-rest, micro-averaged)" in page
    assert '<th class="num">roc_auc_ovr</th><th class="num">balanced_accuracy</th>' in page
    assert s.primary == "roc_auc_ovr"  # the task's, params.yaml naming none
