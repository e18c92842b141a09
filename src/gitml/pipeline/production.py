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
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from gitml.errors import DataError
from gitml.io.files import read_parquet

ID = "prediction_id"
LOGGED_AT = "logged_at"


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


def join(
    train: pd.DataFrame, sources: list[str], share: float, root: Path = Path()
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train with the older production rows appended, the recent-traffic slice)."""
    columns = list(train.columns)
    rows = load(sources, columns, root)
    older, recent = hold_out_recent(rows, share)
    if len(older):
        older = older[columns].astype(train.dtypes.to_dict())
        train = pd.concat([train, older], ignore_index=True)
    recent = recent[columns]
    recent = recent.astype(train.dtypes.to_dict()) if len(recent) else train.iloc[:0]
    return train, recent.reset_index(drop=True)
