"""What the monitor reads and names per task (ModelMeta.task): the prediction columns of a
file, the metrics it estimates and judges live, and the one its alarms are about.

Binary models never come here: their path (estimate.py, analyse.live_quality) is unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gitml.core.tasks import Task
from gitml.monitor.common import MonitorError

if TYPE_CHECKING:
    from gitml.config import MonitorConfig

# Probability columns of a multiclass table: evaluate's test predictions write proba_<class>,
# `gitml predict` writes probability_<class> (serve/predict.py).
PROBA_PREFIXES = ("proba_", "probability_")

# What is estimated before labels and measured on feedback (names of core.metrics).
ESTIMATED = {Task.MULTICLASS: ("accuracy", "f1_macro"), Task.REGRESSION: ("mae", "rmse")}


def alarm_metric(task: Task, cfg: MonitorConfig) -> str:
    """The metric the estimate alarms on: monitor.estimated_metric names a binary one, so the
    task's counterpart is taken (f1 -> f1_macro, any other -> accuracy; regression mae)."""
    if task is Task.REGRESSION:
        return "mae"
    return "f1_macro" if cfg.estimated_metric == "f1" else "accuracy"


def class_probabilities(frame: pd.DataFrame, classes: list[str], where: str) -> np.ndarray:
    """rows x classes probabilities, in `classes` order, from proba_<class> or
    probability_<class> columns; MonitorError names the missing ones."""
    for prefix in PROBA_PREFIXES:
        names = [f"{prefix}{c}" for c in classes]
        if all(n in frame.columns for n in names):
            probs = frame[names].apply(pd.to_numeric, errors="coerce").to_numpy("float64")
            _check_probabilities(probs, where)
            return probs
    wanted = ", ".join(f"probability_{c}" for c in classes)
    raise MonitorError(
        f"{where}: no class probability columns for the model's classes ({wanted}; or "
        "proba_<class>); pass the output of `gitml predict`, or --inputs-only to check the "
        "inputs' drift alone"
    )


def _check_probabilities(probs: np.ndarray, where: str) -> None:
    bad = ~np.isfinite(probs).all(axis=1) | (probs < 0).any(axis=1) | (probs > 1).any(axis=1)
    if bad.any():
        raise MonitorError(
            f"{where}: class probabilities must be numbers in [0, 1]; {int(bad.sum())} row(s) "
            f"are not (first at row {int(np.argmax(bad)) + 1})"
        )


def class_codes(values: pd.Series, classes: list[str]) -> np.ndarray:
    """Class names (as text) -> their index in `classes`, NaN where missing or unknown."""
    index = {c: i for i, c in enumerate(classes)}
    text = values.astype("string")
    return np.array(
        [np.nan if pd.isna(v) else index.get(str(v), np.nan) for v in text], dtype="float64"
    )


def realized(task: Task, y: np.ndarray, out: np.ndarray) -> dict[str, float | None]:
    """The task's monitored metrics on labelled rows: `out` is the prediction (regression) or
    the class probabilities (multiclass); `y` the value or the class code."""
    if task is Task.REGRESSION:
        err = np.asarray(out, "float64") - np.asarray(y, "float64")
        return {"mae": float(np.abs(err).mean()), "rmse": float(np.sqrt((err**2).mean()))}
    from gitml.monitor import cbpe_multi

    return cbpe_multi.realized(np.asarray(y, "int64"), out)
