"""Stage 3 — split: a seeded, stratified train/test split (optionally by group or by time).

Classification stratifies by the label. Regression stratifies by the target's quantile bins
(deciles when there are rows enough): an unstratified split of a skewed target (prices, counts)
can leave most of its tail on one side by luck, and on a small table (load_diabetes: 442 rows)
the test metrics then move with the seed more than with the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from gitml.config import DataConfig, SplitConfig
from gitml.core.names import normalise_name
from gitml.core.tasks import Task
from gitml.errors import DataError
from gitml.io.files import write_parquet


@dataclass(frozen=True)
class SplitResult:
    train_rows: int
    test_rows: int
    production_rows: int = 0  # of train_rows
    recent_rows: int = 0
    # production rows left out: their model inputs equal a test-split row (production.py)
    test_overlap: dict[str, Any] = field(default_factory=dict)


def split(
    df: pd.DataFrame, data_cfg: DataConfig, cfg: SplitConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    target = normalise_name(data_cfg.target)
    y = strata(df[target], data_cfg.task, cfg.test_size)
    if cfg.time_column:
        col = _column(df, cfg.time_column, "split.time_column")
        when = time_order(df[col], "split.time_column")
        order = np.argsort(when, kind="stable")  # stable: ties keep file order; missing last
        n_test = max(1, round(len(df) * cfg.test_size))
        train_idx, test_idx = np.sort(order[:-n_test]), np.sort(order[-n_test:])
    elif cfg.group_column:
        col = _column(df, cfg.group_column, "split.group_column")
        n_splits = max(2, round(1 / cfg.test_size))
        folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=cfg.seed)
        labels = np.zeros(len(df)) if y is None else y
        train_idx, test_idx = next(folds.split(df, labels, groups=df[col].astype(str)))
    else:
        if y is not None and y.value_counts().min() < 2:
            raise DataError(f"{target}: a class has fewer than 2 rows; cannot stratify the split")
        train_idx, test_idx = train_test_split(
            np.arange(len(df)), test_size=cfg.test_size, stratify=y, random_state=cfg.seed
        )
        train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
    train = df.iloc[train_idx].reset_index(drop=True)
    test = df.iloc[test_idx].reset_index(drop=True)
    return train, test


def strata(target: pd.Series, task: Task, test_size: float) -> pd.Series | None:
    """What the split stratifies on: the label, or a regression target's quantile bins (10, 5
    or 2 of them, the most that give every bin a row on each side); None: too few rows."""
    if task.is_classification:
        return target
    numbers = pd.to_numeric(target, errors="coerce")
    n_test = math.ceil(len(target) * test_size)
    for q in (10, 5, 2):
        bins = pd.qcut(numbers, q, labels=False, duplicates="drop")
        counts = bins.value_counts()
        if len(counts) > 1 and counts.min() >= 2 and min(n_test, len(target) - n_test) >= q:
            return bins
    return None


def time_order(col: pd.Series, key: str) -> np.ndarray:
    """A time column as numbers that sort in time order (NaN: missing). Numbers and datetimes
    as they are; text (a CSV's dates stay text after ingest) parsed as dates: ISO 8601 first,
    else the one of month-first and day-first that reads every value ('15/07/2023' is only
    day-first). DataError, naming `key`, for text that is not dates, or that reads both ways
    in different orders (every day at most 12): sorting such text as text would put
    '15/07/2023' after '01/08/2024'."""
    import warnings

    if pd.api.types.is_numeric_dtype(col):
        return col.to_numpy(dtype="float64", na_value=np.nan)
    if pd.api.types.is_datetime64_any_dtype(col):
        return _as_numbers(col)
    present = col.notna()
    text = col.where(present, None).astype("object")
    parsed = pd.to_datetime(text, errors="coerce", format="ISO8601")
    if parsed[present].notna().all():
        return _as_numbers(parsed)
    readings = []
    for dayfirst in (False, True):
        with warnings.catch_warnings():  # "could not infer format": some value is not a date
            warnings.simplefilter("ignore")
            readings.append(pd.to_datetime(text, errors="coerce", dayfirst=dayfirst))
    complete = [r for r in readings if r[present].notna().all()]
    if not complete:
        bad = sorted({str(v) for v in col[present & readings[1].isna()]})[:3]
        raise DataError(
            f"{key}: {col.name} holds text that is not a date or a number (e.g. {bad}); "
            "write its times as ISO dates (2024-07-15) or numbers"
        )
    if len(complete) == 2 and not complete[0].equals(complete[1]):
        raise DataError(
            f"{key}: {col.name} reads as both day-first and month-first dates (e.g. "
            f"{col[present].iloc[0]!r}), which order the rows differently; write its times as "
            "ISO dates (2024-07-15)"
        )
    return _as_numbers(complete[0])


def _as_numbers(times: pd.Series) -> np.ndarray:
    numbers = times.astype("int64").astype("float64").to_numpy()
    return np.where(times.notna().to_numpy(), numbers, np.nan)


def _column(df: pd.DataFrame, name: str, key: str) -> str:
    col = normalise_name(name)
    if col not in df.columns:
        raise DataError(f"{key}: column {name!r} not found; columns are: {', '.join(df.columns)}")
    return col


def run(
    df: pd.DataFrame,
    data_cfg: DataConfig,
    cfg: SplitConfig,
    train_out: Path,
    test_out: Path,
    recent_out: Path | None = None,
) -> SplitResult:
    """Split the source; then production rows join train or the recent slice (production.py)."""
    from gitml.pipeline import production

    train, test = split(df, data_cfg, cfg)
    original = len(train)
    joined = production.join(
        train,
        test,
        data_cfg.extra_sources,
        data_cfg.recent_share,
        normalise_name(data_cfg.target),
        exclude=split_columns(cfg),
    )
    train, recent = joined.train, joined.recent
    write_parquet(train_out, train)
    write_parquet(test_out, test)
    if recent_out is not None:
        write_parquet(recent_out, recent)
    return SplitResult(
        len(train), len(test), len(train) - original, len(recent), joined.test_overlap.as_dict()
    )


def split_columns(cfg: SplitConfig) -> list[str]:
    """The group/time columns: how rows are split, not model inputs (dataset.split_xy)."""
    return [normalise_name(c) for c in (cfg.group_column, cfg.time_column) if c]
