"""schema: infer a draft contract, write it as reviewed YAML, load it back."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from gitml.cli.app import exit_code
from gitml.core import schema
from gitml.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]
COMMITTED = ROOT / "schema" / "adult.schema.yaml"


def small() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [20.0, 35.0, np.nan, 60.0],
            "hours": [10.0, 40.0, 40.0, 60.0],
            "job": pd.Series(["b", "a", None, "a"], dtype="str"),
            "country": pd.Series(["x", "y", "z", "w"], dtype="str"),
            "income": pd.Series(["n", "p", "n", "n"], dtype="str"),
        }
    )


def failures(s: pa.DataFrameSchema, df: pd.DataFrame) -> pd.DataFrame:
    with pytest.raises(pa.errors.SchemaErrors) as info:
        s.validate(df, lazy=True)
    return info.value.failure_cases


def test_infer_ranges_categories_and_nullability() -> None:
    s, warnings = schema.infer(small(), "income", max_categories=3)
    cols = s.columns
    assert list(cols) == ["age", "hours", "job", "country", "income"]
    assert cols["age"].nullable
    assert not cols["hours"].nullable
    assert cols["job"].nullable
    assert not cols["income"].nullable
    age_check = cols["age"].checks[0]
    # seen 20..60, widened by 10% of the span: a new row a little older is not refused
    assert age_check.statistics == {
        "min_value": 16.0,
        "max_value": 64.0,
        "include_min": True,
        "include_max": True,
    }
    assert cols["job"].checks[0].statistics["allowed_values"] == ["a", "b"]
    assert cols["income"].checks[0].statistics["allowed_values"] == ["n", "p"]
    # 4 distinct countries > 3: no category list, and the reviewer is warned
    assert cols["country"].checks == []
    assert len(warnings) == 1
    assert "country" in warnings[0]
    assert s.strict
    # a time column has many distinct values by nature: not flagged as an identifier
    assert schema.infer(small(), "income", 3, frozenset({"country"}))[1] == []


def test_drafted_ranges_have_a_margin_and_stay_non_negative() -> None:
    assert schema.widened(20.0, 60.0) == (16.0, 64.0)
    assert schema.widened(0.5, 10.5) == (0.0, 11.5)  # never negative stays so
    assert schema.widened(-5.0, 5.0) == (-6.0, 6.0)
    assert schema.widened(7.0, 7.0) == (6.3, 7.7)  # one value: 10% of it
    lo, hi = schema.widened(6.981, 28.11)
    assert lo <= 6.981 and hi >= 28.11 and lo == 4.8681


def test_the_target_is_never_nullable_even_with_missing_labels() -> None:
    df = small()
    df.loc[0, "income"] = None
    s, _ = schema.infer(df, "income", max_categories=10)
    assert not s.columns["income"].nullable


def test_infer_requires_the_target() -> None:
    with pytest.raises(ConfigError, match="salary"):
        schema.infer(small(), "salary", max_categories=10)


def test_written_schema_round_trips_and_judges_data(tmp_path: Path) -> None:
    draft, _ = schema.infer(small(), "income", max_categories=10)
    path = schema.write(draft, tmp_path / "s.yaml")
    text = path.read_text()
    assert text.startswith("# Data contract")
    assert "REVIEW" in text
    loaded = schema.load(path)
    loaded.validate(small())  # the data it was drafted from passes

    bad = small()
    bad.loc[1, "age"] = 65.0  # above the observed max (60) plus the margin (4)
    bad.loc[3, "job"] = "c"  # not an observed category
    cases = failures(loaded, bad)
    assert set(zip(cases["column"], cases["index"], strict=True)) == {("age", 1), ("job", 3)}

    extra = small().assign(new_col=1.0)  # strict: unknown columns are refused
    assert "new_col" in failures(loaded, extra)["failure_case"].astype(str).tolist()

    nulls = small()
    nulls.loc[0, "hours"] = np.nan  # hours had no missing values in the draft data
    assert failures(loaded, nulls)["column"].tolist() == ["hours"]


def test_load_missing_file_says_how_to_draft_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        schema.load(tmp_path / "none.yaml")
    assert exit_code(info.value) == 2
    assert "none.yaml" in str(info.value)
    assert "gitml schema infer" in str(info.value)


def test_load_malformed_schema(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("columns: [this, is, not, a, schema\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml"):
        schema.load(path)


def test_schema_hash_is_the_sha256_of_the_file() -> None:
    assert schema.schema_hash(COMMITTED) == hashlib.sha256(COMMITTED.read_bytes()).hexdigest()


def test_committed_schema_accepts_the_real_data(adult_sample: pd.DataFrame) -> None:
    schema.load(COMMITTED).validate(adult_sample)


def test_committed_schema_matches_a_fresh_draft_on_the_columns(adult: pd.DataFrame) -> None:
    # The reviewed file may widen ranges, but it must cover the same columns as the data.
    committed = schema.load(COMMITTED)
    draft, _ = schema.infer(adult, "income", max_categories=200)
    assert list(committed.columns) == list(draft.columns)
    for name in draft.columns:
        assert committed.columns[name].nullable or not draft.columns[name].nullable, name


def test_the_drafts_header_does_not_send_the_reader_to_edit_dvc_yaml() -> None:
    """dvc.yaml depends on ${validate.schema_file}: the draft's header said to name the file in
    dvc.yaml too, and a user following it would edit a file that needs no edit (the walk)."""
    assert "in params.yaml (validate.schema_file)" in schema.HEADER
    assert "and in dvc.yaml" not in schema.HEADER
    dvc_yaml = (Path(__file__).resolve().parents[3] / "dvc.yaml").read_text(encoding="utf-8")
    assert "${validate.schema_file}" in dvc_yaml
