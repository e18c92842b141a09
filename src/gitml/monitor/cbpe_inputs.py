"""Multiclass CBPE's calibration: per class, and conditional on the inputs where the test split
is large enough to learn it.

CBPE (cbpe_multi) reads each row's probabilities as the chance of each class, so they must be
calibrated where the window's rows are. Under a covariate shift a window comes from one region of
the inputs, and a model calibrated on average can be under- or over-confident there. The
per-class isotonic maps fitted on the test split (cbpe_multi.fit_calibrators) correct the
average only. On the bench's 4-class table (bench/estimation_tasks.py), with those maps alone
the estimated accuracy was 0.016 too low on the rows with x0 > 0.5 and 0.011 too low on
segment a; the realized value of a 2,000-row window varies by about 0.007.

So the monitor also fits a second classifier on the test split, the rows the model never
trained on, as DLE does for regression. It predicts the true class from the inputs and the
model's log-probabilities: where the model is too confident or too shy for some inputs, it
learns by how much.
- **Cross-fitted in FOLDS folds**, because gradient-boosted trees are over-confident on the
  rows they fitted. The per-class isotonic maps are then fitted on its out-of-fold
  probabilities. A window's probabilities are the mean over the fold models of each one's
  output through those maps.
- **Used only where it helps**: the test split must have at least MIN_ROWS rows and at least
  FOLDS of each class, and its cross-validated log loss must beat the maps alone. Otherwise the
  maps are used alone; a small test split such as load_wine's 36 rows cannot train a second
  model.

No library does this: NannyML's multiclass CBPE stops at the per-class maps. Deterministic:
fixed seeds, and no early stopping (no random validation split).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gitml.monitor import cbpe_multi, drift
from gitml.monitor.dle import InputTable

FOLDS = 5
MIN_ROWS = 1_000
SEED = 0
MAPS = "isotonic per class"
CONDITIONAL = "conditional on the inputs, then isotonic per class"


@dataclass
class Calibration:
    """The fitted calibration of the test split: the per-class maps, and the conditional
    classifier's fold models when it was chosen (`inputs` is then set)."""

    maps: list[Any]
    method: str = MAPS
    inputs: InputTable | None = None
    models: list[Any] = field(default_factory=list)
    log_loss: dict[str, float] = field(default_factory=dict)  # cross-validated, per method
    reference: np.ndarray | None = None  # the test split's own calibrated probabilities
    why_not: str = ""  # why the conditional calibration was not tried

    def note(self) -> str:
        losses = ", ".join(f"{m} {v:.4f}" for m, v in self.log_loss.items())
        why = f"cross-validated log loss on the test split: {losses}" if losses else self.why_not
        return f"multiclass CBPE calibration: {self.method}" + (f" ({why})" if why else "")


def _classifier() -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    # Small trees with many rows per leaf: it learns a correction, not the classes again (on a
    # 6,000-row test split, DLE's larger trees over-fitted and lost to the maps alone)
    return HistGradientBoostingClassifier(
        learning_rate=0.05, max_iter=100, max_leaf_nodes=8, min_samples_leaf=100,
        early_stopping=False, random_state=SEED,
    )  # fmt: skip


def _design(inputs: InputTable, frame: pd.DataFrame, probs: np.ndarray) -> pd.DataFrame:
    out = inputs.matrix(frame)
    logp = np.log(np.clip(probs, 1e-12, 1.0))
    for k in range(probs.shape[1]):
        out[f"__log_p{k}__"] = logp[:, k]
    return pd.DataFrame(out)


def _class_probs(model: Any, X: pd.DataFrame, k: int) -> np.ndarray:
    """(rows, k): a fold model knows only the classes of its rows; place its columns by code."""
    out = np.zeros((len(X), k))
    out[:, model.classes_] = model.predict_proba(X)
    return out


def _log_loss(y: np.ndarray, q: np.ndarray) -> float:
    from sklearn.metrics import log_loss

    return float(log_loss(y, np.clip(q, 1e-15, 1.0), labels=list(range(q.shape[1]))))


def _cross_fitted_maps(
    probs: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """The per-class maps' probabilities, each fold's from maps fitted on the other folds."""
    out = np.zeros_like(probs)
    for fit_idx, apply_idx in folds:
        maps = cbpe_multi.fit_calibrators(probs[fit_idx], y[fit_idx])
        out[apply_idx] = cbpe_multi.calibrate(maps, probs[apply_idx])
    return out


def fit(
    frame: pd.DataFrame | None,
    probs: np.ndarray,
    y: np.ndarray,
    columns: dict[str, drift.Kind],
) -> Calibration:
    """The calibration from the test split's features (None: maps alone), the model's
    probabilities and the true class codes."""
    p, y = np.asarray(probs, dtype="float64"), np.asarray(y, dtype="int64")
    maps = Calibration(cbpe_multi.fit_calibrators(p, y))
    counts = np.bincount(y, minlength=p.shape[1])
    present = counts[counts > 0]
    if frame is None or len(frame) != len(p):
        maps.why_not = "no test-split inputs row for row with its predictions"
    elif len(p) < MIN_ROWS or len(present) < 2 or present.min() < FOLDS:
        maps.why_not = (
            f"the test split has {len(p):,} rows, {present.min() if len(present) else 0} of its "
            f"rarest class: a calibration conditional on the inputs needs {MIN_ROWS:,} rows "
            f"and {FOLDS} of each class"
        )
    if maps.why_not or frame is None:
        return maps
    from sklearn.model_selection import StratifiedKFold

    folds = list(StratifiedKFold(FOLDS, shuffle=True, random_state=SEED).split(p, y))
    inputs = InputTable.of(frame, columns)
    X = _design(inputs, frame.reset_index(drop=True), p)
    oof, models = np.zeros_like(p), []
    for fit_idx, apply_idx in folds:
        model = _classifier().fit(X.iloc[fit_idx], y[fit_idx])
        oof[apply_idx] = _class_probs(model, X.iloc[apply_idx], p.shape[1])
        models.append(model)
    losses = {
        MAPS: _log_loss(y, _cross_fitted_maps(p, y, folds)),
        CONDITIONAL: _log_loss(y, _cross_fitted_maps(oof, y, folds)),
    }
    if losses[CONDITIONAL] >= losses[MAPS]:
        maps.log_loss = losses
        return maps
    cond_maps = cbpe_multi.fit_calibrators(oof, y)
    return Calibration(
        cond_maps, CONDITIONAL, inputs, models, losses, cbpe_multi.calibrate(cond_maps, oof)
    )


def apply(cal: Calibration, frame: pd.DataFrame | None, probs: np.ndarray) -> np.ndarray:
    """Calibrated probabilities of rows (their featurized inputs and the model's probabilities)."""
    p = np.asarray(probs, dtype="float64")
    if cal.inputs is None or not len(p):
        return cbpe_multi.calibrate(cal.maps, p)
    if frame is None:
        raise ValueError("the conditional calibration needs the rows' inputs")
    X = _design(cal.inputs, frame.reset_index(drop=True), p)
    # Each fold model's output through the maps, then the mean: the maps were fitted on single
    # fold models' (out-of-fold) output, and the mean of the raw outputs is smoother than that
    calibrated = [
        cbpe_multi.calibrate(cal.maps, _class_probs(m, X, p.shape[1])) for m in cal.models
    ]
    return np.asarray(np.mean(calibrated, axis=0))
