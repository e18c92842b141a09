"""The fast path: the fitted Pipeline compiled into numpy once at load, the same numbers out.

A one-row `Pipeline.predict_proba` costs about 6 ms on this machine, almost all of it pandas and
scikit-learn's input checks: the ColumnTransformer on a one-row DataFrame, then
HistGradientBoosting's own check, its internal re-encoding of the categories, and its per-call
rebuild of the category bitsets. The arithmetic is microseconds. `compile_model` does the
bookkeeping once:

- **derived features** (gitml.features) as numpy on the request's values; batch frames go
  through `features.apply` itself;
- **numeric columns**: passthrough, or SimpleImputer + StandardScaler (LogisticRegression) as
  the same elementwise numpy operations scikit-learn runs;
- **categorical columns**: a lookup table per column, made by running the fitted encoder (and
  its imputer) on every known category, on a missing value and on an unseen one, so the table
  holds exactly what the encoder outputs; for HistGradientBoosting the model's internal
  re-encoding of category codes is folded into the same table;
- **scoring**: HistGradientBoosting through its own fitted `TreePredictor`s (scikit-learn's
  Cython tree walk, one thread for small batches), summed in the order scikit-learn sums them,
  then its own loss link; LogisticRegression through its own `predict_proba` on the matrix the
  ColumnTransformer would have built (sparse when it is).

So the probabilities are the Pipeline's bit for bit (the load check still allows 1e-12). What
was measured and not kept (treelite GTIL, a numpy tree evaluator) is in bench/README.md.

Anything else (another estimator, transformer or derived feature) is not compiled:
`compile_model` returns None with the reason, and the caller logs it and uses the Pipeline.
`check` compares the compiled model with the Pipeline on rows made to hit every category,
missing values, unseen categories and the schema's extreme numbers, and raises on a mismatch:
`gitml serve` refuses to start rather than serve different numbers.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse, special
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
)
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

from gitml import features
from gitml.errors import DataError
from gitml.serve.requests import ColumnSpec

log = logging.getLogger(__name__)

TOLERANCE = 1e-12
# Below this many rows the trees are walked on one thread: waking OpenMP's pool costs more.
THREADED_ROWS = 2_000
# Up to this many rows, trees are walked by treelite's GTIL in one call (for one row: 0.02 ms
# against 0.25 ms for scikit-learn's 40-80 per-tree calls); above, by scikit-learn's trees.
GTIL_ROWS = 32
_UNSEEN = "\x00gitml-unseen-category\x00"


class NotCompilableError(Exception):
    """The Pipeline holds something this module does not compile (the message says what)."""


def _num(values: Any) -> np.ndarray:
    return np.asarray(values, dtype="float64")


def _nonneg(x: np.ndarray) -> np.ndarray:
    return np.where(x < 0, 0.0, x)


def _married(values: Sequence[Any]) -> np.ndarray:
    return np.array(
        [np.nan if v is None else float(str(v).startswith("Married")) for v in values],
        dtype="float64",
    )


# The derived features of gitml.features, on the columns of a request (numbers as float64 with
# NaN for missing; text as a sequence of str or None). Same numpy operations, same values; the
# load check compares them with `features.apply` through the Pipeline.
DERIVED: dict[str, Callable[[dict[str, Any]], np.ndarray]] = {
    "net_capital": lambda c: _num(c["capital_gain"]) - _num(c["capital_loss"]),
    "log_capital_gain": lambda c: np.log1p(_nonneg(_num(c["capital_gain"]))),
    "log_capital_loss": lambda c: np.log1p(_nonneg(_num(c["capital_loss"]))),
    "is_married": lambda c: _married(c["marital_status"]),
    "hours_per_age": lambda c: _num(c["hours_per_week"]) / np.maximum(_num(c["age"]), 1.0),
}


@dataclass
class _Numeric:
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
class _Categorical:
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


class FastModel:
    """The compiled Pipeline: `proba_rows` for request rows, `proba_frame` for typed batches."""

    def __init__(
        self,
        family: str,
        specs: tuple[ColumnSpec, ...],
        derived: list[str],
        blocks: list[_Numeric | _Categorical],
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
        self._numeric_inputs = {s.name for s in specs if s.numeric}

    def _matrix(self, columns: Callable[[str], Any], n: int, frame: pd.DataFrame | None) -> Any:
        x = np.empty((n, self.width), dtype="float64")
        at = 0
        for block in self.blocks:
            if isinstance(block, _Numeric):
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
        """P(positive) for request rows (the request model's dumps: float/str/None values)."""
        raw: dict[str, Any] = {}
        for spec in self.specs:
            values = [row.get(spec.name) for row in rows]
            raw[spec.name] = (
                np.array([math.nan if v is None else v for v in values], dtype="float64")
                if spec.numeric
                else values
            )
        for name in self.derived:
            raw[name] = DERIVED[name](raw)
        return self._score(self._matrix(raw.__getitem__, len(rows), None))

    def proba_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """P(positive) for a typed frame of input columns (float64 numbers, str text)."""
        full = features.apply(frame, self.derived)

        def column(name: str) -> np.ndarray:
            return full[name].to_numpy(dtype="float64", na_value=np.nan)

        return self._score(self._matrix(column, len(full), full))


def _numeric_block(trans: Any, cols: list[str]) -> _Numeric:
    steps = trans.steps if isinstance(trans, Pipeline) else [("", trans)]
    block = _Numeric(list(cols))
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


def _categorical_blocks(trans: Any, cols: list[str]) -> list[_Categorical]:
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
            _Categorical(
                col,
                {str(v): i for i, v in enumerate(known)},
                len(known),
                len(known) + 1,
                np.ascontiguousarray(out[: len(vals), at : at + w], dtype="float64"),
            )
        )
        at += w
    return blocks


