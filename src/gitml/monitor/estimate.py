"""Estimated quality before labels arrive: confidence-based performance estimation (CBPE).

The method is NannyML's CBPE (https://nannyml.readthedocs.io, "Confidence-based Performance
Estimation"), which rests on calibration (Guo, Pleiss, Sun, Weinberger 2017, "On Calibration of
Modern Neural Networks"): when a score p_i is calibrated, row i is positive with probability
p_i. With the decision threshold t, the expected confusion matrix of unlabelled rows is

    TP = Σ_{p_i ≥ t} p_i      FP = Σ_{p_i ≥ t} (1 - p_i)
    FN = Σ_{p_i < t} p_i      TN = Σ_{p_i < t} (1 - p_i)

and accuracy, precision, recall and F1 follow from it. ROC-AUC is estimated from the expected
ROC curve: with the rows sorted by score, the expected true- and false-positive rates at each
cut are cumsum(p) / Σp and cumsum(1 - p) / Σ(1 - p).

This holds while only the inputs move (covariate shift: P(y | x) unchanged) and the scores stay
calibrated. A change of P(y | x) itself (concept drift) leaves the scores, hence the estimate,
unchanged: only labels reveal it. So when feedback exists, the realized metric on the same
rows is compared with the estimate; a gap beyond the sampling band is its own alarm.

The sampling band: given calibrated scores, the labels are independent Bernoulli(p_i) draws,
so the realized metric of the window is a random variable. Its standard deviation is measured
by drawing the labels `DRAWS` times (seeded, vectorised); the band is ± `band_sigmas` of it.

Written by hand: NannyML 0.13 pulls FLAML, LightGBM, plotly < 6, kaleido, gcsfs and a telemetry
client, too much for a few lines of arithmetic. Tested against closed forms in
tests/unit/monitor/test_estimate.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from gitml.monitor.common import rounded as _num

if TYPE_CHECKING:
    from gitml.config import MonitorConfig
    from gitml.monitor.current import Current
    from gitml.monitor.reference import Reference

METRICS = ("roc_auc", "accuracy", "precision", "recall", "f1")
DRAWS = 400
MAX_BAND_ROWS = 20_000
_SEED = 20170614  # fixed: the band is a property of the scores, not of a run


def _ratio(num: float, den: float) -> float | None:
    return float(num / den) if den > 0 else None


def expected_confusion(scores: np.ndarray, threshold: float) -> dict[str, float]:
    p = np.asarray(scores, dtype="float64")
    pos = p >= threshold
    return {
        "tp": float(p[pos].sum()),
        "fp": float((1 - p[pos]).sum()),
        "fn": float(p[~pos].sum()),
        "tn": float((1 - p[~pos]).sum()),
    }


def expected_roc_auc(scores: np.ndarray) -> float | None:
    """Area under the expected ROC curve (tied scores form one step of the curve)."""
    p = np.asarray(scores, dtype="float64")
    pos, neg = p.sum(), (1 - p).sum()
    if pos <= 0 or neg <= 0:
        return None
    values, inverse = np.unique(-p, return_inverse=True)  # descending score groups
    tp = np.bincount(inverse, weights=p, minlength=len(values))
    fp = np.bincount(inverse, weights=1 - p, minlength=len(values))
    tpr = np.concatenate([[0.0], np.cumsum(tp) / pos])
    fpr = np.concatenate([[0.0], np.cumsum(fp) / neg])
    return float(np.trapezoid(tpr, fpr))


def estimate(scores: np.ndarray, threshold: float) -> dict[str, float | None]:
    """The CBPE estimates of METRICS for calibrated `scores` at `threshold`."""
    c = expected_confusion(scores, threshold)
    n = c["tp"] + c["fp"] + c["fn"] + c["tn"]
    return {
        "roc_auc": expected_roc_auc(scores),
        "accuracy": _ratio(c["tp"] + c["tn"], n),
        "precision": _ratio(c["tp"], c["tp"] + c["fp"]),
        "recall": _ratio(c["tp"], c["tp"] + c["fn"]),
        "f1": _ratio(2 * c["tp"], 2 * c["tp"] + c["fp"] + c["fn"]),
    }


def _metrics_of_labels(y: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, Any]:
    """METRICS for each row of the 0/1 matrix `y` (draws x rows), vectorised; NaN if undefined.

    ROC-AUC is the Mann-Whitney statistic with average ranks for ties (= sklearn's)."""
    from scipy.stats import rankdata

    y = np.atleast_2d(np.asarray(y, dtype="float64"))
    s = np.asarray(scores, dtype="float64")
    pred = (s >= threshold).astype("float64")
    n = y.shape[1]
    tp = y @ pred
    fp = pred.sum() - tp
    n1 = y.sum(axis=1)
    fn = n1 - tp
    tn = n - tp - fp - fn
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (y @ rankdata(s) - n1 * (n1 + 1) / 2) / (n1 * (n - n1))
        return {
            "roc_auc": auc,
            "accuracy": (tp + tn) / n,
            "precision": tp / (tp + fp),
            "recall": tp / (tp + fn),
            "f1": 2 * tp / (2 * tp + fp + fn),
        }


def realized(y: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float | None]:
    """METRICS on labelled rows (the same arithmetic as the band, so the two are comparable)."""
    out = _metrics_of_labels(y, scores, threshold)
    return {k: (float(v[0]) if np.isfinite(v[0]) else None) for k, v in out.items()}


def sampling_sd(scores: np.ndarray, threshold: float, draws: int = DRAWS) -> dict[str, float]:
    """Standard deviation of each realized metric when the labels are Bernoulli(score).

    Above MAX_BAND_ROWS rows the draws use a seeded subsample and the deviation is scaled by
    sqrt(subsample / rows) (it shrinks as 1/sqrt(n)), which keeps memory bounded."""
    p = np.asarray(scores, dtype="float64")
    rng = np.random.default_rng(_SEED)
    scale = 1.0
    if len(p) > MAX_BAND_ROWS:
        scale = float(np.sqrt(MAX_BAND_ROWS / len(p)))
        p = p[rng.choice(len(p), MAX_BAND_ROWS, replace=False)]
    y = (rng.random((draws, len(p))) < p).astype("float64")
    out = _metrics_of_labels(y, p, threshold)
    return {
        k: float(np.nanstd(v)) * scale if np.isfinite(v).any() else float("nan")
        for k, v in out.items()
    }


def section(ref: Reference, cur: Current, cfg: MonitorConfig) -> dict[str, Any] | None:
    """The "estimated performance" part of monitoring.json, with its alarms and notes."""
    if cur.scores is None or not len(cur.scores):
        return None
    meta = ref.meta
    threshold = float(meta.get("threshold", 0.5))
    primary = cfg.estimated_metric
    scores = np.asarray(cur.scores, dtype="float64")
    est = estimate(scores, threshold)
    sd = sampling_sd(scores, threshold)
    out: dict[str, Any] = {
        "method": "CBPE (confidence-based performance estimation; NannyML, Guo et al. 2017)",
        "metric": primary,
        "threshold": threshold,
        "rows": len(scores),
        "band_sigmas": cfg.band_sigmas,
        "estimated": {k: _num(v) for k, v in est.items()},
        "band": {k: _num(cfg.band_sigmas * sd[k]) for k in METRICS},
        "reference": {k: _num((ref.metrics or {}).get(k)) for k in METRICS},
        "calibration": (meta.get("calibration") or {}).get("method", "none"),
        "feedback": None,
        "alarms": [],
        "notes": [],
    }
    if out["calibration"] == "none":
        out["notes"].append(
            "the model's scores are not calibrated (train.calibration: none, or an older "
            "model): the estimated metrics assume they are and may be biased"
        )
    ev, ref_value = est[primary], out["reference"][primary]
    if ev is not None and ref_value is not None and ref_value - ev > cfg.max_estimated_drop:
        out["alarms"].append(
            f"estimated {primary} {ev:.4f} vs {ref_value:.4f} at evaluation "
            f"(drop > {cfg.max_estimated_drop}): the inputs moved to where the model is less "
            "sure, so it is expected to do worse even before labels arrive"
        )
    if cur.y_true is None:
        return out
    has = ~np.isnan(cur.y_true)
    if has.sum() < cfg.min_feedback_rows:
        return out
    y, s = cur.y_true[has], scores[has]
    fb_est, fb_sd = estimate(s, threshold), sampling_sd(s, threshold)
    fb_real = realized(y, s, threshold)
    band = cfg.band_sigmas * fb_sd[primary]
    out["feedback"] = {
        "rows": int(has.sum()),
        "estimated": {k: _num(v) for k, v in fb_est.items()},
        "realized": {k: _num(v) for k, v in fb_real.items()},
        "band": {k: _num(cfg.band_sigmas * fb_sd[k]) for k in METRICS},
    }
    e, r = fb_est[primary], fb_real[primary]
    if e is not None and r is not None and np.isfinite(band) and abs(r - e) > band:
        side = "below" if r < e else "above"
        out["alarms"].append(
            f"concept drift: the realized {primary} {r:.4f} on {int(has.sum())} rows with "
            f"feedback is {side} the {e:.4f} ± {band:.4f} their scores predict. The relation "
            "between inputs and outcome changed (the same inputs now lead to other outcomes), "
            "which estimation from scores cannot see: retrain on recent labelled traffic"
        )
    return out
