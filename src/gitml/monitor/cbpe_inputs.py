"""Multiclass CBPE's calibration: per class, and conditional on the inputs where the test split
is large enough to learn it.

CBPE (cbpe_multi) reads each row's probabilities as the chance of each class, so they must be
calibrated where the window's rows are. Under a covariate shift a window comes from one region of
the inputs, and a model calibrated on average can be under- or over-confident there. The
per-class isotonic maps fitted on the test split (cbpe_multi.fit_calibrators) correct the
average only. On the bench's 4-class table (bench/estimation_tasks.py, 400,000 rows), with
those maps alone the estimated accuracy was 0.0095 too high on the rows with x1 < -0.5, where
the realized value of a 2,000-row window varies by about 0.008; maps fitted on that region's own
test rows were 0.0009 off, so the error is the region's, and can be learnt from the inputs.

So the monitor also fits a second classifier on the test split, the rows the model never
trained on: a multinomial logistic regression that predicts the true class from the model's
log-probabilities, a basis of the inputs (each numeric column cut at its quartiles, each
categorical column one-hot) and the products of the two. It starts from the model's own
probabilities (a weight on the log-probabilities) and learns where they are too sure or too shy:
a product lets the confidence change from one region of the inputs to another, and quantile bins
(not splines) let it change at a threshold. The per-class maps are then fitted on its
out-of-fold output (the regression minimizes log loss; alone, its top probability ran 0.003 to
0.006 below the accuracy on the bench's tables).
- **Why not trees**: this module's first version, gradient-boosted trees on the inputs and the
  log-probabilities, had to rebuild the model's probabilities from scratch and did not beat the
  maps alone on the bench's 400,000-row table; the regression did (log loss 0.5073 against
  0.5099), and the estimated accuracy on `x1 < -0.5` went from 0.0095 too high to 0.0011.
- **Cross-validated**: its out-of-fold probabilities (FOLDS folds), through maps fitted on the
  other folds, are compared with the maps alone by log loss.
- **Used only where it helps**: the test split must have at least MIN_ROWS rows and at least
  FOLDS of each class, and its cross-validated log loss must beat the maps alone. Otherwise the
  maps are used alone; a small test split such as load_wine's 36 rows cannot train it.
- **Bounded**: with more than MAX_PRODUCTS product columns (classes times basis columns) it
  keeps the inputs' basis without the products, and says so in the note.

scikit-learn's parts (KBinsDiscretizer, OneHotEncoder, LogisticRegression, IsotonicRegression) do
the fitting; the design is written here because no library calibrates multiclass probabilities
by region (NannyML's multiclass CBPE stops at the per-class maps). Deterministic: lbfgs, fixed
folds, quantiles of every row.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gitml.monitor import cbpe_multi, drift
from gitml.monitor.dle import InputTable

FOLDS = 5
MIN_ROWS = 1_000
SEED = 0
BINS = 4  # quantile bins per numeric input
MAX_LEVELS = 8  # one-hot columns per categorical input (the rarer levels share one)
MAX_PRODUCTS = 2_000  # classes x basis columns above which the products are left out
PENALTY = 1.0  # LogisticRegression's C, on standardized columns
MAPS = "isotonic per class"
CONDITIONAL = "conditional on the inputs (logistic regression), then isotonic per class"


@dataclass
class Calibration:
    """The fitted calibration of the test split: the per-class maps, or the conditional
    classifier when it was chosen (`inputs` and `model` are then set)."""

    maps: list[Any]  # on the served probabilities, or on the conditional classifier's
    method: str = MAPS
    inputs: InputTable | None = None
    model: _Conditional | None = None  # the conditional calibration, when chosen
    log_loss: dict[str, float] = field(default_factory=dict)  # cross-validated, per method
    reference: np.ndarray | None = None  # the test split's own calibrated probabilities
    why_not: str = ""  # why the conditional calibration was not tried
    without_products: str = ""  # why its products of inputs and log-probabilities were left out

    def note(self) -> str:
        losses = ", ".join(f"{m} {v:.4f}" for m, v in self.log_loss.items())
        why = f"cross-validated log loss on the test split: {losses}" if losses else self.why_not
        why += f"; {self.without_products}" if self.without_products else ""
        return f"multiclass CBPE calibration: {self.method}" + (f" ({why})" if why else "")


@dataclass
class _Conditional:
    """The conditional calibration's parts: the inputs' basis, whether the products are in the
    design, and the classifier (standardization, then the logistic regression)."""

    basis: Any
    products: bool
    classifier: Any = None

    def design(self, inputs: InputTable, frame: pd.DataFrame, probs: np.ndarray) -> np.ndarray:
        basis = self.basis.transform(pd.DataFrame(inputs.matrix(frame)))
        logp = np.log(np.clip(probs, 1e-12, 1.0))
        logp -= logp.mean(axis=1, keepdims=True)  # softmax's own freedom: only differences count
        parts = [logp, basis]
        if self.products:
            parts.append((logp[:, :, None] * basis[:, None, :]).reshape(len(probs), -1))
        return np.hstack(parts)


def _basis(frame: pd.DataFrame, inputs: InputTable) -> Any:
    """The inputs' basis, fitted on the test split: a numeric column one-hot in its BINS
    quantile bins (robust to skew and outliers; missing: the median), a categorical column's code
    one-hot (the rarer levels share a column; unseen or missing: none). None when no input
    varies."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import KBinsDiscretizer, OneHotEncoder

    table = pd.DataFrame(inputs.matrix(frame))
    varies = [c for c in table.columns if table[c].nunique(dropna=True) > 1]
    numeric = [c for c in varies if inputs.columns[c] == "numeric"]
    categorical = [c for c in varies if inputs.columns[c] != "numeric"]
    parts: list[tuple[str, Any, list[str]]] = []
    if numeric:
        bins = make_pipeline(
            SimpleImputer(strategy="median"),
            KBinsDiscretizer(
                n_bins=BINS, encode="onehot-dense", strategy="quantile",
                quantile_method="averaged_inverted_cdf", subsample=None,
            ),
        )  # fmt: skip
        parts.append(("numeric", bins, numeric))
    if categorical:
        onehot = OneHotEncoder(
            handle_unknown="infrequent_if_exist", max_categories=MAX_LEVELS, sparse_output=False
        )
        parts.append(("categorical", onehot, categorical))
    if not parts:
        return None
    with warnings.catch_warnings():
        # a column with many equal values (a capital gain that is mostly 0) has fewer distinct
        # quantiles than bins: the empty bins are dropped, as intended, not news for the reader
        warnings.filterwarnings("ignore", "Bins whose width are too small", UserWarning)
        return ColumnTransformer(parts).fit(table)


