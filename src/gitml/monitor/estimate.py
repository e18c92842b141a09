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

from gitml.contracts.monitoring import Estimate, Feedback
from gitml.monitor.common import band_sample, significant
from gitml.monitor.prior import PriorShift, adjust

if TYPE_CHECKING:
    from gitml.config import MonitorConfig
    from gitml.monitor.current import Current
    from gitml.monitor.reference import Reference

METRICS = ("roc_auc", "accuracy", "precision", "recall", "f1")
DRAWS = 400


def _ratio(num: float, den: float) -> float | None:
    return float(num / den) if den > 0 else None


def expected_confusion(
    scores: np.ndarray, threshold: float, probs: np.ndarray | None = None
) -> dict[str, float]:
    """Decisions by `scores` at `threshold`; each row positive with probability `probs`
    (default: the scores themselves; under a label shift, the adjusted scores)."""
    pos = np.asarray(scores, dtype="float64") >= threshold
    p = np.asarray(scores if probs is None else probs, dtype="float64")
    return {
        "tp": float(p[pos].sum()),
        "fp": float((1 - p[pos]).sum()),
        "fn": float(p[~pos].sum()),
        "tn": float((1 - p[~pos]).sum()),
    }


def expected_roc_auc(scores: np.ndarray, probs: np.ndarray | None = None) -> float | None:
    """Area under the expected ROC curve of the ranking by `scores`, each row positive with
    probability `probs` (default: the scores); tied scores form one step of the curve."""
    p = np.asarray(scores if probs is None else probs, dtype="float64")
    pos, neg = p.sum(), (1 - p).sum()
    if pos <= 0 or neg <= 0:
        return None
    order = np.asarray(scores, dtype="float64")
    values, inverse = np.unique(-order, return_inverse=True)  # descending score groups
    tp = np.bincount(inverse, weights=p, minlength=len(values))
    fp = np.bincount(inverse, weights=1 - p, minlength=len(values))
    tpr = np.concatenate([[0.0], np.cumsum(tp) / pos])
    fpr = np.concatenate([[0.0], np.cumsum(fp) / neg])
    return float(np.trapezoid(tpr, fpr))


