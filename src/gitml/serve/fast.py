"""The fast path: the fitted Pipeline compiled into numpy once at load, the same numbers out.

A one-row `Pipeline.predict_proba` costs about 6 ms on this machine, almost all of it pandas and
scikit-learn's input checks: the ColumnTransformer on a one-row DataFrame, then
HistGradientBoosting's own check, its internal re-encoding of the categories, and its per-call
rebuild of the category bitsets. The arithmetic is microseconds. `compile_model` does the
bookkeeping once:

- **derived features**: gitml.core.features' own functions on the request's values (numpy);
  batch frames go through `features.apply` itself;
- **numeric columns**: passthrough, or SimpleImputer + StandardScaler (LogisticRegression) as
  the same elementwise numpy operations scikit-learn runs;
- **categorical columns**: a lookup table per column, made by running the fitted encoder (and
  its imputer) on every known category, on a missing value and on an unseen one, so the table
  holds exactly what the encoder outputs; for HistGradientBoosting the model's internal
  re-encoding of category codes is folded into the same table;
- **scoring** (gitml.serve.scorers): HistGradientBoosting's trees walked by treelite's GTIL
  (`predict_per_tree`, one call) for up to 32 rows and by scikit-learn's own fitted
  `TreePredictor`s (its Cython tree walk, threaded from 2,000 rows) above; either way the
  per-tree values are summed in the order scikit-learn sums them (per class, iteration by
  iteration, for a multiclass model), then its own loss link (binary, multiclass softmax,
  regression's inverse link); LogisticRegression (binary or multinomial) through its own
  `predict_proba`, Ridge and LinearRegression through their own `predict`, on the matrix the
  ColumnTransformer would have built (sparse when it is);
- **calibration** (train.calibration, CalibratedClassifierCV with ensemble=False): the
  estimator's decision function (HGB's raw sums, LogisticRegression's own), then its calibrators'
  arithmetic: one map (binary), or map k on column k and the rows normalised as
  `_CalibratedClassifier.predict_proba` does (multiclass; core.calibration.normalise).

The output follows the task (`task_of`, `pipeline_output`): P(positive) for binary, one
probability per class (rows, classes) for multiclass, the prediction for regression. So the
numbers are the Pipeline's bit for bit (the load check still allows 1e-12, relative to the
value above 1: a linear regressor's BLAS sums one row and a batch in different orders). What
was measured and not kept (treelite GTIL's own sum, which differs in the last bit; a numpy tree
evaluator) is in bench/README.md.

Anything else (another estimator, transformer or derived feature) is not compiled:
`compile_model` returns None with the reason, and the caller logs it and uses the Pipeline.
`check` compares the compiled model with the Pipeline on rows made to hit every category,
missing values, unseen categories and the schema's extreme numbers, and raises on a mismatch:
`gitml serve` refuses to start rather than serve different numbers.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
)

from gitml.core import features
from gitml.errors import DataError
from gitml.serve.requests import ColumnSpec
from gitml.serve.scorers import (
    CategoricalBlock,
    NotCompilableError,
    NumericBlock,
    calibrated_classes,
    hgb_raw,
    hgb_scorer,
    linear_scorer,
    logreg_raw,
    logreg_scorer,
    pipeline_output,
    task_of,
)

log = logging.getLogger(__name__)

TOLERANCE = 1e-12
_UNSEEN = "\x00gitml-unseen-category\x00"
# Below this many rows the trees are walked on one thread: waking OpenMP's pool costs more.


class FastModel:
    """The compiled Pipeline: `proba_rows` for request rows, `proba_frame` for typed batches;
    both give the task's output (`pipeline_output`), not only probabilities."""

    def __init__(
        self,
        family: str,
        specs: tuple[ColumnSpec, ...],
        derived: list[str],
        blocks: list[NumericBlock | CategoricalBlock],
        width: int,
        order: np.ndarray | None,
        score: Callable[[np.ndarray], np.ndarray],
    ) -> None:
        self.family = family
        self.specs = specs
        self.derived = derived
        self.blocks = blocks
        self.width = width
        self.order = order  # column permutation into the estimator's own layout
        self._score = score

    def _matrix(self, columns: Callable[[str], Any], n: int, frame: pd.DataFrame | None) -> Any:
        x = np.empty((n, self.width), dtype="float64")
        at = 0
        for block in self.blocks:
            if isinstance(block, NumericBlock):
                k = len(block.columns)
                raw = np.empty((n, k), dtype="float64")
                for j, name in enumerate(block.columns):
                    raw[:, j] = columns(name)
                x[:, at : at + k] = block.apply(raw)
            else:
                k = block.table.shape[1]
                rows = (
                    block.rows_of(frame[block.column])
                    if frame is not None
                    else block.rows(columns(block.column))
                )
                x[:, at : at + k] = block.table[rows]
            at += k
        return x if self.order is None else x[:, self.order]

    def proba_rows(self, rows: list[dict[str, Any]]) -> np.ndarray:
        """The output for request rows (the request model's dumps: float/str/None values)."""
        raw: dict[str, Any] = {}
        for spec in self.specs:
            values = [row.get(spec.name) for row in rows]
            raw[spec.name] = (
                np.array([math.nan if v is None else v for v in values], dtype="float64")
                if spec.numeric
                else values
            )
        for name in self.derived:
            raw[name] = features.REGISTRY[name].compute(raw)
        return self._score(self._matrix(raw.__getitem__, len(rows), None))

    def proba_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """The output for a typed frame of input columns (float64 numbers, str text)."""
        full = features.apply(frame, self.derived)

        def column(name: str) -> np.ndarray:
            return full[name].to_numpy(dtype="float64", na_value=np.nan)

        return self._score(self._matrix(column, len(full), full))


