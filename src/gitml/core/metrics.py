"""The metric vocabulary: what evaluate writes to reports/evaluate/metrics.json, in which order
people read it, which way is better, and which metric is primary unless params say otherwise."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    import numpy as np

# The metrics evaluate writes, as params may name them (the order of the allowed-values list):
# the binary ones, then the multiclass and the regression ones (TASK_METRICS says which task
# has which; the params check refuses a rule naming a metric the task lacks).
GateMetric = Literal[
    "roc_auc",
    "pr_auc",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "log_loss",
    "brier",
    "roc_auc_ovr",
    "balanced_accuracy",
    "f1_macro",
    "f1_weighted",
    "rmse",
    "mae",
    "r2",
    "mape",
]
# per-slice metrics in reports/evaluate/slices.json (TASK_SLICE_METRICS: which task has which)
SliceMetric = Literal["roc_auc", "recall", "roc_auc_ovr", "balanced_accuracy", "rmse", "mae"]
# The order in which evaluation.md and the PR report list them.
READING_ORDER = ("roc_auc", "pr_auc", "log_loss", "brier", "accuracy", "precision", "recall", "f1")
# Per task (keyed by core.tasks.Task's values, which are str): the headline metrics in reading
# order, the slice metrics, and the primary metric unless params say otherwise.
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "binary": READING_ORDER,
    "multiclass": (
        "roc_auc_ovr",
        "log_loss",
        "accuracy",
        "balanced_accuracy",
        "f1_macro",
        "f1_weighted",
    ),
    "regression": ("rmse", "mae", "r2", "mape"),
}
TASK_SLICE_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("roc_auc", "recall"),
    "multiclass": ("roc_auc_ovr", "balanced_accuracy"),
    "regression": ("rmse", "mae"),
}
TASK_PRIMARY = {"binary": "roc_auc", "multiclass": "roc_auc_ovr", "regression": "rmse"}
# Which way is better, for every number evaluate writes to metrics.json, slices.json and
# recent.json: the one list the PR report, the gate and the site read (a test checks that
# every number the pipeline writes is in exactly one of the three).
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "ece", "ece_uncalibrated", "rmse", "mae", "mape"})
HIGHER_IS_BETTER = frozenset(
    {
        "roc_auc",
        "pr_auc",
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc_ovr",
        "balanced_accuracy",
        "f1_macro",
        "f1_weighted",
        "r2",
    }
)
# The metrics bounded in [0, 1] (scores, shares, the Brier score and calibration errors): how
# much worse one may get is within ±1. The others are unbounded on at least one side (rmse,
# mae in the target's units; mape, log_loss; r2 has no lower bound), so any finite change can
# be meant (params: promotion.max_drop, max_drops, recent_max_drop).
UNIT_INTERVAL = (frozenset(get_args(GateMetric)) - {"rmse", "mae", "mape", "log_loss", "r2"}) | {
    "ece",
    "ece_uncalibrated",
}
# Facts of the run, neither better nor worse: a count, the chosen threshold, a slice's share of
# positives (or mean target), the confusion matrix's cells, a slice gap's size (gaps are judged
# by the gate).
NEUTRAL = frozenset(
    {
        "rows",
        "threshold",
        "positive_rate",
        "target_mean",
        "confusion",
        "tn",
        "fp",
        "fn",
        "tp",
        "gap",
        "max_gap",
    }
)


def direction(name: str) -> Literal["higher", "lower", "neutral"] | None:
    """Which way is better for a number the pipeline writes; None for a name it does not."""
    if name in HIGHER_IS_BETTER:
        return "higher"
    if name in LOWER_IS_BETTER:
        return "lower"
    return "neutral" if name in NEUTRAL else None


def task_of_metrics(*files: Any) -> str:
    """The task whose numbers metrics.json (or a slice's metrics) hold, told by the names: only
    a multiclass model writes roc_auc_ovr, only a regression one rmse. A fallback for files
    with no recorded task (no models/model.json, no params.yaml beside them: older versions);
    where the task is recorded (core.tasks.recorded_task), that is read instead."""
    for task in ("multiclass", "regression"):
        if any(isinstance(f, dict) and TASK_PRIMARY[task] in f for f in files):
            return task
    return "binary"


def rounded(x: float | None, digits: int = 6) -> float | None:
    """A number as the reports store it: rounded, and None when missing or not finite (NaN
    would not survive JSON and would compare unequal to itself in the reproduction check)."""
    return None if x is None or not math.isfinite(x) else round(float(x), digits)


def fmt(x: float | None, spec: str = ".4f", missing: str = "-") -> str:
    """A number for a report: `spec` formatting, `missing` when there is none."""
    return missing if x is None else format(x, spec)


def compute_metrics(y: np.ndarray, score: np.ndarray, threshold: float) -> dict[str, Any]:
    """The binary metrics of scores against 0/1 labels at a threshold, as metrics.json holds them.
    Used by evaluate (the test split) and by the PR report's recent-data section."""
    # scikit-learn is imported here, not at the top: config imports this module for the metric
    # names, and every CLI command would otherwise pay for scikit-learn at start-up.
    from sklearn import metrics as skm

    pred = (score >= threshold).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y, pred, labels=[0, 1]).ravel()
    return {
        "roc_auc": rounded(skm.roc_auc_score(y, score)),
        "pr_auc": rounded(skm.average_precision_score(y, score)),
        "log_loss": rounded(skm.log_loss(y, score, labels=[0, 1])),
        "brier": rounded(skm.brier_score_loss(y, score)),
        "accuracy": rounded(skm.accuracy_score(y, pred)),
        "precision": rounded(skm.precision_score(y, pred, zero_division=0)),
        "recall": rounded(skm.recall_score(y, pred, zero_division=0)),
        "f1": rounded(skm.f1_score(y, pred, zero_division=0)),
        "threshold": rounded(threshold),
        "rows": len(y),
        "confusion": {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)},
    }


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """RMSE, MAE, R² and (only when no target is zero, where it is undefined) MAPE."""
    import numpy as np
    from sklearn import metrics as skm

    out: dict[str, Any] = {
        "rmse": rounded(skm.root_mean_squared_error(y, pred)),
        "mae": rounded(skm.mean_absolute_error(y, pred)),
        "r2": rounded(skm.r2_score(y, pred)) if len(y) > 1 else None,
    }
    if len(y) and not np.any(y == 0):
        out["mape"] = rounded(skm.mean_absolute_percentage_error(y, pred))
    return out | {"rows": len(y)}


