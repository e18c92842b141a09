"""A stage's table as model inputs: features X, the 0/1 label y, the column layout and the
cross-validation folds (shared by tune and the leakage guard, so both see the same folds)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from gitml.config import DataConfig, SplitConfig
from gitml.core.labels import is_positive
from gitml.core.models import Columns, columns_of
from gitml.core.names import normalise_name


def split_xy(
    df: pd.DataFrame, data_cfg: DataConfig, split_cfg: SplitConfig
) -> tuple[pd.DataFrame, np.ndarray, Columns]:
    """Features X, 0/1 label y and the column layout. Group/time columns are not features."""
    target = normalise_name(data_cfg.target)
    excluded = {target} | {
        normalise_name(c) for c in (split_cfg.group_column, split_cfg.time_column) if c
    }
    X = df[[c for c in df.columns if c not in excluded]]
    y = is_positive(df[target], data_cfg.positive_class)
    return X, y, columns_of(X)


def folds(
    X: pd.DataFrame, y: np.ndarray, n_folds: int, seed: int, groups: pd.Series | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    if groups is not None:
        cv = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        return list(cv.split(X, y, groups=groups.astype(str)))
    return list(StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed).split(X, y))
