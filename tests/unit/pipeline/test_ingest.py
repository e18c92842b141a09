"""ingest: any CSV/Parquet source → one canonical frame (snake_case, float64 numbers, NaN)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitml.config import DataConfig
from gitml.errors import DataError
from gitml.io.files import read_parquet
from gitml.pipeline import ingest


def cfg(tmp: Path | None = None, name: str = "raw.csv", **kw: object) -> DataConfig:
    source = str(tmp / name) if tmp else "raw.csv"
    return DataConfig(source=source, **kw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Capital Gain", "capital_gain"),
        ("  hours-per-week ", "hours_per_week"),
        ("education.num", "education_num"),
        ("Income (>50K?)", "income_50k"),
        ("Unnamed: 0", "unnamed_0"),
        (3, "3"),
    ],
)
def test_normalise_name(raw: object, expected: str) -> None:
    assert ingest.normalise_name(raw) == expected


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=30))
def test_normalise_name_is_snake_case_and_idempotent(name: str) -> None:
    out = ingest.normalise_name(name)
    assert all(c.isdigit() or ("a" <= c <= "z") or c == "_" for c in out)
    assert not out.startswith("_")
    assert not out.endswith("_")
    assert "__" not in out
    assert ingest.normalise_name(out) == out


def raw_frame() -> pd.DataFrame:
    """What read_csv(dtype=str) gives for a messy file: every cell is text."""
    return pd.DataFrame(
        {
            "Unnamed: 0": ["0", "1", "2", "3"],
            "Age": [" 39", "50 ", "?", "28"],
            "Work Class": ["State-gov", " Private ", "NA", ""],
            "Zip": ["02134", "10001", "null", "94105"],
            "Income": [" >50K", "<=50K", ">50K ", "<=50K"],
            "Notes": ["a", "b", "c", "d"],
        }
    )


def test_normalise_canonical_form() -> None:
    out = ingest.normalise(raw_frame(), DataConfig(drop_columns=["Notes"]))
    # names snake_case; the pandas index artefact and the configured column are dropped
    assert list(out.columns) == ["age", "work_class", "zip", "income"]
    # numbers → float64 with NaN for every missing marker; surrounding spaces do not matter
    assert out["age"].dtype == np.float64
    assert out["age"].tolist()[:2] == [39.0, 50.0]
    assert np.isnan(out["age"][2])
    assert out["zip"].dtype == np.float64
    assert out["zip"][0] == 2134.0
    assert np.isnan(out["zip"][2])
    # text trimmed; '', 'NA' and '?' are missing
    assert out["work_class"][0] == "State-gov"
    assert out["work_class"][1] == "Private"
    assert out["work_class"].isna().tolist() == [False, False, True, True]
    assert out["income"].tolist() == [">50K", "<=50K", ">50K", "<=50K"]


def test_normalise_respects_custom_missing_markers() -> None:
    raw = pd.DataFrame({"c": ["x", "-", "?"], "income": ["a", "b", "a"]})
    out = ingest.normalise(raw, DataConfig(missing_markers=["-"]))
    assert out["c"].isna().tolist() == [False, True, False]
    assert out["c"][2] == "?"


def test_target_stays_text_even_when_it_looks_numeric() -> None:
    raw = pd.DataFrame({"x": ["1", "2", "3"], "label": ["0", "1", " 1"]})
    out = ingest.normalise(raw, DataConfig(target="label", positive_class="1"))
    assert out["x"].dtype == np.float64
    assert not pd.api.types.is_numeric_dtype(out["label"])
    assert out["label"].tolist() == ["0", "1", "1"]


def test_numeric_and_bool_columns_from_parquet_are_canonical() -> None:
    raw = pd.DataFrame(
        {"n": [1, 2, 3], "b": [True, False, True], "y": [0, 1, 1]}  # typed, as from Parquet
    )
    out = ingest.normalise(raw, DataConfig(target="y", positive_class="1"))
    assert out["n"].dtype == np.float64
    assert out["b"].tolist() == ["True", "False", "True"]
    assert out["y"].tolist() == ["0", "1", "1"]


def test_input_frame_is_not_modified() -> None:
    raw = raw_frame()
    before = raw.copy()
    ingest.normalise(raw, DataConfig())
    pd.testing.assert_frame_equal(raw, before)


def test_missing_target_names_the_column_and_lists_columns() -> None:
    raw = pd.DataFrame({"a": ["1"], "b": ["2"]})
    with pytest.raises(DataError) as info:
        ingest.normalise(raw, DataConfig(target="Income"))
    assert "data.target" in str(info.value)
    assert "Income" in str(info.value)
    assert "a, b" in str(info.value)


def test_columns_equal_after_normalising_are_refused() -> None:
    raw = pd.DataFrame([["1", "2", "x"]], columns=["Capital Gain", "capital-gain", "income"])
    with pytest.raises(DataError, match="capital_gain"):
        ingest.normalise(raw, DataConfig())


def test_header_without_rows_is_refused(tmp_path: Path) -> None:
    (tmp_path / "raw.csv").write_text("age,income\n")
    c = cfg(tmp_path)
    with pytest.raises(DataError, match=r"raw\.csv"):
        ingest.normalise(ingest.read_source(c), c)


# --------------------------------------------------------------------------- reading files


def test_read_csv_keeps_every_cell_as_text_until_normalised(tmp_path: Path) -> None:
    (tmp_path / "raw.csv").write_text("Age,Income\n39, >50K\n?,<=50K\n")
    df = ingest.read_source(cfg(tmp_path))
    assert df["Age"].tolist() == ["39", "?"]  # no NaN guessing by pandas


def test_csv_and_parquet_sources_give_the_same_canonical_frame(tmp_path: Path) -> None:
    raw = pd.DataFrame(
        {"age": ["39", "?", "28"], "city": ["Paris", "", "Rome"], "income": ["a", "b", "a"]}
    )
    raw.to_csv(tmp_path / "raw.csv", index=False)
    typed = pd.DataFrame(
        {
            "age": [39.0, np.nan, 28.0],
            "city": pd.Series(["Paris", None, "Rome"], dtype="str"),
            "income": ["a", "b", "a"],
        }
    )
    typed.to_parquet(tmp_path / "raw.parquet", index=False)
    from_csv = ingest.normalise(ingest.read_source(cfg(tmp_path)), cfg(tmp_path))
    c = cfg(tmp_path, "raw.parquet")
    from_pq = ingest.normalise(ingest.read_source(c), c)
    pd.testing.assert_frame_equal(from_csv, from_pq)


def test_csv_with_pandas_index_column_drops_it(tmp_path: Path) -> None:
    pd.DataFrame({"a": ["x", "y"], "income": ["p", "n"]}).to_csv(tmp_path / "raw.csv")
    c = cfg(tmp_path)
    out = ingest.normalise(ingest.read_source(c), c)
    assert list(out.columns) == ["a", "income"]


def test_custom_delimiter(tmp_path: Path) -> None:
    (tmp_path / "raw.csv").write_text("a;income\n1;x\n")
    c = cfg(tmp_path, delimiter=";")
    assert ingest.normalise(ingest.read_source(c), c)["a"].tolist() == [1.0]


def test_wrong_delimiter_is_named(tmp_path: Path) -> None:
    (tmp_path / "raw.csv").write_text("a;b;income\n1;2;x\n")
    with pytest.raises(DataError) as info:
        ingest.read_source(cfg(tmp_path))
    assert "';'" in str(info.value)
    assert "data.delimiter" in str(info.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data\.source.*nope\.csv"):
        ingest.read_source(cfg(tmp_path, "nope.csv"))


def test_unknown_file_type_is_refused(tmp_path: Path) -> None:
    (tmp_path / "raw.xlsx").write_bytes(b"PK")
    with pytest.raises(DataError, match="unknown file type"):
        ingest.read_source(cfg(tmp_path, "raw.xlsx"))


def test_empty_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "raw.csv").write_text("")
    with pytest.raises(DataError, match="empty"):
        ingest.read_source(cfg(tmp_path))


def test_corrupt_parquet_is_refused(tmp_path: Path) -> None:
    (tmp_path / "raw.parquet").write_bytes(b"definitely not parquet")
    with pytest.raises(DataError, match=r"raw\.parquet"):
        ingest.read_source(cfg(tmp_path, "raw.parquet"))


def test_wrong_encoding_names_the_byte_and_the_setting(tmp_path: Path) -> None:
    (tmp_path / "raw.csv").write_bytes("a,income\ncafé,x\n".encode("latin-1"))
    with pytest.raises(DataError) as info:
        ingest.read_source(cfg(tmp_path))
    assert "data.encoding" in str(info.value)
    assert "xe9" in str(info.value)
    c = cfg(tmp_path, encoding="latin-1")
    assert ingest.read_source(c)["a"].tolist() == ["café"]


def test_unknown_builtin_is_refused() -> None:
    with pytest.raises(DataError, match="adult"):
        ingest.builtin_path("iris")


def test_run_writes_the_canonical_parquet(tmp_path: Path) -> None:
    (tmp_path / "raw.csv").write_text("Age,Income\n39,>50K\n?,<=50K\n")
    names = tmp_path / "out" / "column_names.json"
    result = ingest.run(cfg(tmp_path), tmp_path / "out" / "ingested.parquet", names)
    assert result.rows == 2
    assert result.columns == ["age", "income"]
    back = read_parquet(result.path)
    assert back["age"].dtype == np.float64
    assert back["income"].tolist() == [">50K", "<=50K"]
    # the renaming is recorded: train copies it into model.json for serving
    assert json.loads(names.read_text()) == {"age": "Age", "income": "Income"}


def test_original_names_are_the_renamed_kept_columns() -> None:
    source = ["mean radius", "id", "Unnamed: 0", "diagnosis", "worst-area"]
    kept = ["mean_radius", "diagnosis", "worst_area"]
    assert ingest.original_names(source, kept) == {
        "mean_radius": "mean radius",
        "worst_area": "worst-area",
    }
