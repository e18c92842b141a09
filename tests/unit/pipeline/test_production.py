"""The rule that joins labelled production rows to the data (gitml.pipeline.production)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from gitml.errors import DataError
from gitml.pipeline import production


def _rows(ids: list[str], times: list[str], x: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {"x": x, "income": ["<=50K"] * len(ids), "prediction_id": ids, "logged_at": times}
    )


def test_newest_share_is_held_out_older_rows_join_train_duplicates_once(tmp_path: Path) -> None:
    folder = tmp_path / "production"
    folder.mkdir()
    _rows(["a", "b"], ["2026-01-02", "2026-01-01"], [2.0, 1.0]).to_parquet(folder / "1.parquet")
    # "b" again in a second harvest, plus two newer rows
    _rows(["b", "c", "d"], ["2026-01-01", "2026-01-04", "2026-01-03"], [1.0, 4.0, 3.0]).to_parquet(
        folder / "2.parquet"
    )
    train = pd.DataFrame({"x": [10.0], "income": [">50K"]})
    joined, recent = production.join(train, ["production"], 0.5, root=tmp_path)
    # oldest first: b (01), a (02), d (03), c (04); the newest half is held out
    assert joined["x"].tolist() == [10.0, 1.0, 2.0]
    assert recent["x"].tolist() == [3.0, 4.0]
    assert list(recent.columns) == ["x", "income"]  # ids and times never become features


def test_no_sources_leave_train_alone_and_recent_empty() -> None:
    train = pd.DataFrame({"x": [1.0], "income": [">50K"]})
    joined, recent = production.join(train, [], 0.25)
    assert joined.equals(train) and recent.empty and list(recent.columns) == ["x", "income"]


def test_missing_source_and_columns_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data\.extra_sources: nope not found"):
        production.join(pd.DataFrame({"x": [1.0]}), ["nope"], 0.25, root=tmp_path)
    pd.DataFrame({"x": [1.0]}).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(DataError, match=r"lacks the column\(s\) \['income'"):
        production.join(
            pd.DataFrame({"x": [1.0], "income": ["a"]}), ["bad.parquet"], 0.25, root=tmp_path
        )
