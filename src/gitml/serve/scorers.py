"""Scoring the compiled matrix exactly as the fitted estimator would: HistGradientBoosting's trees
(treelite GTIL for a few rows, scikit-learn's own predictors above) and the linear models; and
what a Pipeline answers for each task (`task_of`, `pipeline_output`), which the load check and
the Pipeline path share."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse, special
from sklearn.base import is_classifier
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.ensemble._hist_gradient_boosting.gradient_boosting import BaseHistGradientBoosting
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

from gitml.core.calibration import normalise
from gitml.core.tasks import Task

THREADED_ROWS = 2_000
# Up to this many rows, trees are walked by treelite's GTIL in one call (for one row: 0.02 ms
# against 0.25 ms for scikit-learn's 40-80 per-tree calls); above, by scikit-learn's trees.
GTIL_ROWS = 32
log = logging.getLogger(__name__)
_CLASSIFIER_LOSSES = ("HalfBinomialLoss", "HalfMultinomialLoss")


class NotCompilableError(Exception):
    """The Pipeline holds something this module does not compile (the message says what)."""


@dataclass
class NumericBlock:
    columns: list[str]
    fill: np.ndarray | None = None  # SimpleImputer statistics
    mean: np.ndarray | None = None  # StandardScaler
    scale: np.ndarray | None = None

    def apply(self, x: np.ndarray) -> np.ndarray:
        if self.fill is not None:
            x = np.where(np.isnan(x), self.fill, x)
        if self.mean is not None:
            x = x - self.mean
        if self.scale is not None:
            x = x / self.scale
        return x


@dataclass
class CategoricalBlock:
    column: str
    codes: dict[str, int]  # known value -> row of `table`
    missing: int
    unseen: int
    table: np.ndarray  # (values, width): the encoder's output for each value

    def __post_init__(self) -> None:
        self._index = pd.Index(list(self.codes), dtype="str")

    def rows(self, values: Sequence[Any]) -> np.ndarray:
        get, missing, unseen = self.codes.get, self.missing, self.unseen
        if len(values) <= 64:
            return np.array(
                [missing if v is None else get(v, unseen) for v in values], dtype=np.intp
            )
        return self.rows_of(pd.Series(values, dtype="str"))

    def rows_of(self, series: pd.Series) -> np.ndarray:
        found = self._index.get_indexer(pd.Index(series))  # position in `codes` = row of `table`
        rows = np.where(found >= 0, found, self.unseen).astype(np.intp)
        rows[series.isna().to_numpy()] = self.missing
        return rows


def hgb_raw(
    hgb: BaseHistGradientBoosting, blocks: list[NumericBlock | CategoricalBlock]
) -> tuple[Callable[[np.ndarray], np.ndarray], np.ndarray | None]:
    """The raw predictions (before the loss's link): (rows,) for one tree per iteration
    (binary, regression), (rows, classes) for a multiclass model."""
    k = int(hgb.n_trees_per_iteration_)
    order: np.ndarray | None = None
    inner = getattr(hgb, "_preprocessor", None)
    if inner is not None:
        order = _fold_categories(hgb, inner, blocks)
    known_bitsets, f_idx_map = hgb._bin_mapper.make_known_categories_bitsets()
    iterations = [list(trees) for trees in hgb._predictors]
    baseline = np.asarray(hgb._baseline_prediction, dtype="float64").ravel()  # (k,)
    per_tree = _treelite_per_tree(hgb, order)

    def score(x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x)
        if per_tree is not None and len(x) <= GTIL_ROWS:
            leaves = per_tree(x)  # (rows, trees), iteration by iteration: each tree's leaf value
        else:
            n_threads = 1 if len(x) < THREADED_ROWS else _openmp_effective_n_threads()
            leaves = None
        if leaves is not None and len(x) == 1 and k == 1:  # Python floats are IEEE doubles too
            total = 0.0 + float(baseline[0])
            for value in leaves[0].tolist():
                total += value
            return np.array([total])
        # as scikit-learn: zeros + baseline, then each iteration's tree of each class in turn
        raw = np.zeros((len(x), k))
        raw += baseline
        if leaves is None:
            for trees in iterations:
                for j, tree in enumerate(trees):
                    raw[:, j] += tree.predict(x, known_bitsets, f_idx_map, n_threads)
        else:
            for at in range(0, leaves.shape[1], k):
                raw += leaves[:, at : at + k]
        return raw[:, 0] if k == 1 else raw

    return score, order


def _fold_categories(
    hgb: BaseHistGradientBoosting, inner: Any, blocks: list[NumericBlock | CategoricalBlock]
) -> np.ndarray:
    """HistGradientBoosting re-encodes its categorical inputs (categories first, codes of the
    float codes) before its trees see them: fold that into the lookup tables; the column
    order the trees want."""
    is_cat = np.asarray(hgb.is_categorical_, dtype=bool)
    cat_at = np.flatnonzero(is_cat)
    order = np.concatenate([cat_at, np.flatnonzero(~is_cat)])
    encoder = inner.named_transformers_["encoder"]
    at, positions = 0, {}
    for block in blocks:
        k = len(block.columns) if isinstance(block, NumericBlock) else block.table.shape[1]
        if isinstance(block, CategoricalBlock):
            positions[at] = block
        at += k
    if set(positions) != set(cat_at.tolist()):
        raise NotCompilableError("HistGradientBoosting categorical columns that are not encoded")
    for i, pos in enumerate(cat_at):
        block = positions[int(pos)]
        probe = np.zeros((len(block.table), len(cat_at)))
        probe[:, i] = block.table[:, 0]
        block.table = np.ascontiguousarray(encoder.transform(probe)[:, i : i + 1])
    return order


def _treelite_per_tree(
    hgb: BaseHistGradientBoosting, order: np.ndarray | None
) -> Callable[[np.ndarray], np.ndarray] | None:
    """treelite's GTIL leaf values per tree, for a few rows: one call instead of one per tree.

    GTIL's own sum differs from scikit-learn's in the last bit (it adds in another order), so
    only its per-tree leaf values are used, summed here in scikit-learn's order: the result
    is scikit-learn's bit for bit (the load check compares every check row one by one).
    treelite reads the model's input layout (before HistGradientBoosting's internal
    re-encoding), so this is used only where that re-encoding is the identity.
    """
    try:
        import treelite
    except ImportError:
        return None
    inner = getattr(hgb, "_preprocessor", None)
    if inner is not None:
        encoder = inner.named_transformers_["encoder"]
        for cats in encoder.categories_:
            codes = np.asarray(cats, dtype="float64")
            codes = codes[~np.isnan(codes)]  # NaN (missing) stays missing either way
            if not np.array_equal(codes, np.arange(len(codes))):
                return None
    try:
        with warnings.catch_warnings():
            # "NaN to int cast" of category sets: missing and unseen categories are checked
            # at load (gitml.serve.fast.check) and in tests/integration/serve/test_serve_fast.py.
            warnings.simplefilter("ignore")
            model = treelite.sklearn.import_model(hgb)
    except Exception as exc:  # an unsupported model: the scikit-learn trees do it all
        log.info("treelite cannot import this model (%s); scoring with scikit-learn's trees", exc)
        return None
    back = None if order is None else np.argsort(order)  # our layout -> the model's input layout
    try:
        # predict_per_tree parses a new JSON config on every call (a third of a one-row
        # call); the same private function with the config parsed once. treelite is pinned.
        from treelite.gtil.gtil import GTILConfig, _predict_impl

        config = GTILConfig(nthread=1, predict_type="score_per_tree")

        def gtil(x: np.ndarray) -> Any:
            return _predict_impl(model, x, config=config)
    except ImportError:

        def gtil(x: np.ndarray) -> Any:
            return treelite.gtil.predict_per_tree(model, x, nthread=1)

    def per_tree(x: np.ndarray) -> np.ndarray:
        x = x if back is None else np.ascontiguousarray(x[:, back])
        return np.asarray(gtil(x)).reshape(len(x), -1)

    return per_tree


def hgb_scorer(
    hgb: BaseHistGradientBoosting, blocks: list[Any]
) -> tuple[Callable[[np.ndarray], np.ndarray], np.ndarray | None]:
    """The model's output from its raw predictions, through its own loss as scikit-learn does:
    binary P(positive) is expit(raw), scipy's expit; multiclass the loss's softmax
    (`predict_proba`, one column per class); regression the link's inverse (`predict`)."""
    loss = hgb._loss
    name = type(loss).__name__
    if isinstance(hgb, HistGradientBoostingClassifier) and name not in _CLASSIFIER_LOSSES:
        raise NotCompilableError(f"HistGradientBoosting with loss {name}")
    raw, order = hgb_raw(hgb, blocks)
    if name == "HalfBinomialLoss":
        return (lambda x: np.asarray(special.expit(raw(x)))), order
    if name == "HalfMultinomialLoss":
        return (lambda x: np.asarray(loss.predict_proba(raw(x)))), order
    inverse = loss.link.inverse  # regression: identity for squared error, exp for poisson...
    return (lambda x: np.asarray(inverse(raw(x)))), order


