"""Stage 4 — featurize: stateless, row-wise derived features, shared by training and serving.

Each feature reads only its own row, so a row gets the same value in a batch of one (serving)
as in the training table. Fitted preprocessing (imputers, encoders, scalers) does NOT belong
here: it lives in the model's scikit-learn Pipeline (docs/design.md, "one transform").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gitml.errors import DataError

Columns = pd.DataFrame | Mapping[str, Any]


@dataclass(frozen=True)
class Feature:
    requires: tuple[str, ...]
    compute: Callable[[Columns], np.ndarray]  # float64, one value per row
    doc: str


# The features work on numpy arrays, not pandas Series: on a one-row request (the serving path)
# each pandas operation costs more than the arithmetic, and the values are the same. They take a
# DataFrame (training, batch) or a mapping of column -> values (serve/fast.py's request rows).


def _values(df: Columns, col: str) -> np.ndarray:
    values = df[col]
    if isinstance(values, pd.Series):
        return values.to_numpy(dtype="float64", na_value=np.nan)
    return np.asarray(values, dtype="float64")  # serving: float64 with NaN already


def _nonneg(x: np.ndarray) -> np.ndarray:
    return np.where(x < 0, 0.0, x)  # like Series.clip(lower=0): NaN stays NaN


def _log1p_nonneg(col: str) -> Callable[[Columns], np.ndarray]:
    return lambda df: np.log1p(_nonneg(_values(df, col)))


def _is_married(df: Columns) -> np.ndarray:
    col = df["marital_status"]
    if not isinstance(col, pd.Series):  # serving: a sequence of str or None
        return np.array(
            [np.nan if v is None else float(str(v).startswith("Married")) for v in col],
            dtype="float64",
        )
    # astype("str"): an all-missing column is stored as float NaN
    married = col.astype("str").str.startswith("Married").to_numpy(dtype="float64")
    return np.where(col.notna().to_numpy(), married, np.nan)  # missing stays missing


REGISTRY: dict[str, Feature] = {
    "net_capital": Feature(
        ("capital_gain", "capital_loss"),
        lambda df: _values(df, "capital_gain") - _values(df, "capital_loss"),
        "capital_gain - capital_loss",
    ),
    "log_capital_gain": Feature(
        ("capital_gain",), _log1p_nonneg("capital_gain"), "log(1 + capital_gain)"
    ),
    "log_capital_loss": Feature(
        ("capital_loss",), _log1p_nonneg("capital_loss"), "log(1 + capital_loss)"
    ),
    "is_married": Feature(
        ("marital_status",),
        _is_married,
        "1 if marital_status starts with 'Married' (missing stays missing)",
    ),
    "hours_per_age": Feature(
        ("hours_per_week", "age"),
        lambda df: _values(df, "hours_per_week") / np.maximum(_values(df, "age"), 1.0),
        "hours_per_week / age",
    ),
}


def apply(df: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Return `df` with the named derived features appended (the input is not modified)."""
    new: dict[str, np.ndarray] = {}
    for name in names:
        feature = REGISTRY[name]
        missing = [c for c in feature.requires if c not in df.columns]
        if missing:
            raise DataError(f"feature {name!r} needs column(s) {missing}, absent from the data")
        new[name] = feature.compute(df)
    if not new or any(name in df.columns for name in new):  # recomputed in place, as before
        out = df.copy()
        for name, values in new.items():
            out[name] = values
        return out
    # One concat, not one insert per feature: fewer copies on a big table, less overhead on one row.
    return pd.concat([df, pd.DataFrame(new, index=df.index)], axis=1)
