"""The labelled rows of one version as the canary's bootstrap reads them, per task.

A resample is a vector of counts per row (`counts`), so each task's metric is computed from
count-weighted sums over rows prepared once, for a batch of resamples at a time: binary ROC-AUC
as the weighted Mann-Whitney sum over rows sorted by score once (`Sorted`), accuracy and MAE as
weighted means, RMSE as the root of one (`Errors`), macro-F1 from per-class weighted counts
(`Classes`). Each `weighted(w, metric)` returns (the metric, accuracy) per row of `w`
(batch x rows); accuracy is NaN for regression, which has no misclassification.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Sorted:
    """Labelled rows sorted by score once: tie groups, labels and correctness per row."""

    y: np.ndarray
    starts: np.ndarray  # first row of each group of equal scores
    correct: np.ndarray

    @staticmethod
    def of(scores: np.ndarray, y: np.ndarray, threshold: float) -> Sorted:
        order = np.argsort(scores, kind="stable")
        s, yy = scores[order], y[order].astype("float64")
        starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
        correct = ((s >= threshold).astype("int64") == yy).astype("float64")
        return Sorted(yy, starts, correct)

    def __len__(self) -> int:
        return len(self.y)

    def weighted(self, w: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
        return binary_weighted(self, w, metric)


@dataclass(frozen=True)
class Classes:
    """Multiclass labelled rows: the top class against the true one, as one-hot columns per
    class of the model, so that each class's counts under weights are one product."""

    correct: np.ndarray  # rows
    predicted: np.ndarray  # rows x classes, one-hot of the top class
    true: np.ndarray  # rows x classes, one-hot of the true class (all 0: a class it lacks)

    @staticmethod
    def of(probs: np.ndarray, y: np.ndarray) -> Classes:
        k = probs.shape[1]
        pred = probs.argmax(axis=1)  # the first of equals, as the served class
        eye = np.eye(k)
        true = np.where((y >= 0)[:, None], eye[np.clip(y, 0, k - 1)], 0.0)
        return Classes((pred == y).astype("float64"), eye[pred], true)

    def __len__(self) -> int:
        return len(self.correct)

    def weighted(self, w: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """(accuracy or macro-F1, accuracy) per row of weights; macro-F1 as core.metrics':
        every class of the model, 0 for a class whose F1 is undefined."""
        acc = (w @ self.correct) / w.sum(axis=1)
        if metric == "accuracy":
            return acc, acc
        tp = w @ (self.predicted * self.correct[:, None])
        den = w @ self.predicted + w @ self.true  # 2 tp + fp + fn
        f1 = np.divide(2 * tp, den, out=np.zeros_like(den), where=den > 0)
        return f1.mean(axis=1), acc


@dataclass(frozen=True)
class Errors:
    """Regression labelled rows: each prediction's absolute error (its square for RMSE)."""

    abs_error: np.ndarray

    @staticmethod
    def of(predicted: np.ndarray, y: np.ndarray) -> Errors:
        return Errors(np.abs(np.asarray(predicted, "float64") - np.asarray(y, "float64")))

    def __len__(self) -> int:
        return len(self.abs_error)

    def weighted(self, w: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """(MAE or RMSE, NaN: no misclassification) per row of weights."""
        err = self.abs_error if metric == "mae" else self.abs_error**2
        mean = (w @ err) / w.sum(axis=1)
        return (mean if metric == "mae" else np.sqrt(mean)), np.full(len(w), np.nan)


Rows = Sorted | Classes | Errors


def counts(idx: np.ndarray, n: int) -> np.ndarray:
    """Resampled row indices (batch x n) as counts per row (batch x n)."""
    idx = np.atleast_2d(idx)
    offsets = (np.arange(idx.shape[0]) * n)[:, None]
    flat = np.bincount((idx + offsets).ravel(), minlength=idx.shape[0] * n)
    return flat.reshape(idx.shape[0], n).astype("float64")


def binary_weighted(data: Sorted, w: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(metric, accuracy) of each row of count weights `w` (batch x rows)."""
    acc = (w @ data.correct) / w.sum(axis=1)
    if metric == "accuracy":
        return acc, acc
    pos = np.add.reduceat(w * data.y, data.starts, axis=1)
    neg = np.add.reduceat(w * (1 - data.y), data.starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg  # negatives strictly below each score group
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (pos * (below + 0.5 * neg)).sum(axis=1) / (pos.sum(axis=1) * neg.sum(axis=1))
    return auc, acc
