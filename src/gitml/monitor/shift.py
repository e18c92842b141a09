"""Distribution shifts for simulated traffic and drift-detection tests: a tiny spec language.

A spec names one column and one change (the grammar is hand-written: four forms do not need a
parser library):

    age+10                  add 10 to a numeric column        (also `age-5`)
    age*1.5                 multiply a numeric column
    workclass=Private       set a categorical column to one value
    occupation=blank        make the column missing
    workclass=Private@0.3   any of the above on a random 30% of the rows only

`parse_shift` is pure; `apply_shift` draws the affected rows from the `rng` it is given, so a
seeded generator gives the same shifted frame every time. Used by `gitml simulate` and by the
monitor's detection tests.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from gitml.errors import ConfigError, DataError

Kind = Literal["add", "mul", "set", "blank"]
BLANK = "blank"
GRAMMAR = (
    "expected COLUMN+NUMBER, COLUMN-NUMBER, COLUMN*NUMBER, COLUMN=VALUE or COLUMN=blank, "
    "optionally followed by @FRACTION in (0, 1] (e.g. 'age+10', 'workclass=Private@0.5', "
    "'occupation=blank')"
)
_SPEC = re.compile(
    r"^\s*(?P<column>[A-Za-z_][A-Za-z0-9_.\-]*?)\s*(?P<op>[-+*=])\s*(?P<value>[^@]+?)\s*"
    r"(?:@\s*(?P<fraction>[^@]+?))?\s*$"
)


@dataclass(frozen=True)
class Shift:
    column: str
    kind: Kind
    value: float | str | None  # number for add/mul, category for set, None for blank
    fraction: float = 1.0  # share of rows changed

    def __str__(self) -> str:
        if self.kind == "blank":
            body = f"={BLANK}"
        elif self.kind == "set":
            body = f"={self.value}"
        elif self.kind == "mul":
            body = f"*{_show(self.value)}"
        else:  # add: a negative amount carries its own sign
            body = f"{_show(self.value)}" if _neg(self.value) else f"+{_show(self.value)}"
        tail = "" if self.fraction == 1.0 else f"@{_show(self.fraction)}"
        return f"{self.column}{body}{tail}"


def _neg(value: float | str | None) -> bool:
    return isinstance(value, float) and value < 0


def _show(value: float | str | None) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _number(text: str, spec: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"shift {spec!r}: {what} {text!r} is not a number; {GRAMMAR}") from None
    if not math.isfinite(value):
        raise ConfigError(f"shift {spec!r}: {what} must be finite, got {text!r}")
    return value


def parse_shift(spec: str) -> Shift:
    """Parse one shift spec; ConfigError naming the spec and the grammar when it is malformed."""
    match = _SPEC.match(spec)
    if not match:
        raise ConfigError(f"shift {spec!r}: cannot parse; {GRAMMAR}")
    column, op, value = match["column"], match["op"], match["value"]
    fraction = 1.0
    if match["fraction"] is not None:
        fraction = _number(match["fraction"], spec, "fraction")
        if not 0.0 < fraction <= 1.0:
            raise ConfigError(f"shift {spec!r}: fraction must be in (0, 1], got {fraction:g}")
    if op == "=":
        if value == BLANK:
            return Shift(column, "blank", None, fraction)
        return Shift(column, "set", value, fraction)
    number = _number(value, spec, "amount")
    if op == "*":
        return Shift(column, "mul", number, fraction)
    return Shift(column, "add", -number if op == "-" else number, fraction)


def apply_shift(
    df: pd.DataFrame,
    shift: Shift,
    rng: np.random.Generator,
    bounds: dict[str, tuple[float | None, float | None]] | None = None,
) -> pd.DataFrame:
    """A shifted copy of `df` (the input is not modified).

    `bounds` (column -> (min, max)) clips numeric results into the range the data contract
    allows, so shifted traffic is still accepted by the server instead of being refused with 422.
    """
    if shift.column not in df.columns:
        raise DataError(
            f"shift {shift}: column {shift.column!r} is not in the data "
            f"(columns: {', '.join(map(str, df.columns))})"
        )
    out = df.copy()
    n = len(out)
    if shift.fraction >= 1.0:
        rows = np.ones(n, dtype=bool)
    else:
        rows = np.zeros(n, dtype=bool)
        rows[rng.choice(n, size=round(n * shift.fraction), replace=False)] = True
    col = out[shift.column]
    if shift.kind in ("add", "mul"):
        if not pd.api.types.is_numeric_dtype(col):
            raise DataError(
                f"shift {shift}: column {shift.column!r} is not numeric ({col.dtype}); "
                "use COLUMN=VALUE or COLUMN=blank for a categorical column"
            )
        numbers = col.astype("float64")
        assert isinstance(shift.value, float)
        changed = numbers + shift.value if shift.kind == "add" else numbers * shift.value
        lo, hi = (bounds or {}).get(shift.column, (None, None))
        changed = changed.clip(lower=lo, upper=hi)
        out[shift.column] = numbers.where(~rows, changed)
    elif shift.kind == "set":
        if pd.api.types.is_numeric_dtype(col):
            number = _number(str(shift.value), str(shift), "value for a numeric column")
            out[shift.column] = col.astype("float64").where(~rows, number)
        else:
            out[shift.column] = col.astype("object").where(~rows, shift.value).astype(col.dtype)
    else:  # blank
        if pd.api.types.is_numeric_dtype(col):
            out[shift.column] = col.astype("float64").where(~rows, np.nan)
        else:
            out[shift.column] = col.astype("object").where(~rows, None).astype(col.dtype)
    return out
