"""Estimated performance and live quality of a multiclass or a regression model.

Multiclass: CBPE on the class probabilities (gitml.monitor.cbpe_multi), calibrated on the test
split (gitml.monitor.cbpe_inputs), accuracy and macro-F1.
Regression: DLE, a loss model trained on the test split (gitml.monitor.dle), MAE and RMSE.
The report's parts are the binary ones (report.Estimate, report.Quality) with the task's
metric names; the alarm rules mirror estimate.py's:

- estimated drop: multiclass, the alarm metric more than monitor.max_estimated_drop below the
  same estimate on the test split; regression, the estimated MAE more than
  max_estimated_drop (as a fraction of it) above the test split's AND beyond the band;
- concept drift: on the rows with feedback, a realized metric worse than its estimate by more
  than the band (MAE/RMSE above it, accuracy/macro-F1 below it: core.metrics' directions; a
  model doing better than estimated is no alarm);
- live quality: multiclass accuracy or macro-F1 below the evaluation's by more than
  monitor.max_accuracy_drop; regression MAE or RMSE above the evaluation's by more than that
  fraction (0.05: 5 %).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gitml.contracts.monitoring import Estimate, Feedback, Quality
from gitml.core.metrics import LOWER_IS_BETTER
from gitml.core.tasks import Task
from gitml.monitor import cbpe_inputs, cbpe_multi, dle
from gitml.monitor.common import significant
from gitml.monitor.tasks import ESTIMATED, alarm_metric, realized

if TYPE_CHECKING:
    from gitml.config import MonitorConfig
    from gitml.monitor.current import Current
    from gitml.monitor.reference import Reference

METHODS = {
    Task.MULTICLASS: "CBPE on class probabilities (confidence-based performance estimation; "
    "NannyML, Guo et al. 2017), re-calibrated on the test split per class and, where that "
    "split is large enough, conditional on the inputs (gitml.monitor.cbpe_inputs)",
    Task.REGRESSION: "DLE (direct loss estimation; NannyML): a loss model trained on the test "
    "split predicts each row's absolute and squared error",
}


class _Estimator:
    """The task's estimate and band for some rows (their featurized inputs and outputs)."""

    def __init__(self, ref: Reference) -> None:
        self.task = ref.meta.task
        self.ref = ref

    def loss_models(self) -> dle.LossModels | None:
        """DLE's loss models, trained on the test split once per Reference."""
        ref = self.ref
        frame, pred, y = ref.test_frame, ref.scores, ref.y_true
        ready = frame is not None and pred is not None and y is not None
        # row for row: evaluate writes the predictions from the test features' table
        if ref.fitted is None and ready and len(frame) == len(pred):  # type: ignore[arg-type]
            ref.fitted = dle.fit(frame, pred, y, ref.columns)  # type: ignore[arg-type]
        models: dle.LossModels | None = ref.fitted
        return models

    def calibration(self) -> cbpe_inputs.Calibration | None:
        """The multiclass calibration, fitted on the test split once per Reference (None
        without the test split's probabilities and truth)."""
        ref = self.ref
        if ref.fitted is None and ref.probs is not None and ref.y_true is not None:
            ref.fitted = cbpe_inputs.fit(ref.test_frame, ref.probs, ref.y_true, ref.columns)
        fitted: cbpe_inputs.Calibration | None = ref.fitted
        return fitted

    def calibrated(self, frame: pd.DataFrame, probs: np.ndarray) -> np.ndarray | None:
        """The window's probabilities calibrated as the test split's (cbpe_inputs)."""
        cal = self.calibration()
        return None if cal is None else cbpe_inputs.apply(cal, frame, probs)

    def run(self, frame: pd.DataFrame, out: np.ndarray) -> tuple[dict[str, Any], dict[str, Any]]:
        if self.task is Task.MULTICLASS:
            q = self.calibrated(frame, out)
            return cbpe_multi.estimate(out, q), cbpe_multi.sampling_sd(out, q)
        models = self.loss_models()
        assert models is not None  # section() checked
        est = dle.estimate(models, frame, out)
        return est, dle.sampling_sd(models, len(out), est)

    def reference(self) -> dict[str, float | None]:
        if self.task is Task.MULTICLASS:
            p, cal = self.ref.probs, self.calibration()
            if p is None:
                return {}
            # the conditional calibration's own out-of-fold probabilities on the test split
            q = None if cal is None else cal.reference
            if q is None and cal is not None:
                q = cbpe_inputs.apply(cal, self.ref.test_frame, p)
            return cbpe_multi.estimate(p, q)
        models = self.loss_models()
        return models.reference if models is not None else {}


