"""evaluate for a multiclass or a regression model (`ModelMeta.task`): what it predicts, its
metrics, calibration, slices and plots, and its part of evaluation.md.

The binary evaluation (pipeline.evaluate) is left as it was, so a binary project's reports do
not change; the pieces here have the same shapes, keyed by the task's metric names
(gitml.core.metrics.TASK_METRICS and TASK_SLICE_METRICS).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from gitml.config import Params
from gitml.core.calibration import expected_calibration_error
from gitml.core.metrics import (
    LOWER_IS_BETTER,
    TASK_METRICS,
    TASK_SLICE_METRICS,
    fmt,
    macro_recall,
    multiclass_metrics,
    regression_metrics,
    rounded,
)
from gitml.core.model_meta import ModelMeta
from gitml.core.tasks import Task
from gitml.io.files import write_json
from gitml.pipeline import dataset

# The permutation-importance scorer (scikit-learn's names) and how its drop reads in the report.
SCORING = {
    Task.BINARY: ("roc_auc", "ROC-AUC drop"),
    Task.MULTICLASS: ("roc_auc_ovr", "one-vs-rest ROC-AUC drop"),
    Task.REGRESSION: ("neg_root_mean_squared_error", "RMSE increase"),
}
# The "too good to be true" score evaluate.max_roc_auc is compared with.
TOO_GOOD = {Task.BINARY: "roc_auc", Task.MULTICLASS: "roc_auc_ovr", Task.REGRESSION: "r2"}


def predict(model: Any, X: pd.DataFrame, task: Task) -> np.ndarray:
    """What the model says: P(positive) (binary), one probability per class in the model's
    class order (multiclass), the predicted number (regression)."""
    if not task.is_classification:
        return np.asarray(model.predict(X), dtype=np.float64)
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    return proba[:, 1] if task is Task.BINARY else proba


def metrics(task: Task, y: np.ndarray, out: np.ndarray, classes: list[str]) -> dict[str, Any]:
    if task is Task.REGRESSION:
        return regression_metrics(y, out)
    return multiclass_metrics(y, out, classes)


def top_label_ece(y: np.ndarray, proba: np.ndarray, bins: int) -> float:
    """Top-label calibration error (Guo et al. 2017): the binary ECE of "the most probable
    class is right" against its probability."""
    return expected_calibration_error(proba.argmax(axis=1) == y, proba.max(axis=1), bins)


def predictions_frame(task: Task, y: np.ndarray, out: np.ndarray, classes: list[str]) -> Any:
    """data/predictions/test.parquet: truth and prediction per row (multiclass: class codes,
    the index into model.json's `classes`, and one probability column per class)."""
    if task is Task.REGRESSION:
        return pd.DataFrame({"y_true": y, "prediction": out})
    frame = pd.DataFrame({"y_true": y, "label": out.argmax(axis=1).astype(np.int64)})
    for i, name in enumerate(classes):
        frame[f"proba_{name}"] = out[:, i]
    return frame


def recent_metrics(
    model: Any, recent: pd.DataFrame, params: Params, meta: ModelMeta
) -> dict[str, Any]:
    """recent.json for a multiclass or a regression model (see recent_metrics)."""
    if recent.empty:
        return {"rows": 0, "metrics": None}
    X, y, _ = dataset.split_xy(recent, params.data, params.split, meta.classes or None)
    out = predict(model, X, meta.task)
    return {"rows": len(y), "metrics": metrics(meta.task, y, out, meta.classes)}


# --------------------------------------------------------------------------- slices


def slice_keys(col: pd.Series) -> np.ndarray:
    """The slice name of each row: integers print as integers (ingest stores every number as
    float64, so a 1/2/3 code would read 1.0/2.0/3.0), missing as (missing)."""
    if pd.api.types.is_numeric_dtype(col):
        present = col.dropna()
        if len(present) and (present == present.round()).all():
            text = present.astype("int64").astype("str")
        else:
            text = present.astype("str")
        return text.reindex(col.index).fillna("(missing)").to_numpy(dtype=object)
    return col.astype("str").where(col.notna(), "(missing)").to_numpy(dtype=object)


