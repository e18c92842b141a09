"""models/model.json: what `train` records beside the model, as one typed contract.

Written by `gitml.pipeline.train` and read by evaluate, serve (resolve, the app, the workers),
the monitor and the review, always through `ModelMeta`: a key is renamed in one place, and a
reader cannot ask for a key the writer never wrote. `read` turns a file from an older gitml (a
key missing, a value of the wrong type) into an error that names the key and says how to
rewrite the file; keys a newer gitml adds are ignored, so an older reader still works.

`to_json()` is what train writes: the same keys and values as the dict it used to write, so
the pipeline's outputs did not change when this contract was introduced (a unit test reads the
committed models/model.json back and compares).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from gitml.core.tasks import Task
from gitml.errors import DataError

# A tuned hyperparameter: Optuna suggests floats, ints and categorical strings.
Hyper = float | int | str | bool | None


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Calibration(_Part):
    """How train calibrated the scores (docs/retraining.md): ECE before and after, out of fold."""

    method: str = "none"  # isotonic | sigmoid | none
    rule: str | None = None  # train.calibration: auto | isotonic | sigmoid | none
    ece_bins: int | None = None
    # out of fold; multiclass: top-label. After = before where multiclass auto kept "none".
    ece_before: float | None = None
    ece_after: float | None = None
    # per option incl. "none" (the raw scores); binary auto picks isotonic or sigmoid,
    # multiclass auto any of the three
    cv_log_loss: dict[str, float] | None = None


class FeatureKinds(_Part):
    """The model's input columns, derived features included, by kind."""

    numeric: list[str] = []
    categorical: list[str] = []


class ModelMeta(_Part):
    """models/model.json. Only `model_sha256`, the task and (binary) `threshold` or
    (multiclass) `classes` are needed to serve a model; the rest describes it and defaults to
    empty for files of older versions."""

    model_sha256: str
    # binary | multiclass | regression; written only when not binary (core.tasks)
    task: Task = Task.BINARY
    # binary: the score at or above which the label is 1; None for the other tasks
    threshold: float | None = None
    # multiclass: the class names in the order of the model's probability columns
    classes: list[str] = []
    threshold_rule: str | float | None = None
    family: str | None = None
    params: dict[str, Hyper] = {}
    calibration: Calibration = Calibration()
    target: str | None = None
    positive_class: bool | int | str | None = None
    features: FeatureKinds = FeatureKinds()
    derived_features: list[str] = []
    monotonic_increasing: list[str] = []
    # canonical input name -> the name in the user's file, where ingest renamed it
    # (`mean radius` -> `mean_radius`); serving, batch predict and the monitor accept both.
    original_names: dict[str, str] = {}
    schema_sha256: str | None = None
    train_data_sha256: str | None = None
    train_rows: int | None = None
    train_positive_rate: float | None = None
    libraries: dict[str, str] = {}
    python: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object train writes (unset optional values left out; `original_names` only
        when a column was renamed, so a table already in snake_case writes what it used to)."""
        left_out = {"original_names"} if not self.original_names else set()
        if self.task is Task.BINARY:
            left_out |= {"task", "classes"}
        return self.model_dump(mode="json", exclude_none=True, exclude=left_out)

    @property
    def binary_threshold(self) -> float:
        """The decision threshold of a binary model; an error naming the task otherwise."""
        if self.task is not Task.BINARY or self.threshold is None:
            raise DataError(
                f"model.json: a {self.task} model has no decision threshold (binary models only)"
            )
        return self.threshold

    @classmethod
    def parse(cls, raw: bytes | str | dict[str, Any], where: str) -> ModelMeta:
        """A model.json's content; DataError naming `where`, the key and the fix."""
        try:
            data = json.loads(raw) if isinstance(raw, bytes | str) else raw
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{where}: not valid JSON ({exc}); run `dvc repro` to rewrite it"
            ) from None
        if not isinstance(data, dict):
            raise DataError(f"{where}: expected a JSON object, found {type(data).__name__}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg'].lower()}"
                for e in exc.errors()
            )
            raise DataError(
                f"{where}: not a model.json this gitml can read ({problems}); it may come from "
                "an older gitml: run `dvc repro` (the train stage rewrites it)"
            ) from None

    @classmethod
    def read(cls, path: Path) -> ModelMeta:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise DataError(
                f"{path}: not found; run `dvc repro` (the train stage writes it)"
            ) from None
        return cls.parse(raw, str(path))