def _hgb_scorer(
    hgb: HistGradientBoostingClassifier, blocks: list[_Numeric | _Categorical], width: int
) -> tuple[Callable[[np.ndarray], np.ndarray], np.ndarray | None]:
    if hgb.n_trees_per_iteration_ != 1:
        raise NotCompilableError("a multi-class HistGradientBoosting")
    order: np.ndarray | None = None
    inner = getattr(hgb, "_preprocessor", None)
    if inner is not None:
        # HistGradientBoosting re-encodes its categorical inputs (categories first, codes of
        # the float codes) before its trees see them: fold that into the lookup tables.
        is_cat = np.asarray(hgb.is_categorical_, dtype=bool)
        cat_at = np.flatnonzero(is_cat)
        order = np.concatenate([cat_at, np.flatnonzero(~is_cat)])
        encoder = inner.named_transformers_["encoder"]
        at, positions = 0, {}
        for block in blocks:
            k = len(block.columns) if isinstance(block, _Numeric) else block.table.shape[1]
            if isinstance(block, _Categorical):
                positions[at] = block
            at += k
        if set(positions) != set(cat_at.tolist()):
            raise NotCompilableError(
                "HistGradientBoosting categorical columns that are not encoded"
            )
        for i, pos in enumerate(cat_at):
            block = positions[int(pos)]
            probe = np.zeros((len(block.table), len(cat_at)))
            probe[:, i] = block.table[:, 0]
            block.table = np.ascontiguousarray(encoder.transform(probe)[:, i : i + 1])
    known_bitsets, f_idx_map = hgb._bin_mapper.make_known_categories_bitsets()
    predictors = [p[0] for p in hgb._predictors]
    baseline = float(np.asarray(hgb._baseline_prediction).ravel()[0])
    if type(hgb._loss).__name__ != "HalfBinomialLoss":
        raise NotCompilableError(f"HistGradientBoosting with loss {type(hgb._loss).__name__}")
    per_tree = _treelite_per_tree(hgb, order)

    def score(x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x)
        if per_tree is not None and len(x) <= GTIL_ROWS:
            leaves = per_tree(x)  # (rows, trees): each tree's leaf value, from treelite
        else:
            n_threads = 1 if len(x) < THREADED_ROWS else _openmp_effective_n_threads()
            leaves = None
        if leaves is not None and len(x) == 1:  # one row: Python floats are IEEE doubles too
            total = 0.0 + baseline
            for value in leaves[0].tolist():
                total += value
            return np.asarray(special.expit(np.array([total])))
        raw = np.zeros(len(x))
        raw += baseline  # as scikit-learn: zeros + baseline, then each tree in turn
        if leaves is None:
            for tree in predictors:
                raw += tree.predict(x, known_bitsets, f_idx_map, n_threads)
        else:
            for t in range(leaves.shape[1]):
                raw += leaves[:, t]
        # HalfBinomialLoss.predict_proba: P(positive) = expit(raw), scipy's expit
        return np.asarray(special.expit(raw))

    return score, order


