"""Request models generated from the data contract (the pandera schema the validate stage uses).

One pydantic field per input column: numeric columns become floats bounded by the schema's
`in_range` (or `ge`/`le`/`gt`/`lt`) checks; text columns become strings; a column that may be
missing (`nullable: true`) accepts null and may be left out, every other column is required.
A column ingest renamed is accepted under the user's own name too (`mean radius` as well as
`mean_radius`, gitml.serve.names). A field the model does not use is ignored, as `gitml
predict` ignores (and copies to its output) such a column: a row in the training file's own
format (an id, the target) is accepted. A near miss of an input's name is refused, one error per
problem naming the expected name, never echoing the row, as is a column missing or given twice.
Allowed categories (`isin`) are NOT enforced: an unseen category is accepted, handled by the
model's encoder and counted for the monitor; they are listed in the JSON schema as `examples`
so /docs shows them. A text value is at most `max_length` characters: the schema's
`str_length` check, else `DEFAULT_MAX_TEXT` (a 50 MB "category" is an attack or a bug, not a
value the model can use, and it would land in the log).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
)
from pydantic import model_validator as _model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from gitml.errors import ConfigError
from gitml.serve.names import InputNames

DEFAULT_MAX_TEXT = 256  # characters of a text field when the schema sets no str_length


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    numeric: bool
    nullable: bool
    ge: float | None = None
    le: float | None = None
    gt: float | None = None
    lt: float | None = None
    categories: tuple[str, ...] | None = None  # the schema's allowed values, if listed
    description: str | None = None
    max_length: int | None = None  # text columns: the longest value accepted
    original: str | None = None  # the column's name in the user's file, when ingest renamed it


def input_names(specs: tuple[ColumnSpec, ...]) -> InputNames:
    return InputNames.of([s.name for s in specs], {s.name: s.original for s in specs if s.original})


def column_specs(schema: pa.DataFrameSchema, exclude: set[str]) -> tuple[ColumnSpec, ...]:
    """The input columns of a request: every schema column but the target (and `exclude`)."""
    specs = []
    for name, col in schema.columns.items():
        if name in exclude:
            continue
        numeric = _is_numeric(col.dtype)
        bounds: dict[str, float] = {}
        categories: tuple[str, ...] | None = None
        max_length = None if numeric else DEFAULT_MAX_TEXT
        for check in col.checks:
            stats = dict(check.statistics or {})
            kind = check.name
            if kind == "in_range":
                lo, hi = stats.get("min_value"), stats.get("max_value")
                if lo is not None:
                    bounds["ge" if stats.get("include_min", True) else "gt"] = float(lo)
                if hi is not None:
                    bounds["le" if stats.get("include_max", True) else "lt"] = float(hi)
            elif kind in ("greater_than_or_equal_to", "ge"):
                bounds["ge"] = float(stats["min_value"])
            elif kind in ("greater_than", "gt"):
                bounds["gt"] = float(stats["min_value"])
            elif kind in ("less_than_or_equal_to", "le"):
                bounds["le"] = float(stats["max_value"])
            elif kind in ("less_than", "lt"):
                bounds["lt"] = float(stats["max_value"])
            elif kind == "isin":
                categories = tuple(str(v) for v in stats["allowed_values"])
            elif kind == "str_length" and not numeric and stats.get("max_value") is not None:
                max_length = int(stats["max_value"])
        if bounds and not numeric:
            raise ConfigError(f"schema column {name!r}: a range check on a non-numeric column")
        specs.append(
            ColumnSpec(
                name,
                numeric,
                bool(col.nullable),
                bounds.get("ge"),
                bounds.get("le"),
                bounds.get("gt"),
                bounds.get("lt"),
                categories=categories,
                description=col.description,
                max_length=max_length,
            )
        )
    return tuple(specs)


def _is_numeric(dtype: Any) -> bool:
    text = str(dtype).lower()
    return any(t in text for t in ("float", "int")) and "string" not in text


def _not_a_boolean(value: Any) -> Any:
    """pydantic reads true as 1.0 for a float: a client's bug would be scored, not refused."""
    if isinstance(value, bool):
        raise PydanticCustomError("float_type", "Input should be a valid number, not a boolean")
    return value


# A numeric input: a JSON number, or a number as text ("12.5", as a CSV gives it); no boolean.
Number = Annotated[float, BeforeValidator(_not_a_boolean)]