def multiclass_metrics(y: np.ndarray, proba: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """The multiclass metrics of class probabilities (columns in `classes` order) against class
    codes 0..K-1: the label is the most probable class. One-vs-rest ROC-AUC needs every class
    among the rows (None otherwise); per-class precision and recall sit under `per_class`."""
    import numpy as np
    from sklearn import metrics as skm

    codes = list(range(len(classes)))
    pred = proba.argmax(axis=1)
    every_class = len(np.unique(y)) == len(classes)
    precision, recall, _, support = skm.precision_recall_fscore_support(
        y, pred, labels=codes, zero_division=0
    )
    return {
        "roc_auc_ovr": rounded(
            skm.roc_auc_score(y, proba, multi_class="ovr", labels=codes) if every_class else None
        ),
        "log_loss": rounded(skm.log_loss(y, proba, labels=codes)),
        "accuracy": rounded(skm.accuracy_score(y, pred)),
        "balanced_accuracy": rounded(macro_recall(y, pred)),
        "f1_macro": rounded(skm.f1_score(y, pred, labels=codes, average="macro", zero_division=0)),
        "f1_weighted": rounded(
            skm.f1_score(y, pred, labels=codes, average="weighted", zero_division=0)
        ),
        "rows": len(y),
        "per_class": {
            name: {"rows": int(n), "precision": rounded(p), "recall": rounded(r)}
            for name, n, p, r in zip(classes, support, precision, recall, strict=True)
        },
        "confusion": {
            "classes": list(classes),
            "matrix": skm.confusion_matrix(y, pred, labels=codes).tolist(),
        },
    }


def macro_recall(y: np.ndarray, pred: np.ndarray) -> float:
    """Balanced accuracy: the mean recall over the classes present in `y` (scikit-learn's
    balanced_accuracy_score, without its warning for a predicted class absent from `y`)."""
    from sklearn import metrics as skm

    present = sorted({int(v) for v in y})
    return float(skm.recall_score(y, pred, labels=present, average="macro", zero_division=0))
