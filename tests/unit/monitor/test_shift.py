"""The shift-spec language of `gitml simulate` and the monitor's detection tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gitml.errors import ConfigError, DataError
from gitml.monitor.shift import Shift, apply_shift, parse_shift

pytestmark = pytest.mark.xdist_group("serving")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("age+10", Shift("age", "add", 10.0)),
        ("age-5", Shift("age", "add", -5.0)),
        ("age*1.5", Shift("age", "mul", 1.5)),
        ("hours_per_week + 2.5", Shift("hours_per_week", "add", 2.5)),
        ("workclass=Private", Shift("workclass", "set", "Private")),
        ("native_country=United-States", Shift("native_country", "set", "United-States")),
        ("occupation=blank", Shift("occupation", "blank", None)),
        ("workclass=Private@0.3", Shift("workclass", "set", "Private", 0.3)),
        ("occupation=blank@0.5", Shift("occupation", "blank", None, 0.5)),
    ],
)
def test_parse_and_round_trip(spec: str, expected: Shift) -> None:
    parsed = parse_shift(spec)
    assert parsed == expected
    assert parse_shift(str(parsed)) == parsed


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("age", "cannot parse"),
        ("", "cannot parse"),
        ("=Private", "cannot parse"),
        ("age+ten", "'ten' is not a number"),
        ("age*inf", "finite"),
        ("age+1@0", "fraction must be in (0, 1]"),
        ("age+1@1.5", "fraction must be in (0, 1]"),
        ("age+1@x", "'x' is not a number"),
    ],
)
def test_malformed_specs_name_the_spec_and_the_grammar(spec: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_shift(spec)
    assert fragment in str(info.value)
    assert repr(spec) in str(info.value)


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [20.0, 45.0, 85.0, np.nan],
            "workclass": pd.Series(["State-gov", None, "Private", "Local-gov"], dtype="str"),
        }
    )


def test_numeric_shift_adds_keeps_missing_and_clips_to_bounds(frame: pd.DataFrame) -> None:
    rng = np.random.default_rng(0)
    out = apply_shift(frame, parse_shift("age+10"), rng, {"age": (17.0, 90.0)})
    assert out["age"].tolist()[:3] == [30.0, 55.0, 90.0]
    assert np.isnan(out["age"].iloc[3])
    assert frame["age"].iloc[0] == 20.0  # the input is not modified
    unclipped = apply_shift(frame, parse_shift("age*2"), rng)
    assert unclipped["age"].tolist()[:3] == [40.0, 90.0, 170.0]


def test_set_and_blank_keep_the_dtype(frame: pd.DataFrame) -> None:
    rng = np.random.default_rng(0)
    out = apply_shift(frame, parse_shift("workclass=Private"), rng)
    assert out["workclass"].tolist() == ["Private"] * 4
    assert out["workclass"].dtype == frame["workclass"].dtype
    blank = apply_shift(frame, parse_shift("workclass=blank"), rng)
    assert blank["workclass"].isna().all()
    assert blank["workclass"].dtype == frame["workclass"].dtype
    assert apply_shift(frame, parse_shift("age=blank"), rng)["age"].isna().all()


def test_fraction_changes_that_share_of_rows_reproducibly() -> None:
    df = pd.DataFrame({"x": np.zeros(1000)})
    shift = parse_shift("x+1@0.3")
    a = apply_shift(df, shift, np.random.default_rng(7))
    b = apply_shift(df, shift, np.random.default_rng(7))
    c = apply_shift(df, shift, np.random.default_rng(8))
    assert int(a["x"].sum()) == 300
    assert a.equals(b)
    assert not a.equals(c)


def test_unknown_or_wrong_kind_of_column_is_a_data_error(frame: pd.DataFrame) -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(DataError, match="'salary' is not in the data"):
        apply_shift(frame, parse_shift("salary+1"), rng)
    with pytest.raises(DataError, match="not numeric"):
        apply_shift(frame, parse_shift("workclass+1"), rng)
