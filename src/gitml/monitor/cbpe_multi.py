"""Multiclass CBPE: estimated accuracy and macro-F1 from calibrated class probabilities.

The binary CBPE (estimate.py) extended to K classes, as NannyML does for multiclass
(https://nannyml.readthedocs.io, "Confidence-based Performance Estimation"): when row i's
probabilities P[i, k] are calibrated, its true class is k with probability P[i, k]. The model
decides pred_i = argmax_k P[i, k] (the first of equals, as scikit-learn's predict), so

    expected accuracy        = mean_i P[i, pred_i]             (the mean top probability)
    expected confusion C[k, j] = Σ_{i: pred_i = j} P[i, k]      (true k, predicted j)

and per class tp_k = C[k, k], fp_k = (rows predicted k) - tp_k, fn_k = Σ_i P[i, k] - tp_k give
the F1 of each class's expected counts; macro-F1 is their mean over the classes the window
holds or the model decides (`_f1_macro`: a class with neither has no F1; on the test split,
where every class occurs, this is core.metrics' figure).
That F1 of expected counts is not the expected F1 (a ratio; it overstates where a class has few
rows), so up to MAX_BAND_ROWS rows the estimate is the mean F1 of the band's label draws instead
(`estimate`); above, the two agree to within the draws' own noise.

Calibration on the reference, as NannyML's multiclass CBPE does: the probabilities a model
serves are often not calibrated per class (scikit-learn's CalibratedClassifierCV averages its
folds' probabilities, which makes the top one under-confident; a model trained without
calibration may be over-confident). So one isotonic map per class (one-vs-rest, P[:, k] against
y == k) is fitted on the test split's probabilities and truth (`fit_calibrators`), applied to
every window and the rows renormalised to sum to 1 (`calibrate`). Where the test split is
large enough, gitml.monitor.cbpe_inputs first corrects the probabilities by region of the inputs
(a covariate shift selects a region). The DECISIONS stay the served probabilities' argmax; only
the chance that each is right comes from the calibrated ones.

The sampling band: the labels are independent categorical draws from each row's
probabilities; the realized metrics' standard deviation over `DRAWS` seeded draws is the band's
sigma, as for the binary estimate. Written by hand for the reason estimate.py gives.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gitml.monitor.common import MAX_BAND_ROWS, band_sample

DRAWS = 400


def _f1_macro(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> float:
    """The mean F1 of the classes the window holds or the model decides. A class with neither
    (tp = fp = fn = 0) has no F1 and is left out, as scikit-learn's macro average without
    `labels` leaves it: a covariate shift can leave a class out of a window, and counting it as
    0 scored a window with every row right (K - 1) / K, a live-quality alarm."""
    den = 2 * tp + fp + fn
    held = den > 0
    return float((2 * tp[held] / den[held]).mean()) if held.any() else float("nan")


def fit_calibrators(probs: np.ndarray, y: np.ndarray) -> list[Any]:
    """One isotonic map per class, from the test split's probabilities and class codes."""
    from sklearn.isotonic import IsotonicRegression

    p, y = np.asarray(probs, dtype="float64"), np.asarray(y, dtype="int64")
    return [
        IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p[:, k], y == k)
        for k in range(p.shape[1])
    ]


def calibrate(calibrators: list[Any], probs: np.ndarray) -> np.ndarray:
    """The probabilities through the per-class maps, each row renormalised to sum to 1 (a row
    the maps send to all zeros keeps its served probabilities)."""
    p = np.asarray(probs, dtype="float64")
    if not len(p):
        return p
    q = np.column_stack([c.predict(p[:, k]) for k, c in enumerate(calibrators)])
    total = q.sum(axis=1, keepdims=True)
    return np.where(total > 0, q / np.where(total > 0, total, 1.0), p)


