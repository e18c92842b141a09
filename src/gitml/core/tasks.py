"""The kind of target a project predicts, and the target as a model's `y` for each kind.

`data.task` in params.yaml names it; models/model.json records it (`ModelMeta.task`, left out of
the file for binary so a binary project's outputs stay what they were). Every layer that used to
assume a binary label asks this module instead:

- binary: `y` is 0/1 (`core.labels.is_positive`), the score is P(positive class);
- multiclass: `y` is the index of the class name in `classes` (names sorted as text, so the
  order is the same on every machine and equals scikit-learn's `classes_` order of the codes);
- regression: `y` is the target as float64; text or a non-finite value is an error.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from gitml.errors import DataError

if TYPE_CHECKING:  # config imports Task: the CLI should not load pandas to parse params.yaml
    import numpy as np
    import pandas as pd

    from gitml.core.labels import PositiveClass


class Task(StrEnum):
    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"

    @property
    def is_classification(self) -> bool:
        return self is not Task.REGRESSION


def recorded_task(model: Any = None, params: Any = None) -> Task | None:
    """The task as a project recorded it: models/model.json's `task` (ModelMeta; binary when
    the file leaves it out), else params.yaml's `data.task` (binary when left out: the only
    task before it existed). `model` and `params` are the parsed files (None: absent). None when
    neither is there or names no task gitml knows: the caller then falls back on the metric
    names (core.metrics.task_of_metrics), for older files only."""
    data = params.get("data") if isinstance(params, dict) else None
    for found, value in (
        (isinstance(model, dict), model.get("task") if isinstance(model, dict) else None),
        (isinstance(params, dict), data.get("task") if isinstance(data, dict) else None),
    ):
        if found:
            try:
                return Task(value or Task.BINARY)
            except ValueError:
                return None
    return None


def class_names(values: pd.Series) -> list[str]:
    """A multiclass target's class names: its distinct non-missing values as text, sorted."""
    return sorted({str(v).strip() for v in values.dropna().unique()})


def encode_target(
    values: pd.Series,
    task: Task,
    positive_class: PositiveClass | None = None,
    classes: list[str] | None = None,
) -> np.ndarray:
    """The target column (as ingest stores it) as the `y` a model of `task` trains on."""
    import numpy as np
    import pandas as pd

    from gitml.core.labels import is_positive

    if task is Task.BINARY:
        if positive_class is None:
            raise DataError("data.positive_class is needed for a binary target")
        return is_positive(values, positive_class)
    if task is Task.MULTICLASS:
        names = classes if classes is not None else class_names(values)
        index = {name: i for i, name in enumerate(names)}
        text = values.map(lambda v: None if pd.isna(v) else str(v).strip())
        unknown = sorted({t for t in text.dropna().unique() if t not in index})
        if unknown:
            raise DataError(
                f"target values {unknown[:5]} are not among the model's classes {names[:10]}"
            )
        return text.map(index).to_numpy(dtype=np.int64)
    numbers = pd.to_numeric(values, errors="coerce")
    bad = values[numbers.isna() & values.notna()]
    if len(bad) or not np.isfinite(numbers.dropna().to_numpy(dtype=np.float64)).all():
        shown = [str(v) for v in bad.unique()[:5]]
        raise DataError(
            f"a regression target must be numeric and finite; found {shown or 'inf'} "
            "(set data.task to binary or multiclass for a categorical target)"
        )
    return numbers.to_numpy(dtype=np.float64)
