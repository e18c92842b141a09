"""The current window's predictions and truth for a multiclass or a regression model.

What the log holds per task (gitml.logstore.logdb, docs/serving.md): `score` is the top
class's probability (multiclass) or the prediction (regression); `probabilities` maps class
name -> probability (multiclass); the feedback's `label` is the class's index (multiclass) and
its `value` the true number (regression). What `gitml predict` writes (serve/predict.py):
regression `prediction`; multiclass `label` (the class name) and `probability_<class>`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gitml.core.model_meta import ModelMeta
from gitml.core.tasks import Task
from gitml.monitor.common import MonitorError
from gitml.monitor.tasks import class_codes, class_probabilities

# A file's regression prediction: `gitml predict` writes `prediction`; `score` is the log's name
PREDICTION_COLUMNS = ("prediction", "score")


@dataclass
class Outputs:
    """What a window says for the task (the fields of gitml.monitor.current.Current)."""

    scores: np.ndarray | None = None  # top probability, or the prediction
    labels: np.ndarray | None = None  # the predicted class code (multiclass)
    probs: np.ndarray | None = None
    y_true: np.ndarray | None = None


def log_columns(meta: ModelMeta | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(predictions columns, feedback columns) the task needs beyond the binary ones."""
    if meta is None or meta.task is Task.BINARY:
        return (), ()
    if meta.task is Task.MULTICLASS:
        return ("probabilities",), ()
    return (), ("value",)


def from_log(rows: pd.DataFrame, meta: ModelMeta) -> Outputs:
    """The window's task columns from the log's rows (load_log's query)."""
    scores = rows["score"].to_numpy("float64")
    if meta.task is Task.REGRESSION:
        truth = pd.to_numeric(rows["feedback_value"], errors="coerce").to_numpy("float64")
        return Outputs(scores=scores, y_true=truth)
    probs = logged_probabilities(rows["probabilities"], meta.classes)
    # the feedback label is the class's index in `classes` (NaN: no feedback yet)
    truth = pd.to_numeric(rows["y_true"], errors="coerce").to_numpy("float64")
    return Outputs(probs.max(axis=1), probs.argmax(axis=1), probs, truth)


def logged_probabilities(values: pd.Series, classes: list[str]) -> np.ndarray:
    """rows x classes from the log's `probabilities` (class name -> probability), in `classes`
    order; MonitorError when a row lacks one (also used by gitml.monitor.canary_run)."""
    probs = np.full((len(values), len(classes)), np.nan)
    for i, value in enumerate(values):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        mapping: dict[str, Any] = value if isinstance(value, dict) else json.loads(value)
        probs[i] = [float(mapping.get(c, np.nan)) for c in classes]
    bad = ~np.isfinite(probs).all(axis=1)
    if bad.any():
        raise MonitorError(
            f"prediction log: {int(bad.sum())} multiclass prediction(s) lack the probabilities "
            f"of the model's classes {classes} (logged by a server older than tasks, or by a "
            "model with other classes); narrow --since to this model's predictions"
        )
    return probs


def from_file(frame: pd.DataFrame, path: Path, meta: ModelMeta, *, inputs_only: bool) -> Outputs:
    """Rows of a file: `gitml predict`'s output (or evaluate's columns); the target column,
    when present, is the ground truth (the value, or the class name)."""
    out = Outputs()
    try:
        if meta.task is Task.MULTICLASS:
            out.probs = class_probabilities(frame, meta.classes, str(path))
            out.scores, out.labels = out.probs.max(axis=1), out.probs.argmax(axis=1)
        else:
            out.scores = _prediction(frame, path)
    except MonitorError:
        if inputs_only:
            return out
        raise
    target = meta.target
    if target and target in frame:
        y = frame[target]
        if meta.task is Task.MULTICLASS:
            out.y_true = class_codes(y, meta.classes)
        else:
            out.y_true = pd.to_numeric(y, errors="coerce").to_numpy("float64")
    return out


def _prediction(frame: pd.DataFrame, path: Path) -> np.ndarray:
    column = next((c for c in PREDICTION_COLUMNS if c in frame), None)
    if column is None:
        raise MonitorError(
            f"{path}: no prediction column ({' or '.join(PREDICTION_COLUMNS)}), so the error "
            "cannot be estimated; pass the output of `gitml predict` (it writes `prediction`), "
            "or --inputs-only to check the inputs' drift alone"
        )
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy("float64")
    bad = ~np.isfinite(values)
    if bad.any():
        raise MonitorError(
            f"{path}: column {column!r} must hold finite numbers; {int(bad.sum())} row(s) do "
            f"not (first at row {int(np.argmax(bad)) + 1})"
        )
    return values
