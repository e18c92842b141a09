"""Calibration of scores: the expected calibration error and the out-of-fold choice of a map.

Guo et al. 2017 ("On Calibration of Modern Neural Networks") define the expected calibration
error (ECE) over equal-width confidence bins. scikit-learn has a calibration curve but no ECE,
so it is written here by hand (a few lines, tested against values worked out by hand).

`choose_method` picks isotonic or sigmoid (Platt) calibration by cross-validated log loss of
the two maps fitted on out-of-fold scores: the same two maps `CalibratedClassifierCV` fits
(isotonic regression clipped to the training range; Platt's sigmoid, a logistic regression on
the decision function, which for gitml's families is the logit of the score).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Method = Literal["isotonic", "sigmoid"]
METHODS: tuple[Method, ...] = ("isotonic", "sigmoid")
ECE_BINS = 10


def expected_calibration_error(y: np.ndarray, score: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE: Σ_b (n_b / n) · |mean(y in b) - mean(score in b)| over `bins` equal-width score
    bins on [0, 1] (a score of exactly 1 falls in the last bin)."""
    y = np.asarray(y, dtype="float64")
    s = np.asarray(score, dtype="float64")
    if len(y) == 0:
        raise ValueError("expected_calibration_error needs at least one row")
    idx = np.clip((s * bins).astype(int), 0, bins - 1)
    sum_y = np.bincount(idx, weights=y, minlength=bins)
    sum_s = np.bincount(idx, weights=s, minlength=bins)
    return float(np.abs(sum_y - sum_s).sum() / len(y))


@dataclass(frozen=True)
class Choice:
    method: Method
    log_loss: dict[str, float]  # per method, and "none" for the raw scores
    calibrated: np.ndarray  # the chosen map's cross-fitted scores (out of fold, twice over)


def _fit_map(method: Method, score: np.ndarray, y: np.ndarray):  # type: ignore[no-untyped-def]
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(score, y)
        return lambda s: iso.predict(s)
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e6).fit(_logit(score), y)
    return lambda s: lr.predict_proba(_logit(s))[:, 1]


def _logit(score: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(score, dtype="float64"), 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p)).reshape(-1, 1)


def cross_fit(
    method: Method, score: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """Scores calibrated by `method`, each fold's map fitted on the other folds."""
    out = np.zeros(len(y))
    for fit_idx, apply_idx in folds:
        out[apply_idx] = _fit_map(method, score[fit_idx], y[fit_idx])(score[apply_idx])
    return out


def choose_method(
    score: np.ndarray,
    y: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    fixed: Method | None = None,
) -> Choice:
    """The calibration map with the lower cross-validated log loss (or `fixed`)."""
    from sklearn.metrics import log_loss

    losses = {"none": float(log_loss(y, np.clip(score, 1e-15, 1 - 1e-15), labels=[0, 1]))}
    fitted = {}
    for method in METHODS:
        fitted[method] = cross_fit(method, score, y, folds)
        clipped = np.clip(fitted[method], 1e-15, 1 - 1e-15)
        losses[method] = float(log_loss(y, clipped, labels=[0, 1]))
    best: Method = fixed if fixed is not None else min(METHODS, key=lambda m: losses[m])
    return Choice(best, losses, fitted[best])
