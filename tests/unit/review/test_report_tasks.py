"""The PR report of a regression and of a multiclass model: the task's metrics, directions,
slice columns, per-class table, K x K confusion matrix and charts (Mermaid)."""

from __future__ import annotations

import re
from typing import Any

from gitml.review import render
from gitml.review.compare import build
from gitml.review.snapshot import Snapshot


def snap(label: str, metrics: dict[str, Any], slices: dict[str, Any], **files: Any) -> Snapshot:
    lock = {"stages": {"evaluate": {"outs": [{"path": "m", "md5": label}]}}}
    task = "regression" if "rmse" in metrics else "multiclass"
    content = {"params": {"data": {"task": task}}, "lock": lock, "metrics": metrics}
    return Snapshot(label, label * 40, content | {"slices": slices} | files)


def reg(rmse: float, f_rmse: float, bias: float) -> Snapshot:
    values = {
        "f": {"rows": 50, "target_mean": 1.0, "rmse": f_rmse, "mae": 1.0, "ranked": True},
        "m": {"rows": 50, "target_mean": 2.0, "rmse": 3.0, "mae": 2.0, "ranked": True},
    }
    curve = [{"prob_pred": x, "prob_true": x + bias} for x in (10.0, 20.0, 30.0, 40.0)]
    return snap(
        "b" if bias else "a",
        {"rmse": rmse, "mae": 1.5, "r2": 0.5, "mape": 0.2, "rows": 100},
        {"columns": {"sex": {"values": values, "gap": {}}}},
        calibration={"calibration": curve},
        roc={"roc": []},
    )


def test_a_regression_report_reads_lower_rmse_as_better() -> None:
    r = build(reg(5.0, 2.0, 0.0), reg(4.0, 2.5, 3.0), "branch")
    assert r.primary == "rmse" and r.verdict == "better"
    md = render.markdown(r)
    assert "**▲ better** on rmse: 4 vs 5 on `a` (-1.0000)" in md
    assert "| **rmse** | 5 | 4 | ▼ -1.0000 | better |" in md
    assert (
        "| column | value | rows | rmse `a` | rmse this branch | mae `a` | mae this branch |" in md
    )
    assert "| sex | f | 50 | 2 | 2.5000 | 1 | 1 |" in md
    assert "Largest gap" not in md  # evaluate wrote no gap in these files
    charts = re.findall(r"```mermaid\n(.*?)```", md, re.S)
    assert len(charts) == 1 and "Mean residual by prediction" in charts[0]  # no ROC, no PR
    head_line = charts[0].splitlines()[-1]
    assert head_line.startswith("    line [3, 3, ") and "y-axis" in charts[0]
    assert '"Actual - predicted (mean)" -3.3 --> 3.3' in charts[0]


def mc(label: str, matrix: list[list[int]], recall_b: float) -> Snapshot:
    values = {
        "x": {"rows": 40, "roc_auc_ovr": 0.9, "balanced_accuracy": 0.8, "ranked": True},
        "y": {"rows": 9, "roc_auc_ovr": None, "balanced_accuracy": 0.5, "ranked": False},
    }
    per_class = {
        "bee": {"rows": 3, "precision": 1.0, "recall": recall_b},
        "ant": {"rows": 2, "precision": 0.5, "recall": 1.0},
    }
    metrics = {
        "roc_auc_ovr": 0.9,
        "log_loss": 0.4,
        "accuracy": 0.8,
        "balanced_accuracy": 0.8,
        "f1_macro": 0.7,
        "f1_weighted": 0.75,
        "rows": 5,
        "per_class": per_class,
        "confusion": {"classes": ["bee", "ant"], "matrix": matrix},
    }
    return snap(label, metrics, {"columns": {"hive": {"values": values, "gap": {}}}})


def test_a_multiclass_report_shows_classes_and_their_confusion() -> None:
    r = build(mc("a", [[3, 0], [0, 2]], 1.0), mc("b", [[2, 1], [0, 2]], 2 / 3), "branch")
    assert r.primary == "roc_auc_ovr" and r.verdict == "unchanged"
    md = render.markdown(r)
    assert "| **roc_auc_ovr** | 0.9000 | 0.9000 | = | unchanged |" in md
    assert "| log_loss | 0.4000 | 0.4000 | = | unchanged |" in md
    assert "| bee | 1 | 1 | 1 | 0.6667 |" in md  # per-class precision and recall
    assert "| actual \\ predicted | bee | ant |" in md
    assert "| **bee** | 3 → 2 | 0 → 1 |" in md and "| **ant** | 0 | 2 |" in md
    assert "roc_auc_ovr `a` | roc_auc_ovr this branch | balanced_accuracy `a`" in md
    assert "| hive | y | 9 | - | - | 0.5000 | 0.5000 |" in md
    assert "negative" not in md  # no binary confusion matrix


def test_a_base_of_another_task_is_not_compared_with() -> None:
    """A first own table on the binary template: main holds Adult's binary model. Its metrics,
    slices and calibration curve are not the regression branch's base."""
    binary = Snapshot(
        "main",
        "m" * 40,
        {
            "params": {"data": {"task": "binary"}},
            "lock": {"stages": {"evaluate": {"outs": [{"path": "m", "md5": "main"}]}}},
            "metrics": {"roc_auc": 0.93, "f1": 0.7, "rows": 9000},
            "slices": {"columns": {"sex": {"values": {}, "gap": {}}}},
            "calibration": {"calibration": [{"prob_pred": 0.1, "prob_true": 0.2}] * 4},
        },
    )
    r = build(binary, reg(4.0, 2.5, 3.0), "branch")
    assert r.verdict == "other_task" and r.primary == "rmse"
    md = render.markdown(r)
    assert (
        "**New task:** rmse 4 — `main` holds a binary model, whose metrics a regression model "
        "does not have, so this report shows this branch only."
    ) in md
    assert "No verdict" not in md and "roc_auc" not in md
    chart = re.findall(r"```mermaid\n(.*?)```", md, re.S)[0]
    assert chart.count("    line [") == 1  # the branch's residual curve alone
