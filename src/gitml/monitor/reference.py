"""The reference of the monitor: what the served model was trained and evaluated on."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gitml import layout
from gitml.core.model_meta import ModelMeta
from gitml.core.tasks import Task
from gitml.errors import DataError, GitmlError
from gitml.io.files import read_table
from gitml.io.git import read_dvc_file, read_git_file
from gitml.monitor import drift
from gitml.monitor.common import MonitorError


def _read_table(data: bytes | Path, name: str) -> pd.DataFrame:
    try:
        return read_table(data, name)
    except DataError as exc:
        raise MonitorError(str(exc)) from None


@dataclass
class Reference:
    """What the served model was trained and evaluated on."""

    frame: pd.DataFrame  # training features (with the derived ones)
    meta: ModelMeta  # models/model.json
    source: str  # human-readable: where it came from
    version: str | None = None  # the prod version, when it came from the registry
    commit: str | None = None
    scores: np.ndarray | None = None  # evaluate's test predictions: the score distribution
    y_true: np.ndarray | None = None
    # multiclass: the test split's class probabilities (rows x classes, in meta.classes order);
    # `scores` is then their maximum, `y_true` the class codes. Regression: `scores` is the
    # predicted value, `y_true` the true one.
    probs: np.ndarray | None = None
    # regression and multiclass: the test split's features, row for row with `scores` (DLE's
    # loss models and multiclass CBPE's conditional calibration train on them)
    test_frame: pd.DataFrame | None = None
    # what the monitor fits on the test split, once per Reference (many windows reuse it):
    # DLE's loss models (regression), the calibration (multiclass, monitor.cbpe_inputs)
    fitted: Any = None
    metrics: dict[str, Any] | None = None  # reports/evaluate/metrics.json
    schema: Any = None  # the data contract (pandera DataFrameSchema) the model was trained under
    notes: list[str] = field(default_factory=list)

    @property
    def columns(self) -> dict[str, drift.Kind]:
        kinds: dict[str, drift.Kind] = {c: "numeric" for c in self.meta.features.numeric}
        kinds.update({c: "categorical" for c in self.meta.features.categorical})
        return kinds


def _workspace_json(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data


def load_reference(
    repo: Path, reference_file: Path | None = None, schema_file: Path | None = None
) -> Reference:
    """The prod model's training features, or the workspace's (with a note saying so); with
    the data contract `schema_file` as it was at prod's commit (or in the workspace)."""
    ref = _load_reference(repo, reference_file)
    if schema_file is not None:
        ref.schema = _load_schema(repo, ref, schema_file)
    return ref


def _load_schema(repo: Path, ref: Reference, schema_file: Path) -> Any:
    from gitml.core import schema

    try:
        if ref.commit is None:
            return schema.load(repo / schema_file)
        text = read_git_file(repo, ref.commit, schema_file)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / schema_file.name
            path.write_bytes(text)
            return schema.load(path)
    except GitmlError as exc:
        ref.notes.append(f"no data contract ({exc}): rows not checked against the schema")
        return None


def _load_reference(repo: Path, reference_file: Path | None) -> Reference:
    from gitml.registry import versions as registry

    if reference_file is None:
        try:
            prod = registry.find_stage(repo)
        except Exception as exc:  # not a git repo, no GTO config: no registry to ask
            prod = None
            note = f"no model registry here ({type(exc).__name__}: {str(exc)[:120]})"
        else:
            note = "no model is in stage prod yet"
        if prod is not None:
            return _prod_reference(repo, prod.version, prod.commit)
        ref = _workspace_reference(repo, repo / layout.FEATURES_DIR / "train.parquet")
        ref.notes.insert(
            0,
            f"{note}: the reference is the WORKSPACE training data "
            f"({layout.FEATURES_DIR / 'train.parquet'}), not a deployed model's; "
            "promote a model (or pass --reference FILE) to monitor a deployed one",
        )
        return ref
    ref = _workspace_reference(repo, reference_file)
    ref.notes.insert(0, f"reference given on the command line: {reference_file}")
    return ref


