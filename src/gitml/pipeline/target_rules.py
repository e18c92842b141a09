"""The validate stage's rules for a multiclass or a regression target (the binary target's
rules stay in validate.py): what each task needs of its target before anything is split.

- multiclass: no missing class, at least three classes (two: `data.task: binary`), every class
  with MIN_CLASS_ROWS rows (the stratified split and the stratified folds need rows of each
  class on every side), the rarest class's share at least `validate.min_minority_rate`;
- regression: every value a finite number, no missing value, not constant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

# The split keeps ~80% of a class for training, and tune/train's stratified folds (5 by
# default) need at least one row of every class in each fold: 10 rows leave 8 for 5 folds.
MIN_CLASS_ROWS = 10
MAX_SHOWN = 10


@dataclass(frozen=True)
class Problem:
    """One broken rule: its name and message, and the rows that break it (index labels)."""

    rule: str
    count: int
    rows: list[Any] = field(default_factory=list)


def _missing_problem(target: pd.Series, what: str) -> list[Problem]:
    gone = target.isna()
    if not gone.any():
        return []
    rows = target.index[gone].tolist()
    return [
        Problem(
            f"target_missing: {len(rows)} row(s) have no {what}; remove them from the file "
            "(or mark them so `gitml predict` scores them instead)",
            len(rows),
            rows,
        )
    ]


def multiclass(target: pd.Series, min_share: float) -> tuple[list[Problem], dict[str, Any]]:
    """The multiclass rules, and the quality numbers the report keeps (counts per class)."""
    problems = _missing_problem(target, "class")
    present = target.dropna().astype(str).str.strip()
    counts = present.value_counts()  # most frequent first
    quality = {"positive_rate": None, "label_counts": {str(k): int(v) for k, v in counts.items()}}
    shown = sorted(counts.index[:MAX_SHOWN]) + (["…"] if len(counts) > MAX_SHOWN else [])
    if len(counts) < 3:
        why = (
            "a constant target: nothing to learn"
            if len(counts) < 2
            else "two classes are a binary target: set data.task: binary and data.positive_class"
        )
        rows = present.index.tolist()
        rule = f"multiclass_target: {len(counts)} class(es) {shown}; {why}"
        return [*problems, Problem(rule, len(rows), rows)], quality
    rare = counts[counts < MIN_CLASS_ROWS]
    if len(rare):
        rows = present.index[present.isin(rare.index)].tolist()
        listed = ", ".join(f"{k!r}: {v}" for k, v in rare.items())
        problems.append(
            Problem(
                f"min_class_rows: class(es) with fewer than {MIN_CLASS_ROWS} rows ({listed}): too "
                "few to split into train, test and stratified folds; add rows, merge the class "
                "into a neighbour, or drop its rows",
                len(rows),
                rows,
            )
        )
    share = float(counts.iloc[-1] / counts.sum())
    if share < min_share:
        problems.append(
            Problem(
                f"min_minority_rate: the rarest class {counts.index[-1]!r} is {share:.4f} of the "
                f"rows < {min_share}",
                int(counts.iloc[-1]),
            )
        )
    return problems, quality


def regression(target: pd.Series) -> tuple[list[Problem], dict[str, Any]]:
    """The regression rules, and the target's summary for the report."""
    problems = _missing_problem(target, "target value")
    present = target.dropna()
    numbers = pd.to_numeric(present, errors="coerce")
    text = present.index[numbers.isna()].tolist()
    if text:
        shown = sorted({str(v) for v in present.loc[text]})[:5]
        problems.append(
            Problem(
                f"regression_target: {len(text)} value(s) are not numbers (e.g. {shown}); a "
                "regression target must be numeric (a categorical one: data.task: multiclass)",
                len(text),
                text,
            )
        )
    values = numbers.dropna()
    infinite = values.index[~np.isfinite(values.to_numpy(dtype="float64"))].tolist()
    if infinite:
        problems.append(
            Problem(
                f"regression_target: {len(infinite)} value(s) are infinite; a regression target "
                "must be finite",
                len(infinite),
                infinite,
            )
        )
    finite = values.drop(index=infinite)
    if len(finite) and finite.nunique() < 2:
        problems.append(
            Problem(
                f"constant_target: every value is {finite.iloc[0]}; nothing to learn",
                len(finite),
                finite.index.tolist(),
            )
        )
    summary: dict[str, float] = {}
    if len(finite):
        summary = {
            "min": float(finite.min()),
            "max": float(finite.max()),
            "mean": round(float(finite.mean()), 6),
            "std": round(float(finite.std()), 6),
            "zeros": int((finite == 0).sum()),
        }
    return problems, {"positive_rate": None, "target": summary}
