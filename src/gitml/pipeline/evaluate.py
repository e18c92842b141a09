"""Stage 7 — evaluate: test metrics, plots, slice metrics, importance, a short report.

Everything under reports/evaluate/ is built in a temporary folder and swapped in at the end, so
a killed run leaves the previous report or the new one, never a mix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.inspection import permutation_importance

from gitml.config import Params
from gitml.core.calibration import expected_calibration_error
from gitml.core.metrics import READING_ORDER, TASK_METRICS, compute_metrics, fmt, rounded
from gitml.core.model_io import load_model
from gitml.core.model_meta import ModelMeta
from gitml.core.tasks import Task
from gitml.io.files import atomic_dir, write_atomic, write_csv, write_json, write_parquet
from gitml.pipeline import dataset
from gitml.pipeline import evaluate_tasks as tasks
from gitml.pipeline.evaluate_tasks import plot_rows, slice_keys

__all__ = ["slice_keys"]  # where the tests and the review look for it


@dataclass(frozen=True)
class EvaluateResult:
    metrics: dict[str, float]
    slices: dict[str, Any]
    warnings: list[str]
    task: Task = Task.BINARY

    @property
    def summary(self) -> str:
        """The headline of the command's one line: the task's first metrics."""
        names = ("roc_auc", "f1") if self.task is Task.BINARY else TASK_METRICS[self.task][:2]
        return ", ".join(f"{n} {fmt(self.metrics.get(n))}" for n in names)


def warnings(
    result: dict[str, Any],
    importance: pd.DataFrame,
    max_share: float,
    max_roc_auc: float,
    score: str = "roc_auc",
) -> tuple[dict[str, Any], list[str]]:
    """Results too good to be true: one feature carrying the model, or a near-perfect score."""
    positive = importance["importance"].clip(lower=0)
    total = float(positive.sum())
    top = importance.iloc[0] if len(importance) else None
    share = float(positive.iloc[0] / total) if total > 0 and top is not None else None
    out: list[str] = []
    if share is not None and share > max_share and top is not None:
        out.append(
            f"⚠️ one feature, `{top['feature']}`, carries {share:.0%} of the permutation "
            f"importance (> {max_share:.0%}): a leak (recorded after the outcome)? "
            "Check it, then drop it (data.drop_columns) or keep it knowingly"
        )
    roc = result.get(score)
    if roc is not None and roc > max_roc_auc:
        shown = "ROC-AUC" if score == "roc_auc" else score
        out.append(
            f"⚠️ test {shown} {roc:.4f} > {max_roc_auc}: too good to be true? Look for a column "
            "that encodes the target (reports/validation.json, leakage)"
        )
    checks = {
        "top_feature": None if top is None else str(top["feature"]),
        "top_importance_share": None if share is None else round(share, 6),
        score: roc,
        "warnings": out,
    }
    return checks, out


def slice_metrics(
    frame: pd.DataFrame,
    y: np.ndarray,
    score: np.ndarray,
    threshold: float,
    columns: list[str],
    min_rows: int,
) -> dict[str, Any]:
    """Per slice: rows, positive rate, ROC-AUC, recall; per column: the largest gap."""
    out: dict[str, Any] = {}
    pred = score >= threshold
    for col in columns:
        keys = slice_keys(frame[col])
        values: dict[str, Any] = {}
        for value in sorted(set(keys)):
            mask = keys == value
            ys, ss = y[mask], score[mask]
            both = 0 < ys.sum() < len(ys)
            ranked = bool(mask.sum() >= min_rows and both)
            values[value] = {
                "rows": int(mask.sum()),
                "positive_rate": rounded(ys.mean()),
                "roc_auc": rounded(skm.roc_auc_score(ys, ss)) if both else None,
                "recall": rounded(pred[mask][ys == 1].mean()) if ys.sum() else None,
                "ranked": ranked,
            }
        gap: dict[str, Any] = {}
        for metric in ("roc_auc", "recall"):
            ranked_values = {k: v[metric] for k, v in values.items() if v["ranked"]}
            if len(ranked_values) >= 2:
                lo, hi = (
                    min(ranked_values, key=ranked_values.__getitem__),
                    max(ranked_values, key=ranked_values.__getitem__),
                )
                gap[metric] = {
                    "gap": rounded(ranked_values[hi] - ranked_values[lo]),
                    "min": lo,
                    "max": hi,
                }
        out[col] = {"values": values, "gap": gap}
    gaps = [g["gap"] for c in out.values() for g in c["gap"].values() if g.get("gap") is not None]
    return {"columns": out, "max_gap": rounded(max(gaps)) if gaps else None}


def run(
    params: Params,
    test: pd.DataFrame,
    model_path: Path,
    metadata: ModelMeta,
    out_dir: Path,
    predictions_path: Path,
    recent: pd.DataFrame | None = None,
) -> EvaluateResult:
    cfg = params.evaluate
    model = load_model(model_path, expected_sha256=metadata.model_sha256)
    missing = [c for c in cfg.slices if c not in test.columns]
    if missing:
        from gitml.errors import ConfigError

        raise ConfigError(f"evaluate.slices: columns {missing} are not in the data")
    if metadata.task is not params.data.task:
        # The target is encoded by data.task (dataset.split_xy): a model of another task
        # (params changed, train not rerun) would be scored against the wrong kind of y.
        from gitml.errors import DataError

        raise DataError(
            f"the model is a {metadata.task} model (model.json) but data.task is "
            f"{params.data.task}: retrain it (`dvc repro`) before evaluating"
        )
    if metadata.task is not Task.BINARY:
        return _run_task(params, test, model, metadata, out_dir, predictions_path, recent)
    X, y, _ = dataset.split_xy(test, params.data, params.split)
    score = model.predict_proba(X)[:, 1]
    threshold = metadata.binary_threshold
    result = compute_metrics(y, score, threshold)
    # Calibration error on the test split, of the served scores and of the estimator's own
    # (before train's calibration map), next to what train measured out of fold.
    bins = cfg.calibration_bins
    raw = uncalibrated_scores(model, X)
    result["ece"] = rounded(expected_calibration_error(y, score, bins))
    result["ece_uncalibrated"] = (
        rounded(expected_calibration_error(y, raw, bins)) if raw is not None else None
    )
    slices = slice_metrics(test, y, score, threshold, cfg.slices, cfg.min_slice_rows)
    importance = _importance(model, X, y, cfg.permutation_repeats, cfg.seed, Task.BINARY)
    checks, warned = warnings(result, importance, cfg.max_importance_share, cfg.max_roc_auc)
    importance = importance.head(cfg.top_features)

    write_parquet(
        predictions_path,
        pd.DataFrame({"y_true": y, "score": score, "label": (score >= threshold).astype(np.int64)}),
    )
    with atomic_dir(out_dir) as tmp:
        _write_metrics_and_plots(tmp, result, y, score, threshold, cfg.calibration_bins)
        write_json(tmp / "slices.json", slices)
        if recent is not None:
            write_json(tmp / "recent.json", recent_metrics(model, recent, params, threshold))
        write_csv(tmp / "importance.csv", importance)
        write_json(tmp / "checks.json", checks)
        write_atomic(
            tmp / "evaluation.md", render_markdown(result, slices, importance, metadata, warned)
        )
    return EvaluateResult(result, slices, warned)


def _run_task(
    params: Params,
    test: pd.DataFrame,
    model: Any,
    meta: ModelMeta,
    out_dir: Path,
    predictions_path: Path,
    recent: pd.DataFrame | None,
) -> EvaluateResult:
    """evaluate for a multiclass or a regression model (the pieces: pipeline.evaluate_tasks)."""
    cfg, task = params.evaluate, meta.task
    X, y, _ = dataset.split_xy(test, params.data, params.split, meta.classes or None)
    out = tasks.predict(model, X, task)
    result = tasks.metrics(task, y, out, meta.classes)
    if task is Task.MULTICLASS:
        raw = uncalibrated_scores(model, X, task)
        result["ece"] = rounded(tasks.top_label_ece(y, out, cfg.calibration_bins))
        result["ece_uncalibrated"] = (
            None if raw is None else rounded(tasks.top_label_ece(y, raw, cfg.calibration_bins))
        )
    slices = tasks.slice_metrics(test, y, out, meta, cfg.slices, cfg.min_slice_rows)
    importance = _importance(model, X, y, cfg.permutation_repeats, cfg.seed, task)
    checks, warned = warnings(
        result, importance, cfg.max_importance_share, cfg.max_roc_auc, tasks.TOO_GOOD[task]
    )
    importance = importance.head(cfg.top_features)
    write_parquet(predictions_path, tasks.predictions_frame(task, y, out, meta.classes))
    with atomic_dir(out_dir) as tmp:
        write_json(tmp / "metrics.json", result)
        tasks.write_plots(tmp, task, y, out, meta.classes, cfg.calibration_bins)
        write_json(tmp / "slices.json", slices)
        if recent is not None:
            write_json(tmp / "recent.json", tasks.recent_metrics(model, recent, params, meta))
        write_csv(tmp / "importance.csv", importance)
        write_json(tmp / "checks.json", checks)
        write_atomic(
            tmp / "evaluation.md", render_markdown(result, slices, importance, meta, warned)
        )
    return EvaluateResult(result, slices, warned, task)


def recent_metrics(
    model: Any, recent: pd.DataFrame, params: Params, threshold: float
) -> dict[str, Any]:
    """Metrics on the recent-traffic slice (the newest labelled production rows, never trained
    on); `rows: 0` and no metrics when there are none (see gitml.pipeline.production)."""
    if recent.empty:
        return {"rows": 0, "metrics": None}
    X, y, _ = dataset.split_xy(recent, params.data, params.split)
    score = model.predict_proba(X)[:, 1]
    if not 0 < y.sum() < len(y):
        return {"rows": len(y), "metrics": None, "note": "one class only: no metrics"}
    return {"rows": len(y), "metrics": compute_metrics(y, score, threshold)}


def uncalibrated_scores(model: Any, X: pd.DataFrame, task: Task = Task.BINARY) -> np.ndarray | None:
    """The scores before train's calibration map (None: the model is not calibrated); all the
    class probabilities for a multiclass model."""
    from sklearn.calibration import CalibratedClassifierCV

    last = model.steps[-1][1]
    if not isinstance(last, CalibratedClassifierCV):
        return None
    base = last.calibrated_classifiers_[0].estimator
    proba = np.asarray(base.predict_proba(model[:-1].transform(X)))
    return proba if task is Task.MULTICLASS else proba[:, 1]


def _write_metrics_and_plots(
    folder: Path,
    result: dict[str, Any],
    y: np.ndarray,
    score: np.ndarray,
    threshold: float,
    bins: int,
) -> None:
    """Metrics and plot data in the files and shapes that dvclive writes (metrics.json,
    plots/sklearn/*.json), read by `dvc metrics` / `dvc plots` through dvc.yaml.

    Written by hand rather than through dvclive.Live: Live() opens the DVC repo and git on start
    (it runs `dvc init` when it finds none, crashes in a git repo without commits, and may talk
    to DVC Studio), which a pure stage function must not do; the formats are tiny and stable.
    """
    write_json(folder / "metrics.json", result)
    plots = folder / "plots" / "sklearn"
    fpr, tpr, roc_t = skm.roc_curve(y, score, drop_intermediate=True)
    write_json(plots / "roc.json", {"roc": plot_rows(fpr=fpr, tpr=tpr, threshold=roc_t)})
    prec, rec, pr_t = skm.precision_recall_curve(y, score, drop_intermediate=True)
    write_json(
        plots / "precision_recall.json",
        {"precision_recall": plot_rows(precision=prec[:-1], recall=rec[:-1], threshold=pr_t)},
    )
    prob_true, prob_pred = calibration_curve(y, score, n_bins=bins)
    write_json(
        plots / "calibration.json",
        {"calibration": plot_rows(prob_pred=prob_pred, prob_true=prob_true)},
    )
    names = np.array(["negative", "positive"])
    write_json(
        plots / "confusion_matrix.json",
        {
            "confusion_matrix": [
                {"actual": a, "predicted": p}
                for a, p in zip(names[y], names[(score >= threshold).astype(int)], strict=True)
            ]
        },
    )


def _importance(
    model: Any, X: pd.DataFrame, y: np.ndarray, repeats: int, seed: int, task: Task
) -> pd.DataFrame:
    """Permutation importance: the drop of the task's score when one column is shuffled."""
    result = permutation_importance(
        model, X, y, scoring=tasks.SCORING[task][0], n_repeats=repeats, random_state=seed, n_jobs=1
    )
    frame = pd.DataFrame(
        {
            "feature": X.columns,
            "importance": np.round(result.importances_mean, 6),
            "std": np.round(result.importances_std, 6),
        }
    )
    return frame.sort_values(["importance", "feature"], ascending=[False, True])


def render_markdown(
    result: dict[str, Any],
    slices: dict[str, Any],
    importance: pd.DataFrame,
    meta: ModelMeta,
    warned: list[str] | None = None,
) -> str:
    lines = ["# Evaluation on the test split", ""]
    lines += [line for w in warned or [] for line in (f"> {w}", ">")][:-1] + (
        [""] if warned else []
    )
    if meta.task is not Task.BINARY:
        return "\n".join(lines + tasks.report_lines(result, slices, importance, meta)) + "\n"
    lines += [
        f"Model: `{meta.family}` · threshold {meta.threshold} "
        f"({meta.threshold_rule}, chosen out-of-fold on train) · {result['rows']} test rows",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    for key in READING_ORDER:
        lines.append(f"| {key} | {result[key]:.4f} |")
    cal = meta.calibration
    ece = result.get("ece")
    if ece is not None:
        before = result.get("ece_uncalibrated")
        lines += [
            "",
            f"Calibration ({cal.method}, fitted out of fold on train; "
            f"train.calibration: {cal.rule or '-'}): expected calibration error "
            f"{fmt(before)} before → {ece:.4f} after on test"
            + (
                f"; {fmt(cal.ece_before)} → {fmt(cal.ece_after)} out of fold on train"
                if cal.ece_before is not None
                else ""
            ),
        ]
    c = result["confusion"]
    lines += [
        "",
        "Confusion matrix (rows: actual, columns: predicted)",
        "",
        "| | negative | positive |",
        "|---|---|---|",
        f"| **negative** | {c['tn']} | {c['fp']} |",
        f"| **positive** | {c['fn']} | {c['tp']} |",
        "",
        "## Slices",
        "",
        "| column | value | rows | positive rate | ROC-AUC | recall |",
        "|---|---|---|---|---|---|",
    ]
    for col, info in slices["columns"].items():
        for value, m in info["values"].items():
            lines.append(
                f"| {col} | {value} | {m['rows']} | {fmt(m['positive_rate'])} | "
                f"{fmt(m['roc_auc'])} | {fmt(m['recall'])} |"
            )
    lines += ["", "Largest gaps (slices with enough rows and both classes):", ""]
    for col, info in slices["columns"].items():
        for metric, g in info["gap"].items():
            lines.append(f"- {col} {metric}: {g['gap']:.4f} ({g['min']} → {g['max']})")
    lines += ["", "## Permutation importance (ROC-AUC drop, top features)", ""]
    return "\n".join(lines + tasks.importance_lines(importance)) + "\n"