def _treelite_per_tree(
    hgb: HistGradientBoostingClassifier, order: np.ndarray | None
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
            # at load (gitml.serve.fast.check) and in tests/integration/test_serve_fast.py.
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


def _logreg_scorer(
    lr: LogisticRegression, pre: ColumnTransformer
) -> Callable[[np.ndarray], np.ndarray]:
    if len(lr.classes_) != 2:
        raise NotCompilableError("a multi-class LogisticRegression")
    as_sparse = bool(getattr(pre, "sparse_output_", False))

    def score(x: np.ndarray) -> np.ndarray:
        # The matrix the ColumnTransformer would build (CSR when it builds CSR), through the
        # estimator's own predict_proba.
        return np.asarray(lr.predict_proba(sparse.csr_matrix(x) if as_sparse else x)[:, 1])

    return score


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
    unknown = [d for d in derived if d not in DERIVED]
    if unknown:
        raise NotCompilableError(
            f"derived feature(s) {unknown} have no numpy form in serve/fast.py"
        )
    text = {s.name for s in specs if not s.numeric}
    blocks: list[_Numeric | _Categorical] = []
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
    width = sum(len(b.columns) if isinstance(b, _Numeric) else b.table.shape[1] for b in blocks)
    order: np.ndarray | None = None
    if isinstance(est, HistGradientBoostingClassifier):
        score, order = _hgb_scorer(est, blocks, width)
        family = "hist_gradient_boosting"
    elif isinstance(est, LogisticRegression):
        score = _logreg_scorer(est, pre)
        family = "logistic_regression"
    else:
        raise NotCompilableError(f"estimator {type(est).__name__}")
    return FastModel(family, specs, list(derived), blocks, width, order, score)


def check_rows(specs: tuple[ColumnSpec, ...], fast: FastModel, seed: int = 0) -> list[dict]:
    """Rows that hit every known category, missing values, unseen categories, extreme numbers."""
    rng = np.random.default_rng(seed)
    cats = {b.column: list(b.codes) for b in fast.blocks if isinstance(b, _Categorical)}
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
    """Largest |fast - Pipeline| on `rows` (as requests and as a frame); DataError above 1e-12."""
    from gitml.serve.requests import to_frame

    frame = to_frame(rows, fast.specs)
    expected = model.predict_proba(
        features.apply(frame, fast.derived)[[str(c) for c in model.feature_names_in_]]
    )[:, 1]
    worst = 0.0
    one_by_one = np.array([fast.proba_rows([row])[0] for row in rows])
    for got in (fast.proba_rows(rows), fast.proba_frame(frame), one_by_one):
        diff = float(np.max(np.abs(got - expected[: len(got)]))) if len(got) else 0.0
        worst = max(worst, diff if not math.isnan(diff) else math.inf)
    if not worst <= TOLERANCE:
        raise DataError(
            f"the compiled fast path differs from the model's Pipeline by {worst:.3g} "
            f"(> {TOLERANCE:g}) on {len(rows)} check rows; refusing to serve numbers that "
            "differ from the model's. Report it; meanwhile serve with --no-fast-path"
        )
    return worst


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
