"""A stage's table as model inputs: features X, the 0/1 label y and the column layout."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gitml.config import DataConfig, SplitConfig
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
    y = (df[target] == data_cfg.positive_class).to_numpy(dtype=np.int64)
    return X, y, columns_of(X)