def _classifier() -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=PENALTY, max_iter=1_000))


def _fitted(X: np.ndarray, y: np.ndarray) -> Any:
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        # lbfgs stopping at max_iter still gives usable probabilities, and the cross-validated
        # log loss decides whether they are used: not a message for the monitor's reader
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _classifier().fit(X, y)


def _class_probs(model: Any, X: np.ndarray, k: int) -> np.ndarray:
    """(rows, k): a classifier knows only the classes of its rows; place its columns by code."""
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
    frame = frame.reset_index(drop=True)
    inputs = InputTable.of(frame, columns)
    basis = _basis(frame, inputs)
    if basis is None:
        maps.why_not = "no input of the test split varies"
        return maps
    width = p.shape[1] * len(basis.get_feature_names_out())
    cond = _Conditional(basis, products=width <= MAX_PRODUCTS)
    if not cond.products:
        maps.without_products = (
            f"without the products of inputs and log-probabilities: {width:,} columns, "
            f"above {MAX_PRODUCTS:,}"
        )
    from sklearn.model_selection import StratifiedKFold

    X = cond.design(inputs, frame, p)
    folds = list(StratifiedKFold(FOLDS, shuffle=True, random_state=SEED).split(p, y))
    oof = np.zeros_like(p)
    for fit_idx, apply_idx in folds:
        oof[apply_idx] = _class_probs(_fitted(X[fit_idx], y[fit_idx]), X[apply_idx], p.shape[1])
    maps.log_loss = {MAPS: _log_loss(y, _cross_fitted_maps(p, y, folds))}
    maps.log_loss[CONDITIONAL] = _log_loss(y, _cross_fitted_maps(oof, y, folds))
    if maps.log_loss[CONDITIONAL] >= maps.log_loss[MAPS]:
        return maps
    cond.classifier = _fitted(X, y)
    # the per-class maps again, on its out-of-fold output: the regression is fitted for log
    # loss, and its top probability ran 0.003-0.006 shy of the accuracy on the bench's tables
    after = cbpe_multi.fit_calibrators(oof, y)
    return Calibration(
        after, CONDITIONAL, inputs, cond, maps.log_loss, cbpe_multi.calibrate(after, oof),
        without_products=maps.without_products,
    )  # fmt: skip


def apply(cal: Calibration, frame: pd.DataFrame | None, probs: np.ndarray) -> np.ndarray:
    """Calibrated probabilities of rows (their featurized inputs and the model's probabilities)."""
    p = np.asarray(probs, dtype="float64")
    if cal.inputs is None or cal.model is None or not len(p):
        return cbpe_multi.calibrate(cal.maps, p)
    if frame is None:
        raise ValueError("the conditional calibration needs the rows' inputs")
    X = cal.model.design(cal.inputs, frame.reset_index(drop=True), p)
    return cbpe_multi.calibrate(cal.maps, _class_probs(cal.model.classifier, X, p.shape[1]))
