"""The data contract: a pandera schema kept in a committed, human-reviewed YAML file.

`gitml schema infer DATA` writes a first draft (dtypes, nullability, observed ranges, allowed
categories, target values); a person reviews and commits it. The validate stage, the serving
request models and the monitor all read the same file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from gitml.errors import ConfigError
from gitml.io import write_atomic

HEADER = """\
# Data contract for gitml (pandera DataFrameSchema, YAML form).
# Drafted by `gitml schema infer`; REVIEW it: widen ranges you expect to see in new data,
# add or remove allowed categories, decide which columns may be missing. Then commit it.
# Changing this file reruns `validate` and everything downstream.
"""


def infer(
    df: pd.DataFrame, target: str, max_categories: int
) -> tuple[pa.DataFrameSchema, list[str]]:
    """Draft a schema from data; returns the schema and warnings for the reviewer."""
    warnings: list[str] = []
    columns: dict[str, pa.Column] = {}
    for name in df.columns:
        col = df[name]
        nullable = bool(col.isna().any()) and name != target
        checks: list[pa.Check] = []
        if pd.api.types.is_numeric_dtype(col):
            present = col.dropna()
            if len(present):
                checks.append(pa.Check.in_range(float(present.min()), float(present.max())))
            columns[name] = pa.Column("float64", checks=checks, nullable=nullable, coerce=True)
            continue
        values = sorted(col.dropna().astype(str).unique())
        if len(values) <= max_categories:
            checks.append(pa.Check.isin(values))
        else:
            warnings.append(
                f"{name}: {len(values)} distinct values (> {max_categories}); no category list "
                "written. An identifier? Add it to data.drop_columns."
            )
        columns[name] = pa.Column("str", checks=checks, nullable=nullable, coerce=True)
    if target not in columns:
        raise ConfigError(f"target column {target!r} is not in the data")
    schema = pa.DataFrameSchema(columns, strict=True, coerce=True, name="gitml_data")
    return schema, warnings


def write(schema: pa.DataFrameSchema, path: Path) -> Path:
    return write_atomic(path, HEADER + (schema.to_yaml() or ""))


def load(path: Path | str) -> pa.DataFrameSchema:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: schema file not found (validate.schema_file). Draft one with "
            f"`gitml schema infer data/ingested.parquet --out {path}`, review it, commit it."
        ) from None
    try:
        return pa.DataFrameSchema.from_yaml(text)
    except Exception as exc:  # pandera raises many types for a malformed schema
        raise ConfigError(f"{path}: not a valid pandera schema: {exc}") from None


def schema_hash(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
