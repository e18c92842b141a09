"""validate.check: the committed contract plus quality rules, each failure with ≤ 5 examples."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from gitml.config import DataConfig, ValidateConfig
from gitml.core import schema
from gitml.io.files import read_json, read_parquet
from gitml.pipeline import validate

ROOT = Path(__file__).resolve().parents[3]
SCHEMA_FILE = ROOT / "schema" / "adult.schema.yaml"
DATA = DataConfig()
CFG = ValidateConfig(schema_file=str(SCHEMA_FILE))


@pytest.fixture(scope="module")
def contract() -> pa.DataFrameSchema:
    return schema.load(SCHEMA_FILE)


@pytest.fixture
def clean(adult_sample: pd.DataFrame) -> pd.DataFrame:
    """The sample without exact duplicates, so that a flood is the only source of them."""
    return adult_sample.drop_duplicates().reset_index(drop=True)


def check(df: pd.DataFrame, contract: pa.DataFrameSchema, **cfg: Any) -> validate.ValidationResult:
    return validate.check(df, DATA, CFG.model_copy(update=cfg), contract)


def only(
    result: validate.ValidationResult, rule_prefix: str, column: str | None = None
) -> validate.Violation:
    hits = [
        v
        for v in result.violations
        if v.rule.startswith(rule_prefix) and column in (None, v.column)
    ]
    assert len(hits) == 1, [v.rule for v in result.violations]
    return hits[0]


def plain(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def assert_at_most_five_examples(result: validate.ValidationResult) -> None:
    for v in result.violations:
        assert len(v.examples) <= validate.MAX_EXAMPLES == 5, v.rule


def test_clean_sample_passes(adult_sample: pd.DataFrame, contract: pa.DataFrameSchema) -> None:
    result = check(adult_sample, contract)
    assert result.passed, [v.as_dict() for v in result.violations]
    assert result.violations == []
    assert result.rows == len(adult_sample)
    assert result.columns == adult_sample.shape[1]
    q = result.quality
    expected_rate = (adult_sample["income"] == ">50K").mean()
    assert q["positive_rate"] == pytest.approx(expected_rate, abs=1e-6)
    assert q["duplicate_rate"] == pytest.approx(adult_sample.duplicated().mean(), abs=1e-6)
    assert q["missing_rate"]["workclass"] == pytest.approx(
        adult_sample["workclass"].isna().mean(), abs=1e-6
    )
    assert "age" not in q["missing_rate"]  # only columns with missing values are listed
    assert sum(q["label_counts"].values()) == len(adult_sample)


@pytest.mark.parametrize("third", ["maybe", "<=50K."])
def test_third_target_class(clean: pd.DataFrame, contract: pa.DataFrameSchema, third: str) -> None:
    # "<=50K." is how the labels of the published Adult *test* file are spelt.
    df = clean.copy()
    odd_rows = [3, 10, 20, 30, 40, 50, 60]
    df.loc[odd_rows, "income"] = third
    result = check(df, contract)
    assert not result.passed
    assert_at_most_five_examples(result)

    binary = only(result, "binary_target")
    assert binary.column == "income"
    assert third in binary.rule
    assert len(binary.examples) == 5
    # the examples are rows that carry the unexpected class, not valid rows
    for ex in binary.examples:
        assert ex["row"] in odd_rows, ex
        assert ex["income"] == third, ex

    isin = only(result, "schema:isin")
    assert isin.column == "income"
    assert isin.count == len(odd_rows)
    assert [ex["row"] for ex in isin.examples] == odd_rows[:5]


def test_too_many_missing_values(clean: pd.DataFrame, contract: pa.DataFrameSchema) -> None:
    df = clean.copy()
    rng = np.random.default_rng(0)
    blank = rng.choice(len(df), size=len(df) // 4, replace=False)
    df.loc[blank, "workclass"] = np.nan  # workclass is nullable: only the quality rule fires
    result = check(df, contract)
    assert not result.passed
    assert_at_most_five_examples(result)
    assert len(result.violations) == 1
    v = only(result, "max_missing_rate")
    assert v.column == "workclass"
    assert v.count == int(df["workclass"].isna().sum())
    rate = df["workclass"].isna().mean()
    assert f"{rate:.4f}" in v.rule
    assert len(v.examples) == 5
    for ex in v.examples:
        assert ex["workclass"] is None
        assert pd.isna(df.loc[ex["row"], "workclass"])


def test_missing_values_in_a_required_column_break_the_contract_too(
    clean: pd.DataFrame, contract: pa.DataFrameSchema
) -> None:
    df = clean.copy()
    df.loc[:499, "age"] = np.nan
    result = check(df, contract)
    assert {v.rule.split(":")[0] for v in result.violations if v.column == "age"} == {
        "schema",
        "max_missing_rate",
    }
    assert_at_most_five_examples(result)


def test_too_few_rows(adult_sample: pd.DataFrame, contract: pa.DataFrameSchema) -> None:
    df = adult_sample.head(100)
    result = check(df, contract)
    assert not result.passed
    v = only(result, "min_rows")
    assert v.column == "(table)"
    assert "100" in v.rule
    assert "1000" in v.rule
    assert len(v.examples) <= 5
    assert check(df, contract, min_rows=100).passed


def test_duplicated_row_flood(clean: pd.DataFrame, contract: pa.DataFrameSchema) -> None:
    n_copies = 400
    df = pd.concat([clean, clean.iloc[[0] * n_copies]], ignore_index=True)
    result = check(df, contract)
    assert not result.passed
    assert_at_most_five_examples(result)
    v = only(result, "max_duplicate_rate")
    assert v.column == "(table)"
    assert v.count == n_copies
    assert f"{n_copies / len(df):.4f}" in v.rule
    assert len(v.examples) == 5
    first = {k: plain(val) for k, val in clean.iloc[0].items()}
    for ex in v.examples:
        assert ex["row"] >= len(clean)  # a copy, not the original
        assert {k: val for k, val in ex.items() if k != "row"} == first


def test_out_of_range_value_names_column_rule_and_row(
    clean: pd.DataFrame, contract: pa.DataFrameSchema
) -> None:
    df = clean.copy()
    df.loc[7, "age"] = 150.0
    result = check(df, contract)
    v = only(result, "schema:in_range")
    assert v.column == "age"
    assert v.count == 1
    assert [ex["row"] for ex in v.examples] == [7]
    assert v.examples[0]["age"] == 150.0


def test_unknown_column_is_a_table_level_violation(
    clean: pd.DataFrame, contract: pa.DataFrameSchema
) -> None:
    result = check(clean.assign(ssn="123"), contract)
    assert not result.passed
    assert any("ssn" in str(v.as_dict()) for v in result.violations)
    assert_at_most_five_examples(result)


def test_label_imbalance(clean: pd.DataFrame, contract: pa.DataFrameSchema) -> None:
    negatives = clean[clean["income"] == "<=50K"]
    df = pd.concat([negatives, clean[clean["income"] == ">50K"].head(20)], ignore_index=True)
    result = check(df, contract)
    v = only(result, "min_minority_rate")
    assert v.column == "income"
    assert check(df, contract, min_minority_rate=0.001).passed


def test_identifier_like_column_exceeds_max_categories(
    clean: pd.DataFrame, contract: pa.DataFrameSchema
) -> None:
    df = clean.copy()
    df["person_id"] = [f"id-{i}" for i in range(len(df))]
    contract = contract.add_columns({"person_id": pa.Column("str")})
    result = check(df, contract)
    assert [v.column for v in result.violations] == ["person_id"]
    v = only(result, "max_categories", "person_id")
    assert f"{len(df)} distinct" in v.rule
    assert "drop_columns" in v.rule
    assert_at_most_five_examples(result)
    # a limit just below the widest text column flags that column alone (never the target)
    text = [c for c in clean.columns if not pd.api.types.is_numeric_dtype(clean[c])]
    widths = sorted((clean[c].nunique(), c) for c in text if c != "income")
    limited = check(clean, contract.remove_columns(["person_id"]), max_categories=widths[-2][0])
    assert [v.column for v in limited.violations] == [widths[-1][1]]


def test_run_writes_report_and_data_only_when_passed(
    clean: pd.DataFrame, adult_sample: pd.DataFrame, tmp_path: Path
) -> None:
    report, out = tmp_path / "validation.json", tmp_path / "validated.parquet"
    result = validate.run(DATA, CFG, adult_sample, report, out)
    assert result.passed
    assert read_json(report)["passed"] is True
    pd.testing.assert_frame_equal(read_parquet(out), adult_sample)

    bad = adult_sample.head(50)  # too few rows
    result = validate.run(DATA, CFG, bad, report, out)
    assert not result.passed
    written = read_json(report)
    assert written["passed"] is False
    assert written["n_violations"] == len(result.violations) >= 1
    assert not out.exists()  # the stale "validated" file is gone


def test_the_report_counts_production_rows_equal_to_a_test_row(
    adult_sample: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """validation.json's test_overlap: the production rows (data.extra_sources) the split stage
    will leave out because their inputs equal a test-split row; 0 of 0 without sources."""
    from gitml.config import SplitConfig
    from gitml.pipeline import split

    monkeypatch.chdir(tmp_path)
    _, test = split.split(adult_sample, DATA, SplitConfig())
    rows = test.sample(7, random_state=0).reset_index(drop=True)
    rows["age"] = rows["age"].astype("int64")  # as a JSON request sends it
    rows["prediction_id"] = [f"p{i}" for i in range(7)]
    rows["logged_at"] = pd.Timestamp("2026-11-30", tz="UTC")
    rows.loc[6, "age"] = 200  # no longer equal to its test row
    Path("prod").mkdir()
    rows.to_parquet("prod/1.parquet")
    report, out = tmp_path / "validation.json", tmp_path / "validated.parquet"
    with_rows = DATA.model_copy(update={"extra_sources": ["prod"]})
    validate.run(with_rows, CFG, adult_sample, report, out, SplitConfig())
    assert read_json(report)["test_overlap"] == {
        "rows": 6,
        "examples": ["p0", "p1", "p2", "p3", "p4"],
        "compared": 7,
    }
    validate.run(DATA, CFG, adult_sample, report, out, SplitConfig())
    assert read_json(report)["test_overlap"] == {"rows": 0, "examples": [], "compared": 0}
