"""The data contract: a pandera schema kept in a committed, human-reviewed YAML file.

`gitml schema infer DATA` writes a first draft (dtypes, nullability, observed ranges, allowed
categories, target values); a person reviews and commits it. The validate stage, the serving
request models and the monitor all read the same file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa
import yaml

from gitml.errors import ConfigError
from gitml.io.files import write_atomic

HEADER = """\
# Data contract for gitml (pandera DataFrameSchema, YAML form).
# Drafted by `gitml schema infer`; REVIEW it: widen ranges you expect to see in new data,
# add or remove allowed categories, decide which columns may be missing. Then commit it.
# Numeric ranges are the values seen, widened by 10% of their span (not below 0 for a column
# never negative): `gitml serve` refuses (422) and `gitml predict` reports a row outside them.
# Name it in params.yaml (validate.schema_file); dvc.yaml's stages depend on the file named
# there, so changing this file reruns `validate` and everything downstream.
"""
# Keys a column may carry besides check names (pandera ignores any other key silently, so a
# misspelt check such as `in_rang:` would switch the check off without a word).
COLUMN_KEYS = frozenset(
    {
        "title",
        "description",
        "dtype",
        "nullable",
        "checks",
        "name",
        "unique",
        "coerce",
        "required",
        "regex",
        "default",
        "report_duplicates",
        "drop_invalid_rows",
    }
)


MARGIN = 0.1  # share of a numeric column's span added to both ends of its drafted range


def span_widened(low: float, high: float, margin: float) -> tuple[float, float]:
    """[low, high] plus `margin` of its span each side (of |high|, or 1, for a single value);
    not below 0 when low is not."""
    span = (high - low) or abs(high) or 1.0
    lo, hi = low - margin * span, high + margin * span
    return (max(lo, 0.0) if low >= 0 else lo), hi


def widened(low: float, high: float, margin: float = MARGIN) -> tuple[float, float]:
    """The range a draft allows: the values seen plus `margin` of their span each side, so
    that a realistic new row is not refused for being a little beyond the training rows; a
    column never negative stays so. Six significant digits: a reviewer reads these."""
    lo, hi = span_widened(low, high, margin)
    short_lo, short_hi = float(f"{lo:.6g}"), float(f"{hi:.6g}")
    return (short_lo if short_lo <= low else lo), (short_hi if short_hi >= high else hi)


def infer(
    df: pd.DataFrame,
    target: str,
    max_categories: int,
    time_columns: frozenset[str] = frozenset(),
) -> tuple[pa.DataFrameSchema, list[str]]:
    """Draft a schema from data; returns the schema and warnings for the reviewer.

    `time_columns` (split.time_column) have one value per moment: many distinct values there
    are expected, not the sign of an identifier."""
    warnings: list[str] = []
    columns: dict[str, pa.Column] = {}
    for name in df.columns:
        col = df[name]
        nullable = bool(col.isna().any()) and name != target
        checks: list[pa.Check] = []
        if pd.api.types.is_numeric_dtype(col):
            present = col.dropna()
            if len(present):
                checks.append(
                    pa.Check.in_range(*widened(float(present.min()), float(present.max())))
                )
            columns[name] = pa.Column("float64", checks=checks, nullable=nullable, coerce=True)
            continue
        values = sorted(col.dropna().astype(str).unique())
        if len(values) <= max_categories:
            checks.append(pa.Check.isin(values))
        elif name not in time_columns:
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
    from gitml.io.files import yaml_problem

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: schema file not found (validate.schema_file). Draft one with "
            f"`gitml schema infer data/ingested.parquet --out {path}`, review it, commit it."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path}: cannot read the schema file (validate.schema_file): {exc}"
        ) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: schema file is not valid YAML: {yaml_problem(exc)}") from None
    _check_shape(path, raw)
    try:
        return pa.DataFrameSchema.from_yaml(text)
    except Exception as exc:  # pandera raises many types for a malformed schema
        raise ConfigError(f"{path}: not a valid pandera schema: {exc}") from None


def _check_shape(path: Path, raw: Any) -> None:
    """Refuse what pandera would accept silently: no columns (checks nothing), unknown keys."""
    columns = raw.get("columns") if isinstance(raw, dict) else None
    if not isinstance(columns, dict) or not columns:
        raise ConfigError(
            f"{path}: the schema declares no columns, so it would check nothing; draft one "
            f"with `gitml schema infer data/ingested.parquet --out {path} --force`"
        )
    for name, spec in columns.items():
        if spec is None:
            continue
        if not isinstance(spec, dict):
            raise ConfigError(f"{path}: columns.{name} must be a mapping, got {spec!r:.60}")
        unknown = sorted(
            k for k in spec if k not in COLUMN_KEYS and not callable(getattr(pa.Check, k, None))
        )
        if unknown:
            raise ConfigError(
                f"{path}: columns.{name}.{unknown[0]}: unknown key (neither a column setting "
                f"nor a pandera check such as in_range, isin, str_matches)"
            )


def schema_hash(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
