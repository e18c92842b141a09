"""split: seeded, stratified, disjoint and complete; by group or by time when configured."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gitml.config import DataConfig, SplitConfig
from gitml.errors import DataError
from gitml.io.files import read_parquet
from gitml.pipeline import split

DATA = DataConfig()


@st.composite
def labelled_frames(draw: st.DrawFn) -> pd.DataFrame:
    """A frame with a unique id, a binary income label in random order and a payload column."""
    n_pos = draw(st.integers(2, 120))
    n_neg = draw(st.integers(2, 120))
    labels = [">50K"] * n_pos + ["<=50K"] * n_neg
    order = draw(st.permutations(range(len(labels))))
    labels = [labels[i] for i in order]
    n = len(labels)
    return pd.DataFrame(
        {
            "id": np.arange(n) * 7 + 3,
            "x": np.linspace(-1, 1, n),
            "income": pd.Series(labels, dtype="str"),
        }
    )


def positive_rate(df: pd.DataFrame) -> float:
    return float((df["income"] == ">50K").mean())


@settings(max_examples=80, deadline=None)
@given(
    df=labelled_frames(),
    test_size=st.floats(0.1, 0.5),
    seed=st.integers(0, 2**31 - 1),
)
def test_split_is_a_stratified_partition(df: pd.DataFrame, test_size: float, seed: int) -> None:
    n = len(df)
    # both sides need room for both classes, or a stratified split is impossible
    assume(min(test_size * n, (1 - test_size) * n) >= 2)
    cfg = SplitConfig(test_size=test_size, seed=seed)
    train, test = split.split(df, DATA, cfg)

    # a partition: disjoint, complete, rows unchanged
    assert set(train["id"]).isdisjoint(test["id"])
    assert sorted([*train["id"], *test["id"]]) == sorted(df["id"])
    by_id = df.set_index("id")
    for side in (train, test):
        pd.testing.assert_frame_equal(
            side.set_index("id"), by_id.loc[side["id"]], check_names=False
        )
        assert list(side.index) == list(range(len(side)))
        # file order is kept (ids grow with the row position)
        assert side["id"].is_monotonic_increasing

    # the requested size, to the row
    assert abs(len(test) - test_size * n) <= 1

    # stratified: each side's positive count is within one row of its share of the whole
    p = positive_rate(df)
    assert abs(positive_rate(test) - p) <= 1 / len(test) + 1e-9
    assert abs(positive_rate(train) - p) <= 1 / len(train) + 1e-9

    # same seed, same split
    train2, test2 = split.split(df.copy(), DATA, cfg)
    pd.testing.assert_frame_equal(train, train2)
    pd.testing.assert_frame_equal(test, test2)


def test_different_seeds_give_different_splits(adult_sample: pd.DataFrame) -> None:
    _, a_test = split.split(adult_sample, DATA, SplitConfig(seed=1))
    _, b_test = split.split(adult_sample, DATA, SplitConfig(seed=2))
    assert len(a_test) == len(b_test) == 400
    assert not a_test.equals(b_test)


def test_real_sample_is_stratified_within_half_a_point(adult_sample: pd.DataFrame) -> None:
    train, test = split.split(adult_sample, DATA, SplitConfig(test_size=0.2, seed=42))
    p = positive_rate(adult_sample)
    assert abs(positive_rate(train) - p) < 0.005
    assert abs(positive_rate(test) - p) < 0.005
    assert len(train) + len(test) == len(adult_sample)


def test_a_class_with_one_row_cannot_be_stratified() -> None:
    df = pd.DataFrame({"x": range(10), "income": [">50K"] + ["<=50K"] * 9})
    with pytest.raises(DataError, match="income"):
        split.split(df, DATA, SplitConfig())


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n_groups=st.integers(10, 40))
def test_group_split_keeps_every_group_on_one_side(seed: int, n_groups: int) -> None:
    rng = np.random.default_rng(seed)
    n = n_groups * 6
    df = pd.DataFrame(
        {
            "family": rng.integers(0, n_groups, n).astype(str),
            "income": np.where(rng.random(n) < 0.4, ">50K", "<=50K"),
            "row": np.arange(n),
        }
    )
    train, test = split.split(df, DATA, SplitConfig(group_column="Family", seed=seed))
    assert set(train["family"]).isdisjoint(test["family"])
    assert sorted([*train["row"], *test["row"]]) == list(range(n))
    assert len(test) > 0
    assert len(train) > 0


@settings(max_examples=30, deadline=None)
@given(
    times=st.lists(st.integers(0, 50), min_size=5, max_size=60),
    test_size=st.floats(0.1, 0.5),
)
def test_time_split_tests_on_the_latest_rows(times: list[int], test_size: float) -> None:
    n = len(times)
    df = pd.DataFrame({"when": times, "income": [">50K", "<=50K"] * (n // 2) + ["<=50K"] * (n % 2)})
    df["row"] = np.arange(n)
    train, test = split.split(df, DATA, SplitConfig(time_column="when", test_size=test_size))
    assert len(test) == max(1, round(n * test_size))
    assert sorted([*train["row"], *test["row"]]) == list(range(n))
    if len(train):
        assert train["when"].max() <= test["when"].min()


def test_a_time_column_of_day_first_dates_splits_on_the_dates_not_the_text() -> None:
    """A CSV's dates stay text after ingest: sorting '15/07/2023' as text puts it after
    '01/08/2024', so the 'latest' rows were those with the latest day of the month."""
    days = pd.date_range("2023-01-01", periods=40, freq="9D")
    order = np.random.default_rng(0).permutation(len(days))
    df = pd.DataFrame({"when": days[order].strftime("%d/%m/%Y"), "income": [">50K", "<=50K"] * 20})
    train, test = split.split(df, DATA, SplitConfig(time_column="when", test_size=0.25))
    as_dates = {side: pd.to_datetime(x["when"], format="%d/%m/%Y") for side, x in
                (("train", train), ("test", test))}  # fmt: skip
    assert len(test) == 10 and as_dates["train"].max() < as_dates["test"].min()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["03/04/2024", "04/03/2024", "05/06/2024"] * 4, "day-first and month-first"),
        (["2024-01-05", "soon", "2024-02-01"] * 4, "not a date or a number.*'soon'"),
    ],
)
def test_a_time_column_that_does_not_read_as_one_order_of_dates_is_refused(
    values: list[str], message: str
) -> None:
    df = pd.DataFrame({"when": values, "income": [">50K", "<=50K"] * (len(values) // 2)})
    with pytest.raises(DataError, match=rf"split\.time_column: when.*{message}"):
        split.split(df, DATA, SplitConfig(time_column="when", test_size=0.25))


def test_unknown_group_column_names_the_key() -> None:
    df = pd.DataFrame({"x": range(10), "income": [">50K", "<=50K"] * 5})
    with pytest.raises(DataError, match=r"split\.group_column.*household"):
        split.split(df, DATA, SplitConfig(group_column="household"))


def test_run_writes_both_sides(adult_sample: pd.DataFrame, tmp_path: Path) -> None:
    result = split.run(
        adult_sample, DATA, SplitConfig(), tmp_path / "train.parquet", tmp_path / "test.parquet"
    )
    train, test = read_parquet(tmp_path / "train.parquet"), read_parquet(tmp_path / "test.parquet")
    assert (result.train_rows, result.test_rows) == (len(train), len(test)) == (1600, 400)
    expected_train, _ = split.split(adult_sample, DATA, SplitConfig())
    pd.testing.assert_frame_equal(train, expected_train)


def test_production_rows_leave_the_test_split_alone_and_never_copy_a_test_row(
    adult: pd.DataFrame, adult_sample: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test split is the same with and without production rows; a production row whose
    inputs equal a test row (here: test rows sent back as traffic, as `gitml simulate` does)
    joins neither train nor the recent slice, and is counted."""
    monkeypatch.chdir(tmp_path)
    _, test = split.split(adult_sample, DATA, SplitConfig())
    fresh = adult.drop(adult_sample.index).sample(60, random_state=1)
    rows = pd.concat([test.head(40), fresh], ignore_index=True)
    rows["prediction_id"] = [f"id-{i:03d}" for i in range(len(rows))]
    rows["logged_at"] = pd.date_range("2026-11-01", periods=len(rows), freq="min", tz="UTC")
    Path("production").mkdir()
    rows.to_parquet("production/2026-11-30.parquet")

    outs = {}
    for name, sources in (("without", []), ("with", ["production"])):
        cfg = DATA.model_copy(update={"extra_sources": sources, "recent_share": 0.25})
        paths = [Path(f"{name}-{side}.parquet") for side in ("train", "test", "recent")]
        outs[name] = (
            split.run(adult_sample, cfg, SplitConfig(), *paths),
            *map(read_parquet, paths),
        )
    (plain, train0, test0, _), (result, train1, test1, recent1) = outs["without"], outs["with"]
    pd.testing.assert_frame_equal(test0, test1)  # the gate's rows do not move
    pd.testing.assert_frame_equal(train1.head(len(train0)), train0)
    assert plain.test_overlap == {"rows": 0, "examples": [], "compared": 0}

    # fresh rows may equal a test row too (Adult has exact duplicates): count them as the rule
    inputs = [c for c in test.columns if c != "income"]
    keys = set(test[inputs].astype(str).itertuples(index=False))
    equal = [tuple(r) in keys for r in rows[inputs].astype(str).itertuples(index=False)]
    assert all(equal[:40]) and sum(equal) >= 40
    assert result.test_overlap["rows"] == sum(equal) and result.test_overlap["compared"] == 100
    assert result.test_overlap["examples"] == [f"id-{i:03d}" for i in range(5)]
    kept = len(rows) - sum(equal)
    assert (
        result.production_rows + result.recent_rows
        == kept
        == len(train1) - len(train0) + len(recent1)
    )
    # no training or recent row has the inputs of a test row
    for side in (train1.iloc[len(train0) :], recent1):
        assert not any(tuple(r) in keys for r in side[inputs].astype(str).itertuples(index=False))
