"""`gitml predict`'s vectorised row checks: same rules as the request model, with line numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gitml.errors import ConfigError
from gitml.serve.predict import _as_numbers, _Output, file_format, in_own_names, validate_chunk
from gitml.serve.requests import ColumnSpec

pytestmark = pytest.mark.xdist_group("serving")

SPECS = (
    ColumnSpec("age", numeric=True, nullable=False, ge=17.0, le=90.0),
    ColumnSpec("hours", numeric=True, nullable=True, gt=0.0),
    ColumnSpec("job", numeric=False, nullable=True, categories=("a", "b")),
    ColumnSpec("sex", numeric=False, nullable=False),
)


def test_good_rows_are_typed_like_training_and_unseen_categories_pass() -> None:
    chunk = pd.DataFrame(
        {"age": ["30", "45.5"], "hours": [None, "40"], "job": ["a", "zzz"], "sex": ["F", "M"]}
    )
    typed, good, bad, nbad = validate_chunk(chunk, SPECS, first_line=2)
    assert good.all() and bad == [] and nbad == 0
    assert typed["age"].tolist() == [30.0, 45.5] and str(typed["age"].dtype) == "float64"
    assert np.isnan(typed["hours"].iloc[0]) and typed["hours"].iloc[1] == 40.0
    assert str(typed["job"].dtype) == "str" and typed["job"].tolist() == ["a", "zzz"]


def test_bad_rows_are_reported_with_line_column_and_rule() -> None:
    chunk = pd.DataFrame(
        {
            "age": ["30", "old", "95", "40", None, "inf"],
            "hours": ["1", "1", "1", "0", "1", "1"],
            "job": ["a", "a", "a", "a", "a", "a"],
            "sex": ["F", "F", "F", "F", "F", None],
        }
    )
    _, good, bad, nbad = validate_chunk(chunk, SPECS, first_line=10)
    assert good.tolist() == [True, False, False, False, False, False]
    assert nbad == 5
    found = {(b.line, b.column) for b in bad}
    assert found >= {(11, "age"), (12, "age"), (13, "hours"), (14, "age"), (15, "age")}
    messages = {b.line: b.problem for b in bad if b.column != "sex"}
    assert messages[11] == "not a number"
    assert messages[12] == "must be <= 90"
    assert messages[13] == "must be > 0"
    assert messages[14] == "missing value in a required column"
    assert messages[15] == "not finite"
    assert [b.line for b in bad] == sorted(b.line for b in bad)


def test_bad_rows_are_named_by_the_file_s_own_columns() -> None:
    """A file headed `Hours per week` (its own name, renamed for validation) gets its bad rows
    named `Hours per week`, as POST /predict names them; a canonical header stays canonical."""
    chunk = pd.DataFrame({"Age": ["30", "95"], "Hours per week": ["0", "1"], "job": ["a", "a"]})
    chunk["sex"] = "F"
    found = {"Age": "age", "Hours per week": "hours", "job": "job", "sex": "sex"}
    _, _, bad, _ = validate_chunk(chunk.rename(columns=found), SPECS, first_line=2)
    assert {(b.line, b.column) for b in bad} == {(2, "hours"), (3, "age")}
    shown = {(b.line, b.column) for b in in_own_names(bad, found)}
    assert shown == {(2, "Hours per week"), (3, "Age")}
    assert str(in_own_names(bad, found)[0]).startswith("2: Hours per week: must be > 0")


def test_numbers_read_as_text_are_written_as_numbers(tmp_path: Path) -> None:
    """A CSV's columns are read as text; written back so, every number came out quoted
    ("17.99"). The numeric inputs are written as their numbers, other columns as they were."""
    chunk = pd.DataFrame({"Age": ["30", "41.50"], "hours": [None, "1e1"], "job": ["a", "b,c"]})
    chunk["sex"], chunk["id"] = "F", ["x1", "x2"]
    found = {"Age": "age", "hours": "hours", "job": "job", "sex": "sex"}
    typed, good, _, _ = validate_chunk(chunk.rename(columns=found), SPECS, first_line=2)
    assert good.all()
    out = _Output(tmp_path / "out.csv", "csv")
    out.write(_as_numbers(chunk, typed, found, SPECS))
    out.close()
    assert (tmp_path / "out.csv").read_text().splitlines() == [
        '"Age","hours","job","sex","id"',
        '30,,"a","F","x1"',
        '41.5,10,"b,c","F","x2"',
    ]
    numbers = chunk.assign(Age=[30.0, 41.5])  # already numbers (a Parquet file): left alone
    assert _as_numbers(numbers, typed, found, SPECS)["Age"].dtype == "float64"


def test_file_type_comes_from_the_suffix() -> None:
    assert file_format(Path("x.CSV")) == "csv"
    with pytest.raises(ConfigError, match=r"use \.csv or \.parquet"):
        file_format(Path("x.json"))
