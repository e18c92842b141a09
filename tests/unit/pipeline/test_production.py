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


def _join(
    train: pd.DataFrame,
    sources: list[str],
    share: float,
    root: Path = Path(),
    test: pd.DataFrame | None = None,
) -> production.Joined:
    """join with a test split no production row equals (unless one is given)."""
    if test is None:
        test = pd.DataFrame({c: pd.Series(dtype=train[c].dtype) for c in train.columns})
    return production.join(train, test, sources, share, "income", root=root)


def test_newest_share_is_held_out_older_rows_join_train_duplicates_once(tmp_path: Path) -> None:
    folder = tmp_path / "production"
    folder.mkdir()
    _rows(["a", "b"], ["2026-01-02", "2026-01-01"], [2.0, 1.0]).to_parquet(folder / "1.parquet")
    # "b" again in a second harvest, plus two newer rows
    _rows(["b", "c", "d"], ["2026-01-01", "2026-01-04", "2026-01-03"], [1.0, 4.0, 3.0]).to_parquet(
        folder / "2.parquet"
    )
    train = pd.DataFrame({"x": [10.0], "income": [">50K"]})
    joined, recent, overlap = _join(train, ["production"], 0.5, root=tmp_path)
    assert overlap.rows == 0 and overlap.compared == 4  # 5 rows, "b" twice
    # oldest first: b (01), a (02), d (03), c (04); the newest half is held out
    assert joined["x"].tolist() == [10.0, 1.0, 2.0]
    assert recent["x"].tolist() == [3.0, 4.0]
    assert list(recent.columns) == ["x", "income"]  # ids and times never become features


def test_no_sources_leave_train_alone_and_recent_empty() -> None:
    train = pd.DataFrame({"x": [1.0], "income": [">50K"]})
    joined, recent, overlap = _join(train, [], 0.25)
    assert joined.equals(train) and recent.empty and list(recent.columns) == ["x", "income"]
    assert overlap == production.Overlap(0, [], 0)


def test_missing_source_and_columns_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data\.extra_sources: nope not found"):
        _join(pd.DataFrame({"x": [1.0]}), ["nope"], 0.25, root=tmp_path)
    pd.DataFrame({"x": [1.0]}).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(DataError, match=r"lacks the column\(s\) \['income'"):
        _join(pd.DataFrame({"x": [1.0], "income": ["a"]}), ["bad.parquet"], 0.25, root=tmp_path)


def test_rows_equal_to_a_test_row_are_dropped_from_train_and_recent(tmp_path: Path) -> None:
    """Model inputs decide, after the join's dtype handling: 39 (int, as JSON sends it) equals
    39.0, a missing value equals a missing value; the target does not count."""
    test = pd.DataFrame(
        {"age": [39.0, 50.0], "job": ["Sales", None], "income": ["<=50K", ">50K"]}
    ).astype({"job": "str"})
    train = pd.DataFrame({"age": [20.0], "job": ["Tech"], "income": ["<=50K"]}).astype(
        {"job": "str"}
    )
    rows = pd.DataFrame(
        {
            "age": [39, 50, 50, 39, 61, 39],
            "job": ["Sales", None, "Sales", "Sales", None, "Tech"],
            # id-0 has the other label than its test row: the inputs alone decide
            "income": [">50K", ">50K", "<=50K", "<=50K", "<=50K", "<=50K"],
            "prediction_id": [f"id-{i}" for i in range(6)],
            "logged_at": pd.date_range("2026-01-01", periods=6, freq="h", tz="UTC"),
        }
    )
    rows.to_parquet(tmp_path / "p.parquet")
    joined, recent, overlap = _join(train, ["p.parquet"], 0.5, root=tmp_path, test=test)
    # id-0, id-1 (missing == missing) and id-3 equal a test row; id-2, id-4, id-5 do not
    assert overlap == production.Overlap(3, ["id-0", "id-1", "id-3"], 6)
    assert overlap.as_dict() == {"rows": 3, "examples": ["id-0", "id-1", "id-3"], "compared": 6}
    # the rest split as before: oldest first, the newest half (ceil 1.5 = 2) held out
    assert joined["age"].tolist() == [20.0, 50.0]
    assert recent["age"].tolist() == [61.0, 39.0] and recent["job"].tolist()[1] == "Tech"
    assert joined.dtypes.equals(train.dtypes) and recent.dtypes.equals(train.dtypes)


def test_excluded_columns_are_not_model_inputs() -> None:
    """The split's group/time columns and the id/time of a production row never decide."""
    test = pd.DataFrame({"x": [1.0], "household": ["h1"], "income": ["<=50K"]})
    rows = pd.DataFrame(
        {
            "x": [1.0, 2.0],
            "household": ["h9", "h1"],
            "income": [">50K"] * 2,
            "prediction_id": ["a", "b"],
        }
    )
    columns = production.inputs(test.columns, "income", ["household"])
    assert columns == ["x"]
    assert production.equal_to_test(rows, test, columns).tolist() == [True, False]
    with_group = production.inputs(test.columns, "income")
    assert production.equal_to_test(rows, test, with_group).tolist() == [False, False]
    assert production.inputs(["x", "prediction_id", "logged_at", "income"], "income") == ["x"]


def test_examples_are_a_few_ids() -> None:
    test = pd.DataFrame({"x": [1.0], "income": ["a"]})
    rows = pd.DataFrame({"x": [1.0] * 9, "income": ["a"] * 9, "prediction_id": list("abcdefghi")})
    kept, overlap = production.drop_test_rows(rows, test, "income")
    assert kept.empty and overlap.rows == 9 and overlap.examples == list("abcde")
