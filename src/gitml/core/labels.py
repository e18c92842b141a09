"""The positive class as params.yaml writes it (int, bool or str) against the target's values.

Ingest keeps the target as text, so a 0/1 column holds "0"/"1" (or "0.0"/"1.0" when the source
stored it as floats) and a boolean one "True"/"False". `positive_class: 1` must match all of
those; a value absent from the column is an error that lists what is there ("did you mean").
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

PositiveClass = bool | int | str
_TRUE = {"true", "1", "1.0", "yes", "y", "t"}
_FALSE = {"false", "0", "0.0", "no", "n", "f"}


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def matches(label: object, positive: PositiveClass) -> bool:
    """Does one target value (as ingest stores it: text) mean the positive class?"""
    if label is None or (isinstance(label, float) and math.isnan(label)):
        return False
    text = str(label).strip()
    if isinstance(positive, bool):
        return text.lower() in (_TRUE if positive else _FALSE)
    if isinstance(positive, int):
        number = _number(text)
        return number is not None and number == positive
    if text == positive:
        return True
    # "1" in params.yaml (a quoted string) against "1.0" in the data: the same number
    a, b = _number(text), _number(positive)
    return a is not None and a == b


def is_positive(values: pd.Series, positive: PositiveClass) -> np.ndarray:
    """1 where the target is the positive class, else 0 (missing targets are 0)."""
    uniques = values.dropna().unique()
    hits = {u for u in uniques if matches(u, positive)}
    return values.isin(hits).to_numpy(dtype=np.int64)


def present(values: Iterable[object], positive: PositiveClass) -> bool:
    return any(matches(v, positive) for v in values)


def did_you_mean(labels: list[str], positive: PositiveClass) -> str:
    """ "did you mean '>50K'? labels are ['<=50K', '>50K']" for an error message."""
    shown = sorted(labels[:10]) + (["…"] if len(labels) > 10 else [])
    close = difflib.get_close_matches(str(positive), [str(x) for x in labels], n=1, cutoff=0.5)
    if not close:  # case or spacing: ' yes' vs 'Yes'
        lowered = {str(x).strip().lower(): str(x) for x in labels}
        hit = lowered.get(str(positive).strip().lower())
        close = [hit] if hit else []
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}labels are {shown}"


def yaml_value(label: str) -> PositiveClass:
    """The label as params.yaml should hold it: an int for an integer label, else the text."""
    number = _number(label)
    if number is not None and number.is_integer():
        return int(number)
    return label