def calibrated(
    calibrator: Any, raw: Callable[[np.ndarray], np.ndarray]
) -> Callable[[np.ndarray], np.ndarray]:
    """CalibratedClassifierCV(ensemble=False) on a binary estimator: its one calibrator
    (sigmoid or isotonic) applied to the estimator's decision function, as
    `_CalibratedClassifier.predict_proba` does, with its clip of values a hair above 1."""
    predict = calibration_of(calibrator)

    def score(x: np.ndarray) -> np.ndarray:
        p = np.asarray(predict(raw(x)), dtype="float64")
        p[(p > 1.0) & (p <= 1.0 + 1e-5)] = 1.0
        return p

    return score


def calibrated_classes(
    calibrators: Sequence[Any], raw: Callable[[np.ndarray], np.ndarray]
) -> Callable[[np.ndarray], np.ndarray]:
    """CalibratedClassifierCV(ensemble=False) on a multiclass estimator: calibrator k applied to
    column k of the decision function (rows, classes), then the rows normalised as
    `_CalibratedClassifier.predict_proba` does (core.calibration.normalise: divided by their
    sum, uniform where every map gave 0, a hair above 1 clipped). One calibrator: `calibrated`
    (a binary model)."""
    if len(calibrators) == 1:
        return calibrated(calibrators[0], raw)
    predicts = [calibration_of(c) for c in calibrators]
    k = len(predicts)

    def score(x: np.ndarray) -> np.ndarray:
        r = raw(x)
        proba = np.zeros((len(r), k))
        for j, predict in enumerate(predicts):
            proba[:, j] = predict(r[:, j])
        return normalise(proba)

    return score