def _slice_values(
    task: Task, y: np.ndarray, out: np.ndarray, n_classes: int, min_rows: int
) -> dict[str, Any]:
    rows = len(y)
    if task is Task.REGRESSION:
        err = out - y
        return {
            "rows": rows,
            "target_mean": rounded(float(y.mean())),
            "rmse": rounded(float(np.sqrt(np.mean(err**2)))),
            "mae": rounded(float(np.mean(np.abs(err)))),
            "ranked": rows >= min_rows,
        }
    every_class = len(np.unique(y)) == n_classes
    codes = list(range(n_classes))
    auc = skm.roc_auc_score(y, out, multi_class="ovr", labels=codes) if every_class else None
    return {
        "rows": rows,
        "roc_auc_ovr": rounded(auc),
        "balanced_accuracy": rounded(macro_recall(y, out.argmax(axis=1))),
        "ranked": bool(rows >= min_rows and every_class),
    }


def _gaps(values: dict[str, dict[str, Any]], names: tuple[str, ...]) -> dict[str, Any]:
    """Per metric, the best-minus-worst size among ranked slices: `min`/`max` name the
    slices with the lowest and the highest value (for an error, the highest is the worst)."""
    gap: dict[str, Any] = {}
    for metric in names:
        ranked = {k: v[metric] for k, v in values.items() if v["ranked"] and v[metric] is not None}
        if len(ranked) >= 2:
            lo, hi = min(ranked, key=ranked.__getitem__), max(ranked, key=ranked.__getitem__)
            gap[metric] = {"gap": rounded(ranked[hi] - ranked[lo]), "min": lo, "max": hi}
    return gap


def slice_metrics(
    frame: pd.DataFrame,
    y: np.ndarray,
    out: np.ndarray,
    meta: ModelMeta,
    columns: list[str],
    min_rows: int,
) -> dict[str, Any]:
    """Per slice: rows and the task's slice metrics (a multiclass slice is ranked only with
    every class in it); per column: the largest gap of each."""
    result: dict[str, Any] = {}
    for col in columns:
        keys = slice_keys(frame[col])
        values = {
            str(value): _slice_values(
                meta.task, y[keys == value], out[keys == value], len(meta.classes), min_rows
            )
            for value in sorted(set(keys))
        }
        result[col] = {"values": values, "gap": _gaps(values, TASK_SLICE_METRICS[meta.task])}
    gaps = [g["gap"] for c in result.values() for g in c["gap"].values() if g["gap"] is not None]
    return {"columns": result, "max_gap": rounded(max(gaps)) if gaps else None}


# --------------------------------------------------------------------------- plots


def plot_rows(**columns: np.ndarray) -> list[dict[str, float | None]]:
    keys = list(columns)
    return [
        {k: rounded(v) if np.isfinite(v) else 1.0 for k, v in zip(keys, values, strict=True)}
        for values in zip(*columns.values(), strict=True)
    ]


def write_plots(
    folder: Path, task: Task, y: np.ndarray, out: np.ndarray, classes: list[str], bins: int
) -> None:
    """The four plot files dvc.yaml declares, for every task, with the task's content:
    multiclass: micro-averaged one-vs-rest ROC and precision-recall curves, the top-label
    reliability curve, the K x K confusion rows; regression: no ROC, precision-recall or
    confusion (empty lists), the binned predicted-versus-actual curve as its calibration, and
    two files of its own, residuals.json and predicted_actual.json (one point per row)."""
    plots = folder / "plots" / "sklearn"
    if task is Task.REGRESSION:
        edges = np.unique(np.quantile(out, np.linspace(0, 1, bins + 1)))
        which = np.clip(np.searchsorted(edges, out, side="right") - 1, 0, max(len(edges) - 2, 0))
        pred_mean = [out[which == b].mean() for b in np.unique(which)]
        true_mean = [y[which == b].mean() for b in np.unique(which)]
        write_json(
            plots / "calibration.json",
            {
                "calibration": plot_rows(
                    prob_pred=np.array(pred_mean), prob_true=np.array(true_mean)
                )
            },
        )
        for name in ("roc", "precision_recall", "confusion_matrix"):
            write_json(plots / f"{name}.json", {name: []})
        write_json(
            plots / "residuals.json", {"residuals": plot_rows(predicted=out, residual=y - out)}
        )
        write_json(
            plots / "predicted_actual.json",
            {"predicted_actual": plot_rows(actual=y, predicted=out)},
        )
        return
    onehot = np.eye(len(classes))[y].ravel()
    fpr, tpr, roc_t = skm.roc_curve(onehot, out.ravel(), drop_intermediate=True)
    write_json(plots / "roc.json", {"roc": plot_rows(fpr=fpr, tpr=tpr, threshold=roc_t)})
    prec, rec, pr_t = skm.precision_recall_curve(onehot, out.ravel(), drop_intermediate=True)
    write_json(
        plots / "precision_recall.json",
        {"precision_recall": plot_rows(precision=prec[:-1], recall=rec[:-1], threshold=pr_t)},
    )
    label = out.argmax(axis=1)
    prob_true, prob_pred = calibration_curve(label == y, out.max(axis=1), n_bins=bins)
    write_json(
        plots / "calibration.json",
        {"calibration": plot_rows(prob_pred=prob_pred, prob_true=prob_true)},
    )
    names = np.array(classes, dtype=object)
    write_json(
        plots / "confusion_matrix.json",
        {
            "confusion_matrix": [
                {"actual": a, "predicted": p} for a, p in zip(names[y], names[label], strict=True)
            ]
        },
    )