def _prod_reference(repo: Path, version: str, commit: str) -> Reference:

    def git_json(path: Path) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(read_git_file(repo, commit, path))
        except json.JSONDecodeError as exc:
            raise MonitorError(f"{path} at {commit[:8]} is not valid JSON: {exc}") from None
        return data

    try:
        meta = ModelMeta.parse(
            read_git_file(repo, commit, layout.MODEL_META), f"{layout.MODEL_META}@{commit[:8]}"
        )
        train_path = layout.FEATURES_DIR / "train.parquet"
        frame = _read_table(read_dvc_file(repo, commit, train_path), str(train_path))
    except GitmlError as exc:
        raise MonitorError(f"model {version} in prod (commit {commit[:8]}): {exc}") from None
    ref = Reference(
        frame,
        meta,
        f"model {version} in stage prod (commit {commit[:8]}), {train_path}",
        version,
        commit,
    )
    try:
        ref.metrics = git_json(layout.METRICS)
    except GitmlError as exc:
        ref.notes.append(f"no evaluation metrics at {commit[:8]} ({exc}): quality not compared")
    try:
        preds = _read_table(
            read_dvc_file(repo, commit, layout.PREDICTIONS), str(layout.PREDICTIONS)
        )
        _prediction_columns(ref, preds)
        if meta.task is not Task.BINARY:
            test = layout.FEATURES_DIR / "test.parquet"
            ref.test_frame = _read_table(read_dvc_file(repo, commit, test), str(test))
    except GitmlError as exc:
        ref.notes.append(f"no test predictions at {commit[:8]} ({exc}): no score reference")
    return ref


def _workspace_reference(repo: Path, path: Path) -> Reference:
    try:
        meta = ModelMeta.read(repo / layout.MODEL_META)
    except GitmlError as exc:
        raise MonitorError(
            f"{exc}. The monitor needs the model's feature list: run `dvc repro` (or `dvc "
            "pull`), or promote a model to prod"
        ) from None
    full = path if path.is_absolute() else repo / path
    if not full.exists():
        raise MonitorError(
            f"{full}: reference data not found; run `dvc repro` (or `dvc pull`), "
            "or pass --reference FILE"
        )
    frame = _read_table(full, str(full))
    derived = [f for f in meta.derived_features if f not in frame.columns]
    if derived:  # raw training rows (e.g. data/split/train.parquet): add the derived features
        from gitml.core import features

        try:
            frame = features.apply(frame, derived)
        except GitmlError as exc:
            raise MonitorError(f"{full}: {exc}") from None
    ref = Reference(frame, meta, f"workspace file {path}")
    ref.metrics = _workspace_json(repo / layout.METRICS)
    if ref.metrics is None:
        ref.notes.append("no reports/evaluate/metrics.json in the workspace: quality not compared")
    preds_path = repo / layout.PREDICTIONS
    test_path = repo / layout.FEATURES_DIR / "test.parquet"
    if preds_path.exists():
        _prediction_columns(ref, _read_table(preds_path, str(preds_path)))
        if meta.task is not Task.BINARY and test_path.exists():
            ref.test_frame = _read_table(test_path, str(test_path))
    else:
        ref.notes.append(f"no {layout.PREDICTIONS} in the workspace: no score reference")
    return ref


def _prediction_columns(ref: Reference, preds: pd.DataFrame) -> None:
    """The test split's predictions of the task (pipeline.evaluate_tasks.predictions_frame)."""
    task = ref.meta.task
    if task is Task.BINARY:
        ref.scores = preds["score"].to_numpy("float64") if "score" in preds else None
        ref.y_true = preds["y_true"].to_numpy("int64") if "y_true" in preds else None
        return
    if "y_true" in preds:
        ref.y_true = preds["y_true"].to_numpy("float64" if task is Task.REGRESSION else "int64")
    if task is Task.REGRESSION:
        ref.scores = preds["prediction"].to_numpy("float64") if "prediction" in preds else None
        return
    from gitml.monitor.tasks import class_probabilities

    ref.probs = class_probabilities(preds, ref.meta.classes, str(layout.PREDICTIONS))
    ref.scores = ref.probs.max(axis=1)
