"""featurize: stateless, row-wise derived features (the same value in a batch of one)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitml.core import features
from gitml.errors import DataError
from gitml.io.files import read_parquet
from gitml.pipeline import featurize

ALL = sorted(features.REGISTRY)
MARITAL = ["Married-civ-spouse", "Married-AF-spouse", "Never-married", "Divorced", "Widowed"]

money = st.one_of(st.just(0.0), st.floats(-10.0, 1e5, allow_nan=False), st.just(math.nan))
small = st.one_of(st.floats(0.0, 120.0, allow_nan=False), st.just(math.nan))


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(1, 40))
    col = lambda s: draw(st.lists(s, min_size=n, max_size=n))  # noqa: E731
    return pd.DataFrame(
        {
            "capital_gain": col(money),
            "capital_loss": col(money),
            "hours_per_week": col(small),
            "age": col(small),
            "marital_status": pd.Series(col(st.sampled_from([*MARITAL, None])), dtype="str"),
            "other": col(st.text(max_size=3)),
        }
    )


@settings(max_examples=80, deadline=None)
@given(df=frames(), data=st.data())
def test_shuffling_rows_shuffles_the_features_the_same_way(
    df: pd.DataFrame, data: st.DataObject
) -> None:
    perm = data.draw(st.permutations(range(len(df))))
    batch = features.apply(df, ALL)
    shuffled = features.apply(df.iloc[perm].reset_index(drop=True), ALL)
    pd.testing.assert_frame_equal(shuffled, batch.iloc[perm].reset_index(drop=True))


@settings(max_examples=80, deadline=None)
@given(df=frames(), data=st.data())
def test_a_row_alone_equals_the_same_row_in_a_batch(df: pd.DataFrame, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(df) - 1))
    batch = features.apply(df, ALL).iloc[[i]].reset_index(drop=True)
    alone = features.apply(df.iloc[[i]].reset_index(drop=True), ALL)
    pd.testing.assert_frame_equal(alone, batch)
    # as a serving request builds it: one JSON-like record (null for missing), dtypes guessed
    payload = {k: None if pd.isna(v) else v for k, v in df.iloc[i].items()}
    served = features.apply(pd.DataFrame([payload]), ALL)
    pd.testing.assert_frame_equal(served[ALL], batch[ALL])


def test_values_by_hand() -> None:
    df = pd.DataFrame(
        {
            "capital_gain": [0.0, 1000.0, np.nan, -5.0],
            "capital_loss": [200.0, 0.0, 10.0, 0.0],
            "hours_per_week": [40.0, 60.0, 20.0, 10.0],
            "age": [20.0, 0.5, np.nan, 40.0],
            "marital_status": pd.Series(
                ["Married-civ-spouse", "Never-married", None, "Divorced"], dtype="str"
            ),
        }
    )
    out = features.apply(df, ALL)
    expected = pd.DataFrame(
        {
            "net_capital": [-200.0, 1000.0, np.nan, -5.0],
            "log_capital_gain": [0.0, math.log(1001.0), np.nan, 0.0],  # negatives clip to 0
            "log_capital_loss": [math.log(201.0), 0.0, math.log(11.0), 0.0],
            "is_married": [1.0, 0.0, np.nan, 0.0],  # missing stays missing
            "hours_per_age": [2.0, 60.0, np.nan, 0.25],  # age clipped to at least 1
        }
    )
    pd.testing.assert_frame_equal(out[list(expected.columns)], expected, rtol=1e-12)
    assert (out.dtypes[list(expected.columns)] == np.float64).all()


def test_an_entirely_missing_text_column_gives_missing_not_a_crash() -> None:
    # ingest stores a column with no present value as float64 NaN (nothing says it is text), so
    # a small batch (or one request) without marital_status arrives like this.
    from gitml.config import DataConfig
    from gitml.pipeline.ingest import normalise

    raw = pd.DataFrame({"marital_status": ["?", ""], "income": [">50K", "<=50K"]})
    batch = normalise(raw, DataConfig())
    out = features.apply(batch, ["is_married"])
    assert out["is_married"].isna().all()


def test_input_is_not_modified_and_columns_are_appended_in_order() -> None:
    df = pd.DataFrame({"capital_gain": [1.0], "capital_loss": [2.0], "z": ["a"]})
    before = df.copy()
    out = features.apply(df, ["log_capital_loss", "net_capital"])
    pd.testing.assert_frame_equal(df, before)
    assert list(out.columns) == [
        "capital_gain",
        "capital_loss",
        "z",
        "log_capital_loss",
        "net_capital",
    ]
    assert features.apply(df, []).equals(df)


def test_applying_twice_recomputes_in_place() -> None:
    df = pd.DataFrame({"capital_gain": [3.0], "capital_loss": [1.0]})
    once = features.apply(df, ["net_capital"])
    stale = once.assign(net_capital=99.0)
    twice = features.apply(stale, ["net_capital"])
    assert list(twice.columns) == ["capital_gain", "capital_loss", "net_capital"]
    assert twice["net_capital"].tolist() == [2.0]


def test_integer_inputs_give_float_features() -> None:
    df = pd.DataFrame({"capital_gain": [3, 5], "capital_loss": [1, 10]})
    out = features.apply(df, ["net_capital"])
    assert out["net_capital"].tolist() == [2.0, -5.0]
    assert out["net_capital"].dtype == np.float64


def test_missing_input_column_is_named() -> None:
    with pytest.raises(DataError) as info:
        features.apply(pd.DataFrame({"capital_gain": [1.0]}), ["net_capital"])
    assert "net_capital" in str(info.value)
    assert "capital_loss" in str(info.value)


def test_every_registered_feature_declares_what_it_reads() -> None:
    full = pd.DataFrame(
        {
            "capital_gain": [1.0],
            "capital_loss": [0.0],
            "hours_per_week": [40.0],
            "age": [30.0],
            "marital_status": pd.Series(["Divorced"], dtype="str"),
        }
    )
    for name, feature in features.REGISTRY.items():
        # the declared columns are enough to compute it ...
        features.apply(full[list(feature.requires)], [name])
        # ... and each of them is needed
        for col in feature.requires:
            with pytest.raises(DataError):
                features.apply(full.drop(columns=[col]), [name])


def test_featurize_on_real_rows_is_row_wise(adult_sample: pd.DataFrame) -> None:
    head = adult_sample.head(300)
    batch = features.apply(head, ALL)
    rows = pd.concat([features.apply(head.iloc[[i]], ALL) for i in range(0, 300, 37)])
    pd.testing.assert_frame_equal(rows, batch.iloc[list(range(0, 300, 37))])


def test_run_writes_one_file_per_split(tmp_path: Path) -> None:
    df = pd.DataFrame({"capital_gain": [1.0, 2.0], "capital_loss": [0.0, 1.0]})
    paths = featurize.run(["net_capital"], {"train": df, "test": df.head(1)}, tmp_path)
    assert set(paths) == {"train", "test"}
    assert read_parquet(paths["train"])["net_capital"].tolist() == [1.0, 1.0]
    assert read_parquet(paths["test"])["net_capital"].tolist() == [1.0]