def estimate(
    scores: np.ndarray, threshold: float, probs: np.ndarray | None = None
) -> dict[str, float | None]:
    """The CBPE estimates of METRICS for calibrated `scores` at `threshold` (rows positive
    with probability `probs`, default the scores)."""
    c = expected_confusion(scores, threshold, probs)
    n = c["tp"] + c["fp"] + c["fn"] + c["tn"]
    return {
        "roc_auc": expected_roc_auc(scores, probs),
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


def sampling_sd(
    scores: np.ndarray, threshold: float, probs: np.ndarray | None = None, draws: int = DRAWS
) -> dict[str, float]:
    """Standard deviation of each realized metric when the labels are Bernoulli(probs)
    (default: Bernoulli(score)) and the decisions are the scores' at `threshold`.

    Above MAX_BAND_ROWS rows the draws use a seeded subsample and the deviation is scaled by
    sqrt(subsample / rows) (it shrinks as 1/sqrt(n)), which keeps memory bounded."""
    s = np.asarray(scores, dtype="float64")
    p = s if probs is None else np.asarray(probs, dtype="float64")
    rng, scale, (s, p) = band_sample(s, p)
    y = (rng.random((draws, len(p))) < p).astype("float64")
    out = _metrics_of_labels(y, s, threshold)
    return {
        k: float(np.nanstd(v)) * scale if np.isfinite(v).any() else float("nan")
        for k, v in out.items()
    }


def section(
    ref: Reference, cur: Current, cfg: MonitorConfig, prior: PriorShift | None = None
) -> tuple[Estimate | None, list[str]]:
    """The "estimated performance" part of monitoring.json with its alarms, and its notes.

    `prior` is the label-shift verdict (gitml.monitor.prior): under a label shift the rows are
    positive with the adjusted probabilities, not the raw scores."""
    if cur.scores is None or not len(cur.scores):
        return None, []
    threshold = ref.meta.binary_threshold
    scores = np.asarray(cur.scores, dtype="float64")
    probs = None
    if prior is not None and prior.label_shift:
        probs = adjust(scores, prior.reference, prior.estimated)
    est = estimate(scores, threshold, probs)
    sd = sampling_sd(scores, threshold, probs)
    out = Estimate(
        method="CBPE (confidence-based performance estimation; NannyML, Guo et al. 2017)",
        metric=cfg.estimated_metric,
        threshold=threshold,
        rows=len(scores),
        band_sigmas=cfg.band_sigmas,
        estimated={k: significant(v) for k, v in est.items()},
        band={k: significant(cfg.band_sigmas * sd[k]) for k in METRICS},
        reference=_reference_estimate(ref, threshold),
        evaluation={k: significant((ref.metrics or {}).get(k)) for k in METRICS},
        calibration=ref.meta.calibration.method,
        prior=prior.report() if prior is not None else None,
        alarms=list(prior.alarms) if prior is not None else [],
    )
    notes = []
    if out.calibration == "none":
        notes.append(
            "the model's scores are not calibrated (train.calibration: none, or an older "
            "model): the estimated metrics assume they are and may be biased"
        )
    notes += _drop_alarm(out, est[cfg.estimated_metric], cfg, prior)
    if cur.y_true is not None:
        has = ~np.isnan(cur.y_true)
        if has.sum() >= cfg.min_feedback_rows:
            _concept(out, cur.y_true[has], scores[has], None if probs is None else probs[has], cfg)
    return out, notes


def _concept(
    out: Estimate, y: np.ndarray, s: np.ndarray, p: np.ndarray | None, cfg: MonitorConfig
) -> None:
    """On the rows with feedback: estimate and realized side by side, and the concept-drift
    alarm when any metric leaves its band (a relation that changed for the positives alone
    moves recall and F1 while ROC-AUC may hold)."""
    threshold = out.threshold
    assert threshold is not None  # a binary estimate always has its threshold
    fb_est, fb_sd = estimate(s, threshold, p), sampling_sd(s, threshold, p)
    fb_real = realized(y, s, threshold)
    bands = {k: cfg.band_sigmas * fb_sd[k] for k in METRICS}
    out.feedback = Feedback(
        rows=len(y),
        estimated={k: significant(v) for k, v in fb_est.items()},
        realized={k: significant(v) for k, v in fb_real.items()},
        band={k: significant(bands[k]) for k in METRICS},
    )
    off = []
    for k in METRICS:
        e, r = fb_est[k], fb_real[k]
        if e is not None and r is not None and np.isfinite(bands[k]) and abs(r - e) > bands[k]:
            side = "below" if r < e else "above"
            off.append(f"{k} {r:.4f} {side} {e:.4f} ± {bands[k]:.4f}")
    if off:
        out.alarms.append(
            f"concept drift: on {len(y)} rows with feedback the realized metrics are "
            f"outside what their scores predict ({'; '.join(off)}). The relation between "
            "inputs and outcome changed (the same inputs now lead to other outcomes), which "
            "estimation from scores cannot see: retrain on recent labelled traffic"
        )


def _reference_estimate(ref: Reference, threshold: float) -> dict[str, float | None]:
    """The estimate on the evaluation's own test scores: what the window's estimate is compared
    with, so that the estimator's own bias cancels (it was -0.0025 ROC-AUC against the realized
    metric on unshifted data)."""
    if ref.scores is None or not len(ref.scores):
        return {k: None for k in METRICS}
    return {k: significant(v) for k, v in estimate(ref.scores, threshold).items()}


def _drop_alarm(
    out: Estimate, value: float | None, cfg: MonitorConfig, prior: PriorShift | None
) -> list[str]:
    primary = cfg.estimated_metric
    base, notes = out.reference[primary], []
    if base is None:
        base = out.evaluation[primary]
        notes.append(
            "no test-split scores in the reference: the estimate is compared with the "
            "evaluation's realized metrics, which carries the estimator's own bias"
        )
    if value is None or base is None or base - value <= cfg.max_estimated_drop:
        return notes
    if prior is not None and prior.label_shift:
        cause = (
            f"the share of positives moved ({prior.reference:.1%} → {prior.estimated:.1%}, a "
            "label shift): the model's decisions were tuned for the old share"
        )
    else:
        cause = (
            "the inputs moved to where the model does worse (input drift): it is expected "
            "to do worse even before labels arrive"
        )
    out.alarms.append(
        f"estimated {primary} {value:.4f} vs {base:.4f} on the evaluation's test split "
        f"(drop > {cfg.max_estimated_drop}): {cause}"
    )
    return notes