def estimate(probs: np.ndarray, calibrated: np.ndarray | None = None) -> dict[str, float | None]:
    """Expected accuracy and macro-F1 of the decisions argmax(probs) (rows x classes), each
    row of class k with probability calibrated[i, k] (default: the probabilities themselves).

    Accuracy is a mean, so its expectation is exact. Macro-F1 is a mean of ratios, and the ratio
    of the expected counts overstates it where a class has few rows (Jensen's inequality: on the
    bench, 0.017 on a 2,000-row window where one class is rare). So up to MAX_BAND_ROWS rows it
    is the mean over DRAWS seeded draws of the labels; above that, where the gap has shrunk as
    1/rows, the ratio of the expected counts."""
    p = np.asarray(probs, dtype="float64")
    if not len(p):
        return {"accuracy": None, "f1_macro": None}
    q = p if calibrated is None else np.asarray(calibrated, dtype="float64")
    pred = p.argmax(axis=1)
    k = p.shape[1]
    tp = q[np.arange(len(q)), pred]
    if len(p) <= MAX_BAND_ROWS:
        f1 = float(_drawn(p, q, DRAWS)[0][:, 1].mean())
    else:
        tp_k = np.bincount(pred, weights=tp, minlength=k)
        predicted_k = np.bincount(pred, minlength=k).astype("float64")
        # expected counts are never exactly 0: a class the model never decides counts (with
        # its F1 of 0) only where the window more likely holds it than not, as in the draws
        with np.errstate(divide="ignore"):
            none_of_it = np.exp(np.log1p(-np.clip(q, 0.0, 1.0)).sum(axis=0))
        held = (predicted_k > 0) | (none_of_it < 0.5)
        f1 = _f1_macro(tp_k[held], (predicted_k - tp_k)[held], (q.sum(axis=0) - tp_k)[held])
    return {"accuracy": float(tp.mean()), "f1_macro": f1}


def realized(y: np.ndarray, probs: np.ndarray) -> dict[str, float | None]:
    """Accuracy and macro-F1 of argmax(probs) against class codes `y` (= core.metrics' when the
    window holds every class; a class neither held nor decided is left out of the mean)."""
    p = np.asarray(probs, dtype="float64")
    if not len(p):
        return {"accuracy": None, "f1_macro": None}
    acc, f1 = _metrics_of_labels(np.asarray(y, "int64"), p.argmax(axis=1), p.shape[1])
    return {"accuracy": acc, "f1_macro": f1}


def _metrics_of_labels(y: np.ndarray, pred: np.ndarray, k: int) -> tuple[float, float]:
    right = y == pred
    tp = np.bincount(pred[right], minlength=k).astype("float64")
    fp = np.bincount(pred, minlength=k) - tp
    fn = np.bincount(y, minlength=k) - tp
    return float(right.mean()), _f1_macro(tp, fp, fn)


def sampling_sd(
    probs: np.ndarray, calibrated: np.ndarray | None = None, draws: int = DRAWS
) -> dict[str, float]:
    """Standard deviation of the realized accuracy and macro-F1 of argmax(probs) when each
    row's class is drawn from `calibrated` (default: the probabilities). Above MAX_BAND_ROWS
    rows: a seeded subsample, the deviation scaled by sqrt(subsample / rows)."""
    p = np.asarray(probs, dtype="float64")
    if not len(p):
        return {"accuracy": float("nan"), "f1_macro": float("nan")}
    out, scale = _drawn(p, p if calibrated is None else np.asarray(calibrated, "float64"), draws)
    sd = out.std(axis=0) * scale
    return {"accuracy": float(sd[0]), "f1_macro": float(sd[1])}


def _drawn(p: np.ndarray, q: np.ndarray, draws: int) -> tuple[np.ndarray, float]:
    """(draws, 2) realized accuracy and macro-F1 of argmax(p), labels drawn from q (seeded; a
    subsample above MAX_BAND_ROWS rows), and the deviation's scale for that subsample."""
    rng, scale, (p, q) = band_sample(p, q)
    pred, k = p.argmax(axis=1), p.shape[1]
    cum = np.cumsum(q, axis=1)
    cum[:, -1] = np.inf  # rows summing to 1 - 1e-16 still draw a class
    out = np.empty((draws, 2))
    for d in range(draws):
        y = (rng.random(len(p))[:, None] >= cum).sum(axis=1)
        out[d] = _metrics_of_labels(y, pred, k)
    return out, scale