# --------------------------------------------------------------------------- evaluation.md


def markdown_metrics(result: dict[str, Any], meta: ModelMeta) -> list[str]:
    """The metric table, calibration, per-class table and confusion matrix of evaluation.md."""
    task = meta.task
    lines = ["| metric | value |", "|---|---|"]
    for key in TASK_METRICS[task]:
        if key in result:
            way = " (lower is better)" if key in LOWER_IS_BETTER else ""
            lines.append(f"| {key}{way} | {fmt(result[key])} |")
    if task is Task.REGRESSION and "mape" not in result:
        lines.append("| mape | - (a target is zero: undefined) |")
    if task is Task.REGRESSION:
        return lines
    lines += [
        "",
        f"Calibration ({meta.calibration.method}): top-label expected calibration error "
        f"{fmt(result.get('ece_uncalibrated'))} before → {fmt(result.get('ece'))} after on test",
        "",
        "| class | rows | precision | recall |",
        "|---|---|---|---|",
    ]
    for name, m in result["per_class"].items():
        lines.append(f"| {name} | {m['rows']} | {fmt(m['precision'])} | {fmt(m['recall'])} |")
    classes = result["confusion"]["classes"]
    lines += [
        "",
        "Confusion matrix (rows: actual, columns: predicted)",
        "",
        "| | " + " | ".join(classes) + " |",
        "|---" * (len(classes) + 1) + "|",
    ]
    for name, row in zip(classes, result["confusion"]["matrix"], strict=True):
        lines.append(f"| **{name}** | " + " | ".join(str(n) for n in row) + " |")
    return lines


def markdown_slices(slices: dict[str, Any], task: Task) -> list[str]:
    names = TASK_SLICE_METRICS[task]
    first = ["target_mean"] if task is Task.REGRESSION else []
    header = ["column", "value", "rows", *first, *names]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for col, info in slices["columns"].items():
        for value, m in info["values"].items():
            cells = [col, value, str(m["rows"]), *(fmt(m[k]) for k in (*first, *names))]
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Largest gaps (slices with enough rows):", ""]
    for col, info in slices["columns"].items():
        for metric, g in info["gap"].items():
            lines.append(f"- {col} {metric}: {g['gap']:.4f} ({g['min']} → {g['max']})")
    return lines


def importance_lines(importance: pd.DataFrame) -> list[str]:
    lines = ["| feature | importance | std |", "|---|---|---|"]
    for row in importance.itertuples():
        lines.append(f"| {row.feature} | {row.importance:.4f} | {row.std:.4f} |")
    return lines


def report_lines(
    result: dict[str, Any], slices: dict[str, Any], importance: pd.DataFrame, meta: ModelMeta
) -> list[str]:
    """evaluation.md below the warnings, for a multiclass or a regression model."""
    kind = (
        f"multiclass, {len(meta.classes)} classes" if meta.task is Task.MULTICLASS else "regression"
    )
    lines = [f"Model: `{meta.family}` · {kind} · {result['rows']} test rows", ""]
    lines += markdown_metrics(result, meta)
    lines += ["", "## Slices", "", *markdown_slices(slices, meta.task)]
    lines += ["", f"## Permutation importance ({SCORING[meta.task][1]}, top features)", ""]
    return lines + importance_lines(importance)
