"""The report's curves: the test split's ROC and precision-recall curves (binary; micro-averaged
one-vs-rest for multiclass) and a regression model's mean residual by prediction, resampled
onto one grid so that base and head draw as two lines of one chart."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gitml.review.snapshot import Snapshot

# Curves are resampled onto this grid: Mermaid spaces the points of a line evenly over the
# x axis, so every curve needs the same evenly spaced x values; 41 points (step 0.025) <= 50.
GRID = np.round(np.linspace(0.0, 1.0, 41), 3)


@dataclass(frozen=True)
class Curve:
    title: str
    x_label: str
    y_label: str
    base: list[float] | None  # y on GRID
    head: list[float] | None
    y_range: tuple[float, float] = (0.0, 1.0)  # a regression curve is in the target's units


def resample_roc(points: list[dict[str, Any]]) -> list[float]:
    """TPR on GRID: at each FPR the highest TPR (a ROC curve's vertical steps), then linear."""
    fpr = np.array([p["fpr"] for p in points], dtype=float)
    tpr = np.array([p["tpr"] for p in points], dtype=float)
    xs = np.unique(fpr)
    ys = np.array([tpr[fpr == x].max() for x in xs])
    if xs[0] > 0:  # every ROC curve starts at (0, 0)
        xs, ys = np.r_[0.0, xs], np.r_[0.0, ys]
    return [round(float(v), 3) for v in np.clip(np.interp(GRID, xs, ys), 0, 1)]


def resample_pr(points: list[dict[str, Any]]) -> list[float]:
    """Interpolated precision on a recall GRID: the best precision at recall >= r (the usual
    PR envelope; it is what a threshold could achieve). Precision 0 past the largest recall."""
    recall = np.array([p["recall"] for p in points], dtype=float)
    precision = np.array([p["precision"] for p in points], dtype=float)
    order = np.argsort(-recall, kind="stable")
    rec, best = recall[order], np.maximum.accumulate(precision[order])
    out = []
    for r in GRID:
        reach = np.nonzero(rec >= r - 1e-12)[0]
        out.append(round(float(best[reach[-1]]), 3) if len(reach) else 0.0)
    return out


def _curve_rows(doc: Any, key: str) -> list[dict[str, Any]] | None:
    rows = doc.get(key) if isinstance(doc, dict) else None
    return rows if isinstance(rows, list) and rows else None


def residual_curve(points: list[dict[str, Any]]) -> list[float]:
    """A regression model's calibration.json (mean predicted and mean actual per equal-count
    bin of the prediction) as the mean residual, actual minus predicted, on GRID: the share of
    test rows ranked by prediction (each bin at its middle)."""
    pred = np.array([p["prob_pred"] for p in points], dtype=float)
    true = np.array([p["prob_true"] for p in points], dtype=float)
    middles = (np.arange(len(points)) + 0.5) / len(points)
    return [round(float(v), 3) for v in np.interp(GRID, middles, true - pred)]


def _symmetric(*series: list[float] | None) -> tuple[float, float]:
    top = max((abs(v) for s in series if s for v in s), default=1.0)
    top = float(f"{top * 1.1:.2g}") or 1.0
    return (-top, top)


def curves(base: Snapshot | None, head: Snapshot) -> list[Curve]:
    if head.task == "regression":  # no ROC or precision-recall
        rows = [
            _curve_rows(s.get("calibration"), "calibration") if s else None for s in (base, head)
        ]
        b, h = (residual_curve(r) if r else None for r in rows)
        return [
            Curve(
                "Mean residual by prediction",
                "Share of test rows, ranked by prediction",
                "Actual - predicted (mean)",
                b,
                h,
                _symmetric(b, h),
            )
        ][: 1 if h or b else 0]
    # multiclass: micro-averaged one-vs-rest curves (pipeline.evaluate_tasks)
    micro = " (one-vs-rest, micro-averaged)" if head.task == "multiclass" else ""
    # the note goes in the axis labels: the title names the chart's PNG (review.charts)

    def pick(snap: Snapshot | None, name: str, key: str, fn: Any) -> list[float] | None:
        rows = _curve_rows(snap.get(name), key) if snap else None
        return fn(rows) if rows else None

    out = [
        Curve(
            "ROC",
            f"False positive rate{micro}",
            "True positive rate",
            pick(base, "roc", "roc", resample_roc),
            pick(head, "roc", "roc", resample_roc),
        ),
        Curve(
            "Precision-recall",
            f"Recall{micro}",
            "Precision",
            pick(base, "pr", "precision_recall", resample_pr),
            pick(head, "pr", "precision_recall", resample_pr),
        ),
    ]
    return [c for c in out if c.head is not None or c.base is not None]
