"""The metric vocabulary: what evaluate writes to reports/evaluate/metrics.json, in which order
people read it, which way is better, and which metric is primary unless params say otherwise."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np

# The metrics evaluate writes, as params may name them (the order of the allowed-values list).
GateMetric = Literal[
    "roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1", "log_loss", "brier"
]
SliceMetric = Literal["roc_auc", "recall"]  # per-slice metrics in reports/evaluate/slices.json
# The order in which evaluation.md and the PR report list them.
READING_ORDER = ("roc_auc", "pr_auc", "log_loss", "brier", "accuracy", "precision", "recall", "f1")
# Which way is better, for every number evaluate writes to metrics.json, slices.json and
# recent.json: the one list the PR report, the gate and the site read (a test checks that
# every number the pipeline writes is in exactly one of the three).
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "ece", "ece_uncalibrated"})
HIGHER_IS_BETTER = frozenset({"roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1"})
# Facts of the run, neither better nor worse: a count, the chosen threshold, a slice's share of
# positives, the confusion matrix's cells, a slice gap's size (gaps are judged by the gate).
NEUTRAL = frozenset(
    {"rows", "threshold", "positive_rate", "confusion", "tn", "fp", "fn", "tp", "gap", "max_gap"}
)
DEFAULT_PRIMARY = "roc_auc"


def direction(name: str) -> Literal["higher", "lower", "neutral"] | None:
    """Which way is better for a number the pipeline writes; None for a name it does not."""
    if name in HIGHER_IS_BETTER:
        return "higher"
    if name in LOWER_IS_BETTER:
        return "lower"
    return "neutral" if name in NEUTRAL else None


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
