"""Stage 4 — featurize: stateless, row-wise derived features, shared by training and serving.

Each feature reads only its own row, so a row gets the same value in a batch of one (serving)
as in the training table. Fitted preprocessing (imputers, encoders, scalers) does NOT belong
here: it lives in the model's scikit-learn Pipeline (DESIGN.md, "one transform").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gitml.errors import DataError
from gitml.io import write_parquet


@dataclass(frozen=True)
class Feature:
    requires: tuple[str, ...]
    compute: Callable[[pd.DataFrame], pd.Series]
    doc: str


def _log1p_nonneg(col: str) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda df: df[col].astype("float64").clip(lower=0).pipe(np.log1p)


REGISTRY: dict[str, Feature] = {
    "net_capital": Feature(
        ("capital_gain", "capital_loss"),
        lambda df: df["capital_gain"].astype("float64") - df["capital_loss"].astype("float64"),
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
        lambda df: (
            df["marital_status"]
            .astype("str")  # an all-missing column is stored as float NaN
            .str.startswith("Married")
            .astype("float64")
            .where(df["marital_status"].notna())
        ),
        "1 if marital_status starts with 'Married' (missing stays missing)",
    ),
    "hours_per_age": Feature(
        ("hours_per_week", "age"),
        lambda df: (
            df["hours_per_week"].astype("float64") / df["age"].astype("float64").clip(lower=1)
        ),
        "hours_per_week / age",
    ),
}


def apply(df: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Return `df` with the named derived features appended (the input is not modified)."""
    out = df.copy()
    for name in names:
        feature = REGISTRY[name]
        missing = [c for c in feature.requires if c not in df.columns]
        if missing:
            raise DataError(f"feature {name!r} needs column(s) {missing}, absent from the data")
        out[name] = feature.compute(df).astype("float64")
    return out


def run(names: list[str], inputs: dict[str, pd.DataFrame], out_dir: Path) -> dict[str, Path]:
    paths = {}
    for split_name, df in inputs.items():
        paths[split_name] = write_parquet(out_dir / f"{split_name}.parquet", apply(df, names))
    return paths