def _numeric_block(trans: Any, cols: list[str]) -> NumericBlock:
    steps = trans.steps if isinstance(trans, Pipeline) else [("", trans)]
    block = NumericBlock(list(cols))
    for _, step in steps:
        if step == "passthrough" or step is None:
            continue
        if isinstance(step, FunctionTransformer) and step.func is None:
            continue  # how a fitted ColumnTransformer stores "passthrough"
        if isinstance(step, SimpleImputer) and block.fill is None and block.mean is None:
            stats = np.asarray(step.statistics_, dtype="float64")
            if step.add_indicator or not (
                isinstance(step.missing_values, float) and math.isnan(step.missing_values)
            ):
                raise NotCompilableError("a SimpleImputer with add_indicator or non-NaN markers")
            if np.isnan(stats).any():
                raise NotCompilableError("a SimpleImputer that drops an all-missing column")
            block.fill = stats
        elif isinstance(step, StandardScaler) and block.mean is None:
            block.mean = np.asarray(step.mean_, dtype="float64") if step.with_mean else None
            block.scale = np.asarray(step.scale_, dtype="float64") if step.with_std else None
            if block.mean is None and block.scale is None:
                continue
        else:
            raise NotCompilableError(f"numeric step {type(step).__name__}")
    return block


def _categorical_blocks(trans: Any, cols: list[str]) -> list[CategoricalBlock]:
    steps = trans.steps if isinstance(trans, Pipeline) else [("", trans)]
    *before, (_, encoder) = steps
    for _, step in before:
        if not (isinstance(step, SimpleImputer) and step.strategy == "constant"):
            raise NotCompilableError(f"categorical step {type(step).__name__}")
    if isinstance(encoder, OrdinalEncoder):
        widths = [1] * len(cols)
    elif isinstance(encoder, OneHotEncoder):
        widths = list(encoder._n_features_outs)
    else:
        raise NotCompilableError(f"categorical encoder {type(encoder).__name__}")
    # Probe the fitted transformer with every known value of each column, a missing value and
    # an unseen one: its output rows are the lookup tables (each column's output depends on
    # that column's value only).
    values: list[list[str | None]] = [
        [*(str(v) for v in cats if isinstance(v, str)), None, _UNSEEN]
        for cats in encoder.categories_
    ]
    n = max(len(v) for v in values)
    probe = pd.DataFrame(
        {
            c: pd.array(v + [v[0]] * (n - len(v)), dtype="str")
            for c, v in zip(cols, values, strict=True)
        }
    )
    out = trans.transform(probe)
    out = out.toarray() if sparse.issparse(out) else np.asarray(out, dtype="float64")
    blocks, at = [], 0
    for col, vals, w in zip(cols, values, widths, strict=True):
        known = vals[:-2]
        blocks.append(
            CategoricalBlock(
                col,
                {str(v): i for i, v in enumerate(known)},
                len(known),
                len(known) + 1,
                np.ascontiguousarray(out[: len(vals), at : at + w], dtype="float64"),
            )
        )
        at += w
    return blocks


