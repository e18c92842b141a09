"""Served regression and multiclass models without `dvc repro`: Pipelines fitted in-process.

Shaped as gitml.core.models builds them (its ColumnTransformers; the final estimator swapped
for the task: HistGradientBoostingRegressor, or Ridge on the logistic regression's
preprocessing), fitted on scikit-learn's bundled load_diabetes (regression) and load_wine
(multiclass), or on a generated table with categorical columns, missing values and string class
names. `served(data, family)` gives the `ResolvedModel` gitml.serve.resolve would, with a
`ModelMeta` of the task, without the files: the serving side does not wait for train.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn.datasets import load_diabetes, load_wine
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline

from gitml.core import models, schema
from gitml.core.model_io import save_model
from gitml.core.model_meta import ModelMeta
from gitml.core.tasks import Task, class_names, encode_target
from gitml.serve.requests import ColumnSpec, to_frame
from gitml.serve.resolve import ResolvedModel, known_categories
from tests.helpers import default_params

TARGET = "target"
DATASETS = ["diabetes", "wine", "mixed-regression", "mixed-multiclass"]
FAMILIES = ["hist_gradient_boosting", "linear"]  # linear: Ridge (regression) or LogisticRegression


@dataclass
class Table:
    frame: pd.DataFrame  # inputs and TARGET
    task: Task
    specs: tuple[ColumnSpec, ...]

    @property
    def inputs(self) -> pd.DataFrame:
        return self.frame.drop(columns=[TARGET])


def table(name: str) -> Table:
    if name == "diabetes":
        df = load_diabetes(as_frame=True).frame
        return _numeric(df, Task.REGRESSION)
    if name == "wine":
        df = load_wine(as_frame=True).frame
        df[TARGET] = df[TARGET].map({0: "barolo", 1: "grignolino", 2: "barbera"})
        return _numeric(df, Task.MULTICLASS)
    return mixed(Task.REGRESSION if name == "mixed-regression" else Task.MULTICLASS)


def _numeric(df: pd.DataFrame, task: Task) -> Table:
    df.columns = [str(c).replace(" ", "_").replace("/", "_") for c in df.columns]
    specs = tuple(ColumnSpec(c, True, True) for c in df.columns if c != TARGET)
    return Table(df, task, specs)


def mixed(task: Task, n: int = 900, seed: int = 0) -> Table:
    """Numbers and categories, both with missing values; rare categories; text class names."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.uniform(0, 100, size=n)
    colour = rng.choice(["red", "green", "blue", "cyan", "rare"], p=[0.3, 0.3, 0.3, 0.09, 0.01],
                        size=n).astype(object)  # fmt: skip
    shape = rng.choice(["square", "circle", "star"], size=n).astype(object)
    signal = x1 + x2 / 50 + (colour == "red") - (shape == "star") + rng.normal(0, 0.3, size=n)
    x1[rng.random(n) < 0.1] = np.nan
    colour[rng.random(n) < 0.1] = None
    shape[rng.random(n) < 0.05] = None
    target: Any = signal * 10 + 50
    if task is Task.MULTICLASS:
        target = np.where(signal < 0.5, "low", np.where(signal < 2.0, "mid one", "high"))
    df = pd.DataFrame({"x1": x1, "x2": x2, "colour": colour, "shape": shape, TARGET: target})
    specs = (
        ColumnSpec("x1", True, True),
        ColumnSpec("x2", True, True, ge=0.0, le=100.0),
        ColumnSpec("colour", False, True),
        ColumnSpec("shape", False, True),
    )
    return Table(df, task, specs)


def pipeline(family: str, task: Task, cols: models.Columns) -> Pipeline:
    """core.models' Pipeline of the family, its estimator swapped for the task's."""
    if family == "hist_gradient_boosting":
        pipe = models.build(family, {"max_iter": 30, "max_leaf_nodes": 15}, cols, 0)
        if task is Task.REGRESSION:
            clf = pipe.steps[1][1]
            reg = HistGradientBoostingRegressor(
                categorical_features=clf.categorical_features, max_iter=30, max_leaf_nodes=15,
                random_state=0,
            )  # fmt: skip
            pipe.steps[1] = ("model", reg)
        return pipe
    pipe = models.build("logistic_regression", {}, cols, 0)
    if task is Task.REGRESSION:
        pipe.steps[1] = ("model", Ridge(alpha=1.0))
    return pipe


def served(name: str, family: str) -> ResolvedModel:
    t = table(name)
    X = to_frame(rows_of(t), t.specs)
    cols = models.Columns(
        [s.name for s in t.specs if s.numeric], [s.name for s in t.specs if not s.numeric]
    )
    X = X[cols.all]
    classes = class_names(t.frame[TARGET]) if t.task is Task.MULTICLASS else []
    y = encode_target(t.frame[TARGET], t.task, classes=classes or None)
    model = pipeline(family, t.task, cols).fit(X, y)
    meta = ModelMeta(
        model_sha256="0" * 64, task=t.task, classes=classes, family=family, target=TARGET
    )
    resolved = ResolvedModel(model, meta, t.specs, f"{name}-{family}", "test", None)
    resolved.example = rows_of(t, 1)[0]
    resolved.known_categories = known_categories(model)
    return resolved


def task_repo(path: Path, name: str, family: str) -> Path:
    """A workspace as train leaves it (models/model.skops + model.json with the task, the
    schema drafted from the table, params.yaml naming both), for `resolve(path)` and the CLI."""
    (path / "schema").mkdir(parents=True)
    (path / "models").mkdir()
    t = table(name)
    drafted, _ = schema.infer(t.frame, TARGET, 50)
    schema.write(drafted, path / "schema" / "data.schema.yaml")
    params = default_params()
    params["data"]["target"] = TARGET
    params["validate"]["schema_file"] = "schema/data.schema.yaml"
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    resolved = served(name, family)
    sha = save_model(resolved.model, path / "models" / "model.skops")
    meta = resolved.metadata.model_copy(
        update={
            "model_sha256": sha,
            "schema_sha256": schema.schema_hash(path / "schema" / "data.schema.yaml"),
        }
    )
    (path / "models" / "model.json").write_text(json.dumps(meta.to_json(), indent=2))
    return path


def rows_of(t: Table, n: int | None = None) -> list[dict[str, Any]]:
    """Rows as requests send them: exact floats (to_json would round), None where missing."""
    frame = t.inputs.head(n).astype(object)
    rows: list[dict[str, Any]] = frame.where(frame.notna(), None).to_dict("records")
    return rows


def pipeline_output(resolved: ResolvedModel, rows: list[dict[str, Any]]) -> np.ndarray:
    """What the Pipeline itself answers for request rows."""
    frame = to_frame(rows, resolved.specs)[resolved.feature_order]
    if resolved.metadata.task is Task.REGRESSION:
        return np.asarray(resolved.model.predict(frame))
    return np.asarray(resolved.model.predict_proba(frame))
