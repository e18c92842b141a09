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
LOWER_IS_BETTER = frozenset({"log_loss", "brier"})
DEFAULT_PRIMARY = "roc_auc"


def fmt(x: float | None, spec: str = ".4f", missing: str = "-") -> str:
    """A number for a report: `spec` formatting, `missing` when there is none."""
    return missing if x is None else format(x, spec)
