"""A stage's table as model inputs: features X, the target as y (core.tasks: 0/1, a class index
or a number), the column layout and the cross-validation folds (shared by tune and the leakage
guard, so both see the same folds)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

from gitml.config import DataConfig, SplitConfig
from gitml.core import tasks
from gitml.core.models import Columns, columns_of
from gitml.core.names import normalise_name


def split_xy(
    df: pd.DataFrame,
    data_cfg: DataConfig,
    split_cfg: SplitConfig,
    classes: list[str] | None = None,
) -> tuple[pd.DataFrame, np.ndarray, Columns]:
    """Features X, the target as y for data.task and the column layout. Group/time columns are
    not features. `classes` (multiclass): the model's class names; default: those of `df`."""
    target = normalise_name(data_cfg.target)
    excluded = {target} | {
        normalise_name(c) for c in (split_cfg.group_column, split_cfg.time_column) if c
    }
    X = df[[c for c in df.columns if c not in excluded]]
    y = tasks.encode_target(df[target], data_cfg.task, data_cfg.positive_class, classes)
    return X, y, columns_of(X)


def classes_of(df: pd.DataFrame, data_cfg: DataConfig) -> list[str]:
    """A multiclass target's class names (the order of the model's probability columns); []
    for the other tasks."""
    if data_cfg.task is not tasks.Task.MULTICLASS:
        return []
    return tasks.class_names(df[normalise_name(data_cfg.target)])


def folds(
    X: pd.DataFrame,
    y: np.ndarray,
    n_folds: int,
    seed: int,
    groups: pd.Series | None = None,
    task: tasks.Task = tasks.Task.BINARY,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Seeded folds: stratified by the label for classification, plain for regression (its
    folds are large enough that the target's spread is alike in each); by group when given."""
    if task is tasks.Task.REGRESSION:
        if groups is not None:
            by_group = GroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
            return list(by_group.split(X, y, groups=groups.astype(str)))
        return list(KFold(n_splits=n_folds, shuffle=True, random_state=seed).split(X, y))
    if groups is not None:
        cv = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        return list(cv.split(X, y, groups=groups.astype(str)))
    return list(StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed).split(X, y))
