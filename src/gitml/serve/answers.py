"""What the server answers and logs for each task (`ModelMeta.task`, gitml.core.tasks).

- binary: `probability` (P(positive class)), `label` (0/1 at the threshold), `predicted_class`,
  `threshold`: unchanged since before tasks;
- regression: `prediction`, the predicted value;
- multiclass: `probabilities` (class name -> probability, in `ModelMeta.classes` order) and
  `label`, the most probable class's name (the first of equals, as scikit-learn's `predict`).

The response and feedback models are built per task when the app is created, so the OpenAPI
document describes the served model's answer (a multiclass label is one of its classes). The
prediction log keeps binary's columns and meaning; docs/serving.md says what the other tasks
put in them (`outcome`).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, create_model

from gitml.core.tasks import Task
from gitml.serve.requests import feedback_model as binary_feedback

_ID = Field(description="pass it to POST /feedback when the truth is known")
_UNSEEN = Field(description="columns whose category the model never saw")


class Prediction(BaseModel):
    """A binary model's answer."""

    prediction_id: str = _ID
    probability: float = Field(description="P(positive class)")
    label: int = Field(description="1 when probability >= threshold, else 0")
    predicted_class: str | None = Field(description="the positive class name when label is 1")
    threshold: float
    model_version: str
    unseen: list[str] = _UNSEEN


class RegressionPrediction(BaseModel):
    """A regression model's answer."""

    prediction_id: str = _ID
    prediction: float = Field(description="the predicted value of the target")
    model_version: str
    unseen: list[str] = _UNSEEN


class RegressionFeedback(BaseModel):
    """The truth of a regression prediction: a number (JSON number; not text, not a boolean)."""

    prediction_id: str = Field(min_length=1, max_length=36)
    label: float = Field(strict=True, allow_inf_nan=False, description="the true value")


def _one_of(classes: list[str]) -> Any:
    return Literal.__getitem__(tuple(classes))


def response_model(task: Task, classes: list[str]) -> type[BaseModel]:
    """The answer's model for the task; multiclass names its classes in the OpenAPI document."""
    if task is Task.BINARY:
        return Prediction
    if task is Task.REGRESSION:
        return RegressionPrediction
    # Class names may be any text: fields p0, p1… carry them as aliases (what JSON shows).
    probabilities = create_model(
        "ClassProbabilities",
        __config__=ConfigDict(populate_by_name=True),
        **{
            f"p{i}": (float, Field(alias=name, description=f"P({name})"))
            for i, name in enumerate(classes)
        },  # type: ignore[call-overload]
    )
    return create_model(
        "MulticlassPrediction",
        __doc__="A multiclass model's answer.",
        prediction_id=(str, _ID),
        probabilities=(probabilities, Field(description="each class's probability")),
        label=(_one_of(classes), Field(description="the most probable class")),
        model_version=(str, ...),
        unseen=(list[str], _UNSEEN),
    )


def feedback_model(
    task: Task, classes: list[str], class_labels: dict[str, int] | None = None
) -> type[BaseModel]:
    """POST /feedback's body for the task: 0/1 (or a binary target's class name, as
    `class_labels` maps it: "yes" -> 1), a number, or one of the class names."""
    if task is Task.BINARY:
        return binary_feedback(class_labels or {})
    if task is Task.REGRESSION:
        return RegressionFeedback
    return create_model(
        "MulticlassFeedback",
        __doc__="The true class of a multiclass prediction: one of the model's class names.",
        prediction_id=(str, Field(min_length=1, max_length=36)),
        label=(_one_of(classes), Field(description=f"the true class, one of {classes}")),
    )


def feedback_fields(task: Task, classes: list[str], label: Any) -> dict[str, Any]:
    """The feedback table's columns for a validated label (docs/serving.md)."""
    if task is Task.BINARY:
        return {"label": int(label), "value": None, "class_name": None}
    if task is Task.REGRESSION:
        return {"label": 0, "value": float(label), "class_name": None}
    return {"label": classes.index(label), "value": None, "class_name": label}


class NotFiniteError(ValueError):
    """The model's output for a row is NaN or infinite (inputs far outside training)."""


def outcome(
    task: Task, classes: list[str], threshold: float, positive: str | None, score: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the answer's task fields, the log record's) for one row's model output."""
    if task is Task.BINARY:
        p = float(score)
        label = int(p >= threshold)
        answer = {
            "probability": p,
            "label": label,
            "predicted_class": positive if label else None,
            "threshold": threshold,
        }
        record: dict[str, Any] = {"score": p, "label": label, "threshold": threshold}
        return answer, record | {"task": None, "probabilities": None, "class_name": None}
    values = np.asarray(score, dtype="float64")
    if not np.isfinite(values).all():
        raise NotFiniteError(
            "the model's output is not finite for a row (inputs far outside what it was "
            "trained on); send values in the training range"
        )
    if task is Task.REGRESSION:
        value = float(values)
        record = {"score": value, "label": 0, "threshold": 0.0, "task": task.value}
        return {"prediction": value}, record | {"probabilities": None, "class_name": None}
    top = int(np.argmax(values))
    probabilities = dict(zip(classes, values.tolist(), strict=True))
    record = {
        "score": probabilities[classes[top]],
        "label": top,
        "threshold": 0.0,
        "task": task.value,
        "probabilities": probabilities,
        "class_name": classes[top],
    }
    return {"probabilities": probabilities, "label": classes[top]}, record


def describe(task: Task, classes: list[str], threshold: float) -> dict[str, Any]:
    """/metadata's task keys: the task, the classes (multiclass), the threshold (binary)."""
    out: dict[str, Any] = {"task": task.value}
    if task is Task.MULTICLASS:
        out["classes"] = classes
    out["threshold"] = threshold if not math.isnan(threshold) else None
    return out
