"""How labelled production rows (from `gitml harvest`) join the data: the split stage's rule.

The rule, so that test metrics stay comparable across model versions:

1. The original source is split exactly as before (same rows, same seed), so the test split
   does not change when production data arrives: the promotion gate keeps judging every
   version on the same rows.
2. Production rows never enter the test split. They are ordered by prediction time
   (`logged_at`, then `prediction_id`); the newest `data.recent_share` of them are held out as
   the "recent traffic" slice (data/split/recent.parquet): scored by evaluate and in the PR
   report, never trained on. The older rest joins the training split.
3. A prediction id seen twice (in two harvest files) counts once.
4. A production row whose model inputs equal a test-split row (every column but the target and
   the split's group/time columns, after the same dtype handling as the join, missing equal to
   missing) is dropped, from training and from the recent slice alike, and counted
   (`test_overlap`). Trained on, it would lift the test metrics the gate judges on exactly the
   rows it memorised (`gitml simulate --feedback` draws from the test split; a real log can hold
   the same rows too: Adult has 990 test rows that are exact copies of train rows). In the
   recent slice it would be scored against prod, which may itself have trained on it. The
   check is here, in the split stage, so it holds whatever wrote the files.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from gitml.errors import DataError
from gitml.io.files import read_parquet

ID = "prediction_id"
LOGGED_AT = "logged_at"
MAX_EXAMPLES = 5


@dataclass(frozen=True)
class Overlap:
    """Production rows equal to a test-split row: how many, and a few of their ids."""

    rows: int = 0
    examples: list[str] = field(default_factory=list)
    compared: int = 0  # production rows compared

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "examples": self.examples, "compared": self.compared}


class Joined(NamedTuple):
    train: pd.DataFrame  # the source's train split plus the older production rows
    recent: pd.DataFrame  # the recent-traffic slice
    test_overlap: Overlap  # production rows left out: equal to a test row


def files(sources: list[str], root: Path = Path()) -> list[Path]:
    """The Parquet files the `data.extra_sources` entries name (folders: every *.parquet)."""
    out: list[Path] = []
    for entry in sources:
        path = root / entry
        if path.is_dir():
            out += sorted(path.glob("*.parquet"))
        elif path.is_file():
            out.append(path)
        else:
            raise DataError(
                f"data.extra_sources: {entry} not found; run `gitml harvest` (it writes "
                "data/raw/production/DATE.parquet) or `dvc pull`, or remove the entry"
            )
    return out


def load(sources: list[str], columns: list[str], root: Path = Path()) -> pd.DataFrame:
    """All production rows, deduplicated, oldest first, in the canonical `columns` + id/time."""
    frames = []
    for path in files(sources, root):
        frame = read_parquet(path)
        missing = [c for c in [*columns, ID, LOGGED_AT] if c not in frame.columns]
        if missing:
            raise DataError(
                f"{path}: lacks the column(s) {missing}; production files come from "
                "`gitml harvest` (canonical columns plus prediction_id and logged_at)"
            )
        frames.append(frame[[*columns, ID, LOGGED_AT]])
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in [*columns, ID, LOGGED_AT]})
    rows = pd.concat(frames, ignore_index=True).drop_duplicates(ID, keep="first")
    return rows.sort_values([LOGGED_AT, ID], kind="stable").reset_index(drop=True)


def hold_out_recent(rows: pd.DataFrame, share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(older rows for training, newest `share` of rows as recent traffic); `rows` oldest first."""
    n_recent = math.ceil(len(rows) * share)
    cut = len(rows) - n_recent
    return rows.iloc[:cut].reset_index(drop=True), rows.iloc[cut:].reset_index(drop=True)


def inputs(columns: Iterable[str], target: str, exclude: Iterable[str | None] = ()) -> list[str]:
    """The model's input columns: all but the target, the split's group/time columns and the
    production id/time (`dataset.split_xy` drops the same)."""
    skip = {target, ID, LOGGED_AT} | {c for c in exclude if c}
    return [c for c in columns if c not in skip]


def equal_to_test(rows: pd.DataFrame, test: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """A boolean per row of `rows`: its `columns` equal those of some row of `test`.

    `rows` are cast to the test split's dtypes first (the join's dtype handling); equality is
    exact per value, with missing equal to missing (and 0.0 to -0.0), column by column: each
    column's values are coded jointly (pandas.factorize), then rows compared as tuples of codes.
    """
    if rows.empty or test.empty or not columns:
        return np.zeros(len(rows), dtype=bool)
    mine = rows[columns].astype(test[columns].dtypes.to_dict())
    codes_rows, codes_test = [], []
    for col in columns:
        both = pd.concat([mine[col], test[col]], ignore_index=True)
        codes, _ = pd.factorize(both, use_na_sentinel=False)
        codes_rows.append(codes[: len(mine)])
        codes_test.append(codes[len(mine) :])
    keys = pd.MultiIndex.from_arrays(codes_rows)
    return np.asarray(keys.isin(pd.MultiIndex.from_arrays(codes_test)), dtype=bool)


def overlap(rows: pd.DataFrame, mask: np.ndarray) -> Overlap:
    """The count and the first few prediction ids of the rows `mask` picks."""
    ids = rows.loc[mask, ID].astype(str).tolist() if ID in rows.columns else []
    return Overlap(int(mask.sum()), ids[:MAX_EXAMPLES], len(rows))


def drop_test_rows(
    rows: pd.DataFrame, test: pd.DataFrame, target: str, exclude: Iterable[str | None] = ()
) -> tuple[pd.DataFrame, Overlap]:
    """(the production rows that equal no test-split row, what was dropped)."""
    mask = equal_to_test(rows, test, inputs(test.columns, target, exclude))
    return rows.loc[~mask].reset_index(drop=True), overlap(rows, mask)


def join(
    train: pd.DataFrame,
    test: pd.DataFrame,
    sources: list[str],
    share: float,
    target: str,
    root: Path = Path(),
    exclude: Iterable[str | None] = (),
) -> Joined:
    """Train with the older production rows appended, the recent-traffic slice, and the
    production rows left out because they equal a test row (`exclude`: group/time columns)."""
    columns = list(train.columns)
    rows = load(sources, columns, root)
    rows, dropped = drop_test_rows(rows, test, target, exclude)
    older, recent = hold_out_recent(rows, share)
    if len(older):
        older = older[columns].astype(train.dtypes.to_dict())
        train = pd.concat([train, older], ignore_index=True)
    recent = recent[columns]
    recent = recent.astype(train.dtypes.to_dict()) if len(recent) else train.iloc[:0]
    return Joined(train, recent.reset_index(drop=True), dropped)
