"""The metric vocabulary: what evaluate writes to reports/evaluate/metrics.json, in which order
people read it, which way is better, and which metric is primary unless params say otherwise."""

from __future__ import annotations

from typing import Literal

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


def fmt(x: float | None, spec: str = ".4f", missing: str = "-") -> str:
    """A number for a report: `spec` formatting, `missing` when there is none."""
    return missing if x is None else format(x, spec)