def request_model(specs: tuple[ColumnSpec, ...], name: str = "Row") -> type[BaseModel]:
    """A pydantic model of one request row."""
    fields: dict[str, Any] = {}
    for spec in specs:
        base: Any = Number if spec.numeric else str
        kwargs: dict[str, Any] = {"description": _describe(spec)}
        if spec.numeric:
            kwargs.update(
                {
                    k: getattr(spec, k)
                    for k in ("ge", "le", "gt", "lt")
                    if getattr(spec, k) is not None
                }
            )
            kwargs["allow_inf_nan"] = False
        else:
            kwargs["min_length"] = 1
            if spec.max_length is not None:
                kwargs["max_length"] = spec.max_length
            if spec.categories:
                kwargs["examples"] = list(spec.categories)
        if spec.original:
            kwargs["validation_alias"] = AliasChoices(spec.name, spec.original)
        annotation = base | None if spec.nullable else base
        default: Any = None if spec.nullable else ...
        fields[spec.name] = (annotation, Field(default, **kwargs))
    names = input_names(specs)
    required = [s.name for s in specs if not s.nullable]

    def check_names(cls: type[BaseModel], data: Any) -> Any:
        """Names first: one error per unknown, doubled or missing column (pydantic's own would
        be a `missing` echoing the whole row plus an `extra_forbidden`, for each column)."""
        if not isinstance(data, dict):
            return data
        matched = names.match(data, required, strict=False)  # others: ignored
        if matched.problems:
            raise ValidationError.from_exception_data(
                name,
                [
                    InitErrorDetails(
                        # pydantic's own types, which clients may match on; our messages
                        type=PydanticCustomError(
                            "missing" if kind == "missing" else "extra_forbidden", message
                        ),
                        loc=(where,),
                        input=data.get(where),
                    )
                    for where, kind, message in matched.problems
                ],
            )
        return data

    validator: Any = _model_validator(mode="before")(check_names)
    return create_model(
        name,
        __config__=ConfigDict(extra="ignore"),
        __validators__={"check_names": validator},
        **fields,
    )


def _describe(spec: ColumnSpec) -> str:
    parts = [spec.description] if spec.description else []
    if spec.original:
        parts.append(f"also accepted as {spec.original!r}, its name in your file")
    if spec.categories:
        parts.append(
            "known categories: "
            + ", ".join(spec.categories)
            + " (another value is accepted and counted as unseen)"
        )
    if spec.nullable:
        parts.append("may be null or left out")
    return "; ".join(parts) or spec.name


def to_frame(rows: list[dict[str, Any]], specs: tuple[ColumnSpec, ...]) -> pd.DataFrame:
    """Rows as a DataFrame with the dtypes of the training tables (float64 and str).

    Built from one array per column (numpy for numbers, pandas' `str` for text): on the
    one-row request path this is several times faster than letting pandas infer and convert.
    """
    data: dict[str, Any] = {}
    for spec in specs:
        values = [row.get(spec.name) for row in rows]
        if spec.numeric:
            data[spec.name] = np.array(
                [math.nan if v is None else float(v) for v in values], dtype="float64"
            )
        else:
            data[spec.name] = pd.array(values, dtype="str")
    return pd.DataFrame(data, copy=False)


def example_row(specs: tuple[ColumnSpec, ...]) -> dict[str, Any]:
    """A valid row made from the schema alone (when no training row can be read)."""
    row: dict[str, Any] = {}
    for spec in specs:
        if spec.numeric:
            lo = spec.ge if spec.ge is not None else spec.gt
            hi = spec.le if spec.le is not None else spec.lt
            row[spec.name] = (lo + hi) / 2 if lo is not None and hi is not None else lo or 0.0
        else:
            row[spec.name] = spec.categories[0] if spec.categories else None
    return row


class ServedMetadata(BaseModel):
    """GET /metadata's body, one typed contract: the server writes it (gitml.serve.app) and
    `gitml simulate` (gitml.monitor.simulate) reads it. Extra keys are a server's state (with
    --follow, `follow`)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    model_version: str | None = None
    source: str | None = None
    git_revision: str | None = None
    task: str = "binary"  # binary | multiclass | regression (gitml.core.tasks)
    classes: list[str] | None = None  # multiclass: the class names, in probability order
    threshold: float | None = None  # binary only
    target: str | None = None
    positive_class: bool | int | str | None = None
    family: str | None = None
    model_sha256: str | None = None
    training_metrics: dict[str, Any] | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")  # the pandera schema (YAML)
    input_columns: list[str] = []
    input_names: dict[str, str] = {}  # canonical -> the name in the user's file
    derived_features: list[str] = []
    example: dict[str, Any] = {}  # a valid request body, in the user's names
    prediction_log: dict[str, int] | None = None  # rows written and dropped


class FeedbackIn(BaseModel):
    prediction_id: str = Field(min_length=1, max_length=36)
    label: int = Field(ge=0, le=1, description="the true outcome, 0 or 1")


def feedback_model(class_labels: dict[str, int]) -> type[FeedbackIn]:
    """POST /feedback's body. `label` is 0 or 1, or a class name as /predict's
    `predicted_class` gives it (`class_labels`: `"yes"` -> 1, `"no"` -> 0)."""
    names = ", ".join(f"{n!r} ({v})" for n, v in sorted(class_labels.items(), key=lambda x: -x[1]))

    def to_number(value: Any) -> Any:
        if isinstance(value, str) and value in class_labels:
            return class_labels[value]
        if isinstance(value, str):
            try:
                float(value)
            except ValueError:
                also = f" nor a class name: {names}" if names else ""
                raise ValueError(f"label {value!r} is neither 0 nor 1{also}") from None
        return value  # numbers (and "1", "NaN") as pydantic checks them

    label: Any = Annotated[int, BeforeValidator(to_number)]
    also = f", or a class name: {names}" if names else ""
    return create_model(
        "FeedbackIn",
        __base__=FeedbackIn,
        label=(label, Field(ge=0, le=1, description=f"the true outcome: 0 or 1{also}")),
    )