def calibration_of(calibrator: Any) -> Callable[[np.ndarray], np.ndarray]:
    """The calibrator's own arithmetic on a float64 vector, without scikit-learn's input checks
    on every call (half of a one-row score: 0.05 of 0.11 ms, bench/README.md).

    The same operations in the same order as scikit-learn 1.9's `_SigmoidCalibration.predict`
    (which takes any float) and `IsotonicRegression._transform` (which refuses NaN and
    infinities: such a vector goes to its own `predict`, for the same error); the load check
    compares the results with the Pipeline's. Anything else keeps its own `predict`.
    """
    if type(calibrator).__name__ == "_SigmoidCalibration":  # private: matched by name
        a, b = calibrator.a_, calibrator.b_
        return lambda t: special.expit(-(a * t + b))
    if type(calibrator) is IsotonicRegression and calibrator.X_thresholds_.dtype == np.float64:
        f, lo, hi = calibrator.f_, calibrator.X_min_, calibrator.X_max_
        clip = calibrator.out_of_bounds == "clip"

        def isotonic(t: np.ndarray) -> np.ndarray:
            if not np.isfinite(t).all():
                return calibrator.predict(t)
            return f(np.clip(t, lo, hi) if clip else t).astype(np.float64)

        return isotonic
    return calibrator.predict


def logreg_raw(
    lr: LogisticRegression, pre: ColumnTransformer
) -> Callable[[np.ndarray], np.ndarray]:
    """The decision function on the matrix the ColumnTransformer would build (CSR when it
    builds CSR), through the estimator's own decision_function: (rows,) for a binary model,
    (rows, classes) for a multinomial one."""
    as_sparse = bool(getattr(pre, "sparse_output_", False))
    return lambda x: np.asarray(lr.decision_function(sparse.csr_matrix(x) if as_sparse else x))


def logreg_scorer(
    lr: LogisticRegression, pre: ColumnTransformer
) -> Callable[[np.ndarray], np.ndarray]:
    """P(positive) of a binary model, every class's probability (rows, classes) of a
    multinomial one: its own predict_proba on the matrix the ColumnTransformer would build
    (CSR when it builds CSR)."""
    as_sparse = bool(getattr(pre, "sparse_output_", False))
    binary = len(lr.classes_) == 2

    def score(x: np.ndarray) -> np.ndarray:
        proba = lr.predict_proba(sparse.csr_matrix(x) if as_sparse else x)
        return np.asarray(proba[:, 1] if binary else proba)

    return score


def linear_scorer(est: Any, pre: ColumnTransformer) -> Callable[[np.ndarray], np.ndarray]:
    """A linear regressor's own predict on the matrix the ColumnTransformer would build."""
    as_sparse = bool(getattr(pre, "sparse_output_", False))
    return lambda x: np.asarray(est.predict(sparse.csr_matrix(x) if as_sparse else x))


def task_of(model: Pipeline) -> Task:
    """What the fitted model predicts: regression (a regressor), binary (two classes) or
    multiclass; ModelMeta.task must say the same (gitml.serve.predictor checks)."""
    if not is_classifier(model):
        return Task.REGRESSION
    return Task.BINARY if len(model.classes_) == 2 else Task.MULTICLASS


def pipeline_output(model: Pipeline, frame: pd.DataFrame, task: Task) -> np.ndarray:
    """What the Pipeline answers for a frame in its own column order: P(positive) (binary),
    every class's probability (rows, classes) (multiclass), the prediction (regression)."""
    if not task.is_classification:
        return np.asarray(model.predict(frame), dtype="float64")
    proba = np.asarray(model.predict_proba(frame))
    return proba[:, 1] if task is Task.BINARY else proba