def compile_model(
    model: Pipeline, specs: tuple[ColumnSpec, ...], derived: list[str]
) -> FastModel | str:
    """The compiled model, or the reason it cannot be compiled (serve the Pipeline then)."""
    try:
        return _compile(model, specs, derived)
    except NotCompilableError as exc:
        return str(exc)


def _compile(model: Pipeline, specs: tuple[ColumnSpec, ...], derived: list[str]) -> FastModel:
    if not isinstance(model, Pipeline) or len(model.steps) != 2:
        raise NotCompilableError("not a two-step (preprocess, model) Pipeline")
    pre, est = model.steps[0][1], model.steps[1][1]
    if not isinstance(pre, ColumnTransformer):
        raise NotCompilableError(f"preprocessing {type(pre).__name__}")
    unknown = [d for d in derived if d not in features.REGISTRY]
    if unknown:
        raise NotCompilableError(f"derived feature(s) {unknown} are not in gitml.core.features")
    blocks = _blocks(pre, {s.name for s in specs if not s.numeric})
    width = sum(len(b.columns) if isinstance(b, NumericBlock) else b.table.shape[1] for b in blocks)
    family, score, order = _scorer(est, pre, blocks)
    return FastModel(family, specs, list(derived), blocks, width, order, score)


def _blocks(pre: ColumnTransformer, text: set[str]) -> list[NumericBlock | CategoricalBlock]:
    """The preprocessing as numpy blocks: one per numeric transformer, one per text column."""
    blocks: list[NumericBlock | CategoricalBlock] = []
    for name, trans, cols in pre.transformers_:
        if trans == "drop" or len(cols) == 0:
            continue
        if name == "remainder" or not isinstance(cols, list):
            raise NotCompilableError(f"transformer {name!r} on columns {cols!r}")
        if all(c in text for c in cols):
            blocks.extend(_categorical_blocks(trans, cols))
        elif not any(c in text for c in cols):
            blocks.append(_numeric_block(trans, cols))
        else:
            raise NotCompilableError(f"transformer {name!r} mixes text and number columns")
    return blocks


def _scorer(
    est: Any, pre: ColumnTransformer, blocks: list[NumericBlock | CategoricalBlock]
) -> tuple[str, Any, np.ndarray | None]:
    """(family, the scoring function, the column order it wants) of the final estimator, with
    train's calibrators (ensemble=False: one for a binary model, one per class for a multiclass
    one) applied to its raw scores when there are some."""
    calibrators: list[Any] = []
    if isinstance(est, CalibratedClassifierCV):  # train.calibration
        if len(est.calibrated_classifiers_) != 1 or est.method not in ("sigmoid", "isotonic"):
            raise NotCompilableError("CalibratedClassifierCV other than ensemble=False")
        inner = est.calibrated_classifiers_[0]
        calibrators, est = list(inner.calibrators), inner.estimator
        k = len(inner.classes)
        # calibrator j maps the estimator's column j to class j: the estimator saw every class
        if len(calibrators) != (1 if k == 2 else k) or not np.array_equal(
            est.classes_, inner.classes
        ):
            raise NotCompilableError("CalibratedClassifierCV with one calibrator per class missing")

    if isinstance(est, HistGradientBoostingClassifier | HistGradientBoostingRegressor):
        if not calibrators:
            score, order = hgb_scorer(est, blocks)
        else:
            raw, order = hgb_raw(est, blocks)
            score = calibrated_classes(calibrators, raw)
        return "hist_gradient_boosting", score, order
    if isinstance(est, LogisticRegression):
        if not calibrators:
            return "logistic_regression", logreg_scorer(est, pre), None
        return "logistic_regression", calibrated_classes(calibrators, logreg_raw(est, pre)), None
    if isinstance(est, Ridge | LinearRegression) and not calibrators:
        return "linear", linear_scorer(est, pre), None
    raise NotCompilableError(f"estimator {type(est).__name__}")


