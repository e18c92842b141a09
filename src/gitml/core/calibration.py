"""Calibration of scores: the expected calibration error and the out-of-fold choice of a map.

Guo et al. 2017 ("On Calibration of Modern Neural Networks") define the expected calibration
error (ECE) over equal-width confidence bins. scikit-learn has a calibration curve but no ECE,
so it is written here by hand (a few lines, tested against values worked out by hand).

`choose_method` picks isotonic or sigmoid (Platt) calibration by cross-validated log loss of
the two maps fitted on out-of-fold scores: the same two maps `CalibratedClassifierCV` fits
(isotonic regression clipped to the training range; Platt's sigmoid, a logistic regression on
the decision function, which for gitml's families is the logit of the score).

`choose_multiclass` does the same for a multiclass model, among none, isotonic and sigmoid:
calibration can make such a model worse (a 4-class HistGradientBoosting measured worse test log
loss and ECE with either map), so it is applied only when it helps out of fold. Its maps are
exactly the ones `CalibratedClassifierCV` fits (`_fit_calibrator`): per class k, an
`IsotonicRegression(out_of_bounds="clip")` or a `_SigmoidCalibration` on the estimator's
response column k (its decision function) against y == k, then `normalise` as
`_CalibratedClassifier.predict_proba` does (the serving fast path shares it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Method = Literal["isotonic", "sigmoid"]
METHODS: tuple[Method, ...] = ("isotonic", "sigmoid")
MulticlassMethod = Literal["none", "isotonic", "sigmoid"]
# in this order: on equal log loss the model stays as it is
MULTICLASS_METHODS: tuple[MulticlassMethod, ...] = ("none", "isotonic", "sigmoid")
# Below this many rows `auto` does not pick isotonic for a multiclass model (its log loss is
# still recorded). scikit-learn's user guide: isotonic regression over-fits small sets (it
# suggests it above about 1,000 rows); its step maps can give a class exactly 0, and one test
# row of that class then costs ~36 of log loss. On load_wine (142 train rows) isotonic won the
# cross-validated log loss by 0.0003 and raised the test log loss from 0.05 to 1.03.
ISOTONIC_MIN_ROWS = 1_000
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


@dataclass(frozen=True)
class MulticlassChoice:
    method: MulticlassMethod
    log_loss: dict[str, float]  # per option, "none" included
    calibrated: np.ndarray  # (rows, classes): the chosen option's out-of-fold probabilities


def class_maps(method: Method, response: np.ndarray, y: np.ndarray) -> list[object]:
    """One map per class as scikit-learn's `_fit_calibrator` fits them: on response column k
    against y == k (the classes are the codes 0..K-1, the columns of `response`)."""
    from sklearn.calibration import _SigmoidCalibration
    from sklearn.isotonic import IsotonicRegression

    maps: list[object] = []
    for k in range(response.shape[1]):
        target = (y == k).astype(np.int64)  # label_binarize's column k
        cal = IsotonicRegression(out_of_bounds="clip") if method == "isotonic" else None
        maps.append((cal or _SigmoidCalibration()).fit(response[:, k], target))
    return maps


def apply_class_maps(maps: list[object], response: np.ndarray) -> np.ndarray:
    """The calibrated probabilities of `maps` (`class_maps`) on `response`."""
    proba = np.zeros((len(response), len(maps)))
    for k, m in enumerate(maps):
        proba[:, k] = m.predict(response[:, k])  # type: ignore[attr-defined]
    return normalise(proba)


def normalise(proba: np.ndarray) -> np.ndarray:
    """`_CalibratedClassifier.predict_proba`'s last steps for 3+ classes (scikit-learn 1.9),
    the same operations in the same order: each row divided by its sum (a row whose every map
    gave 0 becomes uniform), then values a hair above 1 clipped to 1. `proba` is overwritten."""
    denominator = np.sum(proba, axis=1)[:, np.newaxis]
    uniform = np.full_like(proba, 1 / proba.shape[1])
    proba = np.divide(proba, denominator, out=uniform, where=denominator != 0)
    proba[(proba > 1.0) & (proba <= 1.0 + 1e-5)] = 1.0
    return proba


def cross_fit_classes(
    method: Method, response: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """Class probabilities calibrated by `method`, each fold's maps fitted on the other folds."""
    out = np.zeros(response.shape)
    for fit_idx, apply_idx in folds:
        maps = class_maps(method, response[fit_idx], y[fit_idx])
        out[apply_idx] = apply_class_maps(maps, response[apply_idx])
    return out


def choose_multiclass(
    proba: np.ndarray,
    response: np.ndarray,
    y: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    fixed: Method | None = None,
) -> MulticlassChoice:
    """None, isotonic (from ISOTONIC_MIN_ROWS rows) or sigmoid, whichever has the lowest
    cross-validated log loss (or `fixed`). `proba`: the out-of-fold probabilities;
    `response`: the out-of-fold response the maps are fitted on (decision function, as
    CalibratedClassifierCV uses)."""
    from sklearn.metrics import log_loss

    labels = list(range(proba.shape[1]))
    scores: dict[str, np.ndarray] = {"none": proba}
    for method in METHODS:
        scores[method] = cross_fit_classes(method, response, y, folds)
    # log_loss clips at the float's resolution itself: an exact 0 for the true class costs ~36
    losses = {m: float(log_loss(y, s, labels=labels)) for m, s in scores.items()}
    allowed = [m for m in MULTICLASS_METHODS if m != "isotonic" or len(y) >= ISOTONIC_MIN_ROWS]
    best: MulticlassMethod = fixed if fixed is not None else min(allowed, key=lambda m: losses[m])
    return MulticlassChoice(best, losses, scores[best])
