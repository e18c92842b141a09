"""One way to score, for every way in: the app's request rows and batch predict's chunks.

`Predictor` holds a verified model (gitml.serve.resolve) and, when it compiles, its fast path
(gitml.serve.fast, checked equal to the Pipeline at load). It gives the model's output for
rows (dicts, as requests arrive) or a frame (a typed chunk of a file), per `ModelMeta.task`:
P(positive) (binary, with the label at the model's threshold), one probability per class in
`ModelMeta.classes` order (multiclass, rows x classes) or the prediction (regression); and the
categories the model never saw. The app and `gitml predict` used to do each of these
themselves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gitml.core import features
from gitml.core.tasks import Task
from gitml.errors import DataError
from gitml.serve.fast import FastModel
from gitml.serve.resolve import ResolvedModel
from gitml.serve.scorers import pipeline_output, task_of

PIPELINE_ONLY = "fast path off (--no-fast-path): predicting through the scikit-learn Pipeline"


@dataclass
class Predictor:
    resolved: ResolvedModel
    fast: FastModel | None = None
    message: str = PIPELINE_ONLY  # what to tell the user about the fast path
    task: Task = field(init=False)
    classes: list[str] = field(init=False)  # multiclass: in the order of the output's columns
    threshold: float = field(init=False)  # binary only (NaN for the other tasks)

    def __post_init__(self) -> None:
        meta = self.resolved.metadata
        self.task, self.classes = meta.task, list(meta.classes)
        self.threshold = meta.binary_threshold if self.task is Task.BINARY else math.nan
        check_task(self.resolved)

    @classmethod
    def prepare(cls, resolved: ResolvedModel, fast_path: bool = True) -> Predictor:
        """Compile the model and check it against the Pipeline (a mismatch raises DataError:
        never serve it); a model that does not compile is scored through the Pipeline."""
        if not fast_path:
            return cls(resolved)
        from gitml.serve.fast import prepare

        fast, message = prepare(resolved.model, resolved.specs, resolved.derived, resolved.example)
        return cls(resolved, fast, message)

    def _pipeline(self, frame: pd.DataFrame) -> np.ndarray:
        frame = features.apply(frame, self.resolved.derived)
        order = self.resolved.feature_order
        if list(frame.columns) != order:  # usually already in training order: skip a copy
            frame = frame[order]
        return pipeline_output(self.resolved.model, frame, self.task)

    def proba_rows(self, rows: list[dict[str, Any]]) -> np.ndarray:
        """The output for request rows (dicts of the input columns)."""
        if self.fast is not None:
            return np.asarray(self.fast.proba_rows(rows))
        from gitml.serve.requests import to_frame

        return self._pipeline(to_frame(rows, self.resolved.specs))

    def proba_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """The output for a typed frame of the input columns (batch predict's chunks)."""
        if self.fast is not None:
            return np.asarray(self.fast.proba_frame(frame))
        return self._pipeline(frame)

    def labels(self, scores: np.ndarray) -> np.ndarray:
        return (np.asarray(scores) >= self.threshold).astype("int64")

    def unseen_in_row(self, row: dict[str, Any]) -> list[str]:
        """The columns of one row whose category the model never saw (missing is not unseen)."""
        return [
            c
            for c, values in self.resolved.known_categories.items()
            if row.get(c) is not None and row[c] not in values
        ]

    def unseen_in_frame(self, frame: pd.DataFrame) -> dict[str, int]:
        """Per column, the rows of `frame` whose category the model never saw."""
        counts = {}
        for col, values in self.resolved.known_categories.items():
            seen = frame[col]
            n = int((seen.notna() & ~seen.isin(list(values))).sum())
            if n:
                counts[col] = n
        return counts

    def warm_up(self) -> None:
        """The first scoring pays one-off costs (imports, buffers): pay them before /ready."""
        if self.resolved.example:
            self.proba_rows([self.resolved.example])


def check_task(resolved: ResolvedModel) -> None:
    """DataError when model.json's task (or multiclass classes) does not fit the model file:
    answers would be mislabelled."""
    meta, model = resolved.metadata, resolved.model
    found = task_of(model)
    where = f"model {resolved.version}"
    if found is not meta.task:
        raise DataError(
            f"{where}: model.json says task {meta.task} but the model file is a {found} "
            "model; run `dvc repro` (train writes both) or serve the matching files"
        )
    if meta.task is Task.MULTICLASS and len(meta.classes) != len(model.classes_):
        raise DataError(
            f"{where}: model.json names {len(meta.classes)} classes {meta.classes[:10]} but the "
            f"model predicts {len(model.classes_)}; run `dvc repro` to rewrite model.json"
        )