def section(
    ref: Reference, cur: Current, cfg: MonitorConfig, current: pd.DataFrame
) -> tuple[Estimate | None, list[str]]:
    """The "estimated performance" part of monitoring.json for a multiclass or regression
    model, with its alarms, and its notes. `current` is the featurized window."""
    task = ref.meta.task
    out = cur.probs if task is Task.MULTICLASS else cur.scores
    if out is None or not len(out):
        return None, []
    estimator = _Estimator(ref)
    if task is Task.REGRESSION and estimator.loss_models() is None:
        return None, [
            "no test split with its predictions and truth in the reference "
            "(data/features/test.parquet, data/predictions/test.parquet): the error is not "
            "estimated; run `dvc repro` (or `dvc pull`)"
        ]
    metrics = ESTIMATED[task]
    est, sd = estimator.run(current, out)
    result = Estimate(
        method=METHODS[task],
        metric=alarm_metric(task, cfg),
        threshold=None,
        rows=len(out),
        band_sigmas=cfg.band_sigmas,
        estimated={k: significant(est[k]) for k in metrics},
        band={k: significant(cfg.band_sigmas * sd[k]) for k in metrics},
        reference={k: significant(estimator.reference().get(k)) for k in metrics},
        evaluation={k: significant((ref.metrics or {}).get(k)) for k in metrics},
        calibration=ref.meta.calibration.method,
    )
    notes = []
    if task is Task.MULTICLASS and (ref.probs is None or ref.y_true is None):
        notes.append(
            "no test-split probabilities and truth in the reference: the class probabilities "
            "are taken as calibrated (not re-calibrated on the test split) and the estimate "
            "may be biased"
        )
    cal = estimator.calibration() if task is Task.MULTICLASS else None
    if cal is not None:
        notes.append(cal.note())
    _drop_alarm(result, cfg)
    if cur.y_true is not None:
        has = ~np.isnan(cur.y_true)
        if has.sum() >= cfg.min_feedback_rows:
            _concept(
                result,
                estimator,
                current.loc[has].reset_index(drop=True),
                out[has],
                cur.y_true[has],
            )
    return result, notes


def _drop_alarm(e: Estimate, cfg: MonitorConfig) -> None:
    metric = e.metric
    value, base, band = e.estimated.get(metric), e.reference.get(metric), e.band.get(metric)
    if value is None or base is None:
        return
    if metric in LOWER_IS_BETTER:
        allowed = max(cfg.max_estimated_drop * base, band or 0.0)
        if value - base > allowed:
            e.alarms.append(
                f"estimated {metric} {value:.4g} vs {base:.4g} on the evaluation's test split "
                f"(increase > {cfg.max_estimated_drop:.0%} and beyond the band ± {band or 0:.4g}): "
                "the inputs moved to where the model does worse (input drift): it is expected "
                "to do worse even before labels arrive"
            )
    elif base - value > cfg.max_estimated_drop:
        e.alarms.append(
            f"estimated {metric} {value:.4f} vs {base:.4f} on the evaluation's test split "
            f"(drop > {cfg.max_estimated_drop}): the inputs moved to where the model does worse "
            "(input drift): it is expected to do worse even before labels arrive"
        )


def _concept(
    e: Estimate, estimator: _Estimator, frame: pd.DataFrame, out: np.ndarray, y: np.ndarray
) -> None:
    """On the rows with feedback: estimate and realized side by side; a realized metric worse
    than its estimate by more than the band is the concept-drift alarm. One-sided: a realized
    error below the estimate (or an accuracy above it) is the model doing better than feared."""
    est, sd = estimator.run(frame, out)
    real = realized(estimator.task, y, out)
    bands = {k: e.band_sigmas * sd[k] for k in e.estimated}
    e.feedback = Feedback(
        rows=len(y),
        estimated={k: significant(est[k]) for k in e.estimated},
        realized={k: significant(real[k]) for k in e.estimated},
        band={k: significant(bands[k]) for k in e.estimated},
    )
    off = []
    for k in e.estimated:
        ev, rv = est[k], real[k]
        if ev is None or rv is None or not np.isfinite(bands[k]):
            continue
        lower = k in LOWER_IS_BETTER
        if (rv - ev if lower else ev - rv) > bands[k]:
            off.append(f"{k} {rv:.4g} {'above' if lower else 'below'} {ev:.4g} ± {bands[k]:.4g}")
    if off:
        e.alarms.append(
            f"concept drift: on {len(y)} rows with feedback the realized metrics are worse "
            f"than the model's own outputs predict ({'; '.join(off)}). The relation between "
            "inputs and outcome changed, which estimation cannot see: retrain on recent "
            "labelled traffic"
        )


def live_quality(
    ref: Reference, cur: Current, cfg: MonitorConfig
) -> tuple[Quality | None, list[str]]:
    """The task's metrics on the rows with feedback, against the evaluation's."""
    task = ref.meta.task
    out = cur.probs if task is Task.MULTICLASS else cur.scores
    if cur.y_true is None or out is None:
        return None, []
    has = ~np.isnan(cur.y_true)
    n = int(has.sum())
    quality = Quality(rows=n)
    if n < cfg.min_feedback_rows:
        return quality, [
            f"{n} row(s) with feedback (monitor.min_feedback_rows = {cfg.min_feedback_rows}): "
            "live quality not judged"
        ]
    live = realized(task, cur.y_true[has], out[has])
    quality.live = {k: significant(live[k]) for k in ESTIMATED[task]}
    quality.evaluation = {k: significant((ref.metrics or {}).get(k)) for k in ESTIMATED[task]}
    limit = cfg.max_accuracy_drop
    for k in ESTIMATED[task]:
        lv, ev = quality.live[k], quality.evaluation[k]
        if lv is None or ev is None:
            continue
        if k in LOWER_IS_BETTER and lv - ev > limit * ev:
            quality.alarms.append(
                f"{k} {lv:.4g} vs {ev:.4g} at evaluation (increase > {limit:.0%})"
            )
        elif k not in LOWER_IS_BETTER and ev - lv > limit:
            quality.alarms.append(f"{k} {lv:.4f} vs {ev:.4f} at evaluation (drop > {limit})")
    return quality, []