def check_rows(
    specs: tuple[ColumnSpec, ...], fast: FastModel, seed: int = 0
) -> list[dict[str, Any]]:
    """Rows that hit every known category, missing values, unseen categories, extreme numbers."""
    rng = np.random.default_rng(seed)
    cats = {b.column: list(b.codes) for b in fast.blocks if isinstance(b, CategoricalBlock)}
    n = max([len(v) for v in cats.values()] + [64])
    rows: list[dict[str, Any]] = []
    for i in range(n * 2):
        row: dict[str, Any] = {}
        for s in specs:
            if s.numeric:
                lo = s.ge if s.ge is not None else s.gt if s.gt is not None else -1e6
                hi = s.le if s.le is not None else s.lt if s.lt is not None else 1e6
                pick = rng.integers(6)
                value = [lo, hi, rng.uniform(lo, hi), 0.0, -1e300, 1e300][pick]
                if pick >= 4 and (s.ge is not None or s.le is not None):
                    value = rng.uniform(lo, hi)
                row[s.name] = float(np.clip(value, lo, hi))
            else:
                known = cats.get(s.name, ["x"])
                row[s.name] = known[i % len(known)] if i < n else _pick_odd(rng, known)
            if s.nullable and rng.random() < 0.15:
                row[s.name] = None
        rows.append(row)
    return rows


def _pick_odd(rng: np.random.Generator, known: list[str]) -> str:
    return [known[0], "never-seen-value", "", "x" * 256, known[-1].upper()][rng.integers(5)]


def check(fast: FastModel, model: Pipeline, rows: list[dict[str, Any]]) -> float:
    """Largest difference between fast and Pipeline on `rows` (as requests and as a frame),
    relative to the value's size above 1 (`difference`); DataError above 1e-12."""
    from gitml.serve.requests import to_frame

    frame = to_frame(rows, fast.specs)
    ordered = features.apply(frame, fast.derived)[[str(c) for c in model.feature_names_in_]]
    expected = pipeline_output(model, ordered, task_of(model))
    worst = 0.0
    one_by_one = np.array([fast.proba_rows([row])[0] for row in rows])
    for got in (fast.proba_rows(rows), fast.proba_frame(frame), one_by_one):
        worst = max(worst, difference(got, expected[: len(got)]))
    if not worst <= TOLERANCE:
        raise DataError(
            f"the compiled fast path differs from the model's Pipeline by {worst:.3g} "
            f"(> {TOLERANCE:g}) on {len(rows)} check rows; refusing to serve numbers that "
            "differ from the model's. Report it; meanwhile serve with --no-fast-path"
        )
    return worst


def difference(got: np.ndarray, expected: np.ndarray) -> float:
    """max |got - expected| / max(1, |expected|): absolute for probabilities, relative for a
    regression's large values, where a 1e-12 absolute difference is below a double's
    resolution and BLAS sums one row and a batch in different orders (the Pipeline's own
    one-row and batch predictions of load_diabetes' extremes differ by 5e-7 at 1.8e9).
    Equal values (the same infinity too) and NaN on both sides are no difference."""
    if not len(got):
        return 0.0
    got, expected = np.asarray(got, dtype="float64"), np.asarray(expected, dtype="float64")
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(got - expected) / np.maximum(1.0, np.abs(expected))
    same = (got == expected) | (np.isnan(got) & np.isnan(expected))
    diff = np.where(same, 0.0, diff)
    return float(np.max(np.where(np.isnan(diff), math.inf, diff)))


def prepare(
    model: Pipeline,
    specs: tuple[ColumnSpec, ...],
    derived: list[str],
    example: dict[str, Any] | None = None,
) -> tuple[FastModel | None, str]:
    """Compile and check: (the fast model, what to tell the user) or (None, why not).

    Raises DataError when the compiled model disagrees with the Pipeline: never serve it.
    """
    compiled = compile_model(model, specs, derived)
    if isinstance(compiled, str):
        message = f"fast path off, predicting through the scikit-learn Pipeline: {compiled}"
        log.warning(message)
        return None, message
    rows = check_rows(specs, compiled) + ([example] if example else [])
    worst = check(compiled, model, rows)
    return compiled, (
        f"fast path on ({compiled.family} compiled to numpy; equal to the Pipeline on "
        f"{len(rows)} check rows, largest difference {worst:.1g})"
    )
