"""Stage 6 — train: fit the best Pipeline on all of train, calibrate it and choose the threshold,
both out of fold.

The decision threshold comes from out-of-fold predictions on the training split, never from the
test split, so evaluate's numbers stay an honest estimate.

Calibration (`train.calibration`): the monitor estimates quality on unlabelled traffic from the
scores (confidence-based performance estimation), which is only sound when a score of 0.3 means
a 30% chance. The model's last step becomes scikit-learn's `CalibratedClassifierCV` with
`ensemble=False`: the estimator is fitted on all rows, the calibration map on its out-of-fold
scores (the same folds as the threshold), so serving runs one model plus a monotone map. `auto`
takes isotonic or sigmoid, whichever has the lower cross-validated log loss on those scores. The
expected calibration error before and after (out of fold) goes to models/model.json.

The task (data.task, core.tasks) decides the rest. Binary: as above. Multiclass: the model's
probability columns are the classes of `ModelMeta.classes` in order; no threshold (the label is
the most probable class). `train.calibration` applies too, with one map per class on the
estimator's decision function, the rows then normalised (CalibratedClassifierCV's one-vs-rest
maps), but `auto` chooses among none, isotonic and sigmoid: on a 4-class HistGradientBoosting
(40,000 rows) either map made test log loss and top-label ECE worse at 6x the fit time, so a
map is applied only when its cross-validated log loss, on the out-of-fold decision function
and probabilities, is lower than the model's own (core.calibration.choose_multiclass). The ECE
recorded is top-label (out of fold). Regression: the model predicts the target; no threshold,
no calibration.
"""

from __future__ import annotations

import platform
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.metrics import precision_recall_curve, roc_curve
from sklearn.pipeline import Pipeline

from gitml.config import Params, TrainConfig
from gitml.core import models
from gitml.core.calibration import (
    ECE_BINS,
    choose_method,
    choose_multiclass,
    expected_calibration_error,
)
from gitml.core.model_io import save_model
from gitml.core.model_meta import Calibration, FeatureKinds, ModelMeta
from gitml.core.schema import schema_hash
from gitml.core.tasks import Task
from gitml.errors import ConfigError
from gitml.io.files import write_json
from gitml.pipeline import dataset

LIBRARIES = ("scikit-learn", "numpy", "pandas", "skops", "optuna", "gitml")


@dataclass(frozen=True)
class TrainResult:
    model_sha256: str
    threshold: float | None  # binary only
    metadata: ModelMeta


@dataclass(frozen=True)
class _Fitted:
    model: Pipeline
    calibration: Calibration
    threshold: float | None = None


def choose_threshold(y: np.ndarray, scores: np.ndarray, rule: str | float) -> float:
    if not isinstance(rule, str):
        return float(rule)
    if rule == "youden":
        fpr, tpr, thresholds = roc_curve(y, scores)
        best = int(np.argmax(tpr - fpr))
        return float(min(thresholds[best], 1.0))
    precision, recall, thresholds = precision_recall_curve(y, scores)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    return float(thresholds[int(np.argmax(f1))])


def out_of_fold(
    family: str,
    params: dict[str, Any],
    X: pd.DataFrame,
    y: np.ndarray,
    cols: models.Columns,
    cv: list[tuple[np.ndarray, np.ndarray]],
    seed: int,
    increasing: list[str],
    task: Task = Task.BINARY,
    n_classes: int = 2,
) -> np.ndarray:
    """Out-of-fold predictions: P(positive) (binary), the (n, n_classes) probabilities
    (multiclass), the predicted target (regression)."""
    if task is Task.MULTICLASS:
        proba, _ = multiclass_out_of_fold(
            family, params, X, y, cols, cv, seed, increasing, n_classes
        )
        return proba
    oof = np.zeros(len(y))
    for valid_idx, rows, fold_model in _fold_models(family, params, X, y, cols, cv, seed,
                                                    increasing, task):  # fmt: skip
        if task is Task.REGRESSION:
            oof[valid_idx] = fold_model.predict(rows)
        else:
            oof[valid_idx] = fold_model.predict_proba(rows)[:, 1]
    return oof


def multiclass_out_of_fold(
    family: str,
    params: dict[str, Any],
    X: pd.DataFrame,
    y: np.ndarray,
    cols: models.Columns,
    cv: list[tuple[np.ndarray, np.ndarray]],
    seed: int,
    increasing: list[str],
    n_classes: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The out-of-fold (n, n_classes) probabilities, and the out-of-fold response that
    CalibratedClassifierCV fits its maps on: decision_function when the estimator has one, else
    predict_proba (as its `cross_val_predict` call: a class a fold never saw gets the float's
    minimum as its decision value, 0 as its probability)."""
    proba = np.zeros((len(y), n_classes))
    response = np.zeros((len(y), n_classes))
    for valid_idx, rows, fold_model in _fold_models(family, params, X, y, cols, cv, seed,
                                                    increasing, Task.MULTICLASS):  # fmt: skip
        # a fold's model knows only the classes in its rows: place its columns by code
        seen = np.ix_(valid_idx, fold_model.classes_)
        proba[seen] = fold_model.predict_proba(rows)
        if hasattr(fold_model, "decision_function"):
            response[valid_idx] = np.finfo(np.float64).min
            decision = fold_model.decision_function(rows)
            if decision.ndim == 2:  # 1-D: a fold with two classes, which sklearn refuses too
                response[seen] = decision
        else:
            response[seen] = proba[seen]
    return proba, response


def _fold_models(
    family: str,
    params: dict[str, Any],
    X: pd.DataFrame,
    y: np.ndarray,
    cols: models.Columns,
    cv: list[tuple[np.ndarray, np.ndarray]],
    seed: int,
    increasing: list[str],
    task: Task,
) -> Iterator[tuple[np.ndarray, pd.DataFrame, Pipeline]]:
    """Per fold: its held-out row indices, those rows, and the model fitted on the others."""
    for train_idx, valid_idx in cv:
        fold_model = models.build(family, params, cols, seed, increasing, task)
        fold_model.fit(X.iloc[train_idx], y[train_idx])
        yield valid_idx, X.iloc[valid_idx], fold_model


def calibrate(
    model: Pipeline,
    method: str,
    X: pd.DataFrame,
    y: np.ndarray,
    cv: list[tuple[np.ndarray, np.ndarray]],
) -> Pipeline:
    """The Pipeline with its estimator wrapped in CalibratedClassifierCV(ensemble=False), fitted.

    The preprocessing stays the first step (serving reads the encoders' categories from it);
    it is fitted on all rows, as without calibration (it is unsupervised).
    """
    pre = model.steps[0][1].fit(X, y)
    Xt = pre.transform(X)
    cal = CalibratedClassifierCV(model.steps[-1][1], method=method, cv=cv, ensemble=False)
    cal.fit(Xt, y)
    # The fold indices were only needed for the fit; keep the file small and say how many.
    cal.cv = len(cv)
    return Pipeline([(model.steps[0][0], pre), ("model", cal)])


def run(
    params: Params,
    train: pd.DataFrame,
    best: dict[str, Any],
    train_data_hash: str,
    model_path: Path,
    metadata_path: Path,
    renamed: dict[str, str] | None = None,
) -> TrainResult:
    """`renamed`: ingest's canonical -> original column names (data/column_names.json); the
    model's inputs and target among them go into model.json's `original_names`."""
    cfg, task = params.train, params.data.task
    schema_file = Path(params.validate_.schema_file)
    if not schema_file.is_file():  # checked before the long fit, and before anything is written
        raise ConfigError(f"validate.schema_file: {schema_file} not found")
    schema_sha = schema_hash(schema_file)
    classes = dataset.classes_of(train, params.data)
    X, y, cols = dataset.split_xy(train, params.data, params.split, classes or None)
    family, hyper = best["family"], best["params"]
    groups = train[params.split.group_column] if params.split.group_column else None
    cv = dataset.folds(X, y, cfg.cv_folds, cfg.seed, groups, task)
    increasing = params.features.monotonic_increasing
    model = models.build(family, hyper, cols, cfg.seed, increasing, task)
    if task is Task.MULTICLASS:
        proba, response = multiclass_out_of_fold(
            family, hyper, X, y, cols, cv, cfg.seed, increasing, len(classes)
        )
        fitted = _fit_multiclass(model, cfg, X, y, proba, response, cv)
    else:
        oof = out_of_fold(family, hyper, X, y, cols, cv, cfg.seed, increasing, task)
        if task is Task.BINARY:
            fitted = _fit_binary(model, cfg, X, y, oof, cv)
        else:  # regression: nothing to calibrate
            fitted = _Fitted(model.fit(X, y), Calibration())
    sha = save_model(fitted.model, model_path)
    binary = task is Task.BINARY
    metadata = ModelMeta(
        task=task,
        classes=classes,
        family=family,
        params=hyper,
        threshold=None if fitted.threshold is None else round(fitted.threshold, 6),
        threshold_rule=cfg.threshold if binary else None,
        calibration=fitted.calibration,
        target=params.data.target,
        positive_class=params.data.positive_class if binary else None,
        features=FeatureKinds(numeric=cols.numeric, categorical=cols.categorical),
        original_names={
            c: name
            for c, name in sorted((renamed or {}).items())
            if c in X.columns or c == params.data.target
        },
        derived_features=params.features.derived,
        monotonic_increasing=increasing,
        model_sha256=sha,
        schema_sha256=schema_sha,
        train_data_sha256=train_data_hash,
        train_rows=len(train),
        train_positive_rate=round(float(y.mean()), 6) if binary else None,
        libraries={name: version(name) for name in LIBRARIES},
        python=platform.python_version(),
    )
    write_json(metadata_path, metadata.to_json())
    return TrainResult(sha, fitted.threshold, metadata)


def _fit_binary(
    model: Pipeline,
    cfg: TrainConfig,
    X: pd.DataFrame,
    y: np.ndarray,
    oof: np.ndarray,
    cv: list[tuple[np.ndarray, np.ndarray]],
) -> _Fitted:
    """A binary model: fitted (calibrated per train.calibration), and its threshold."""
    calibration = Calibration(
        method="none", ece_bins=ECE_BINS, ece_before=round(expected_calibration_error(y, oof), 6)
    )
    if cfg.calibration == "none":
        model.fit(X, y)
        scores = oof
    else:
        choice = choose_method(oof, y, cv, None if cfg.calibration == "auto" else cfg.calibration)
        model = calibrate(model, choice.method, X, y, cv)
        scores = choice.calibrated
        calibration = calibration.model_copy(
            update={
                "method": choice.method,
                "ece_after": round(expected_calibration_error(y, scores), 6),
                "cv_log_loss": {k: round(v, 6) for k, v in choice.log_loss.items()},
            }
        )
    threshold = choose_threshold(y, scores, cfg.threshold)
    # out of fold on train; "after" is the chosen map's cross-fitted scores
    return _Fitted(model, calibration.model_copy(update={"rule": cfg.calibration}), threshold)


def _fit_multiclass(
    model: Pipeline,
    cfg: TrainConfig,
    X: pd.DataFrame,
    y: np.ndarray,
    proba: np.ndarray,
    response: np.ndarray,
    cv: list[tuple[np.ndarray, np.ndarray]],
) -> _Fitted:
    """A multiclass model, calibrated per train.calibration: `auto` keeps it as it is unless
    isotonic or sigmoid maps lower the cross-validated log loss. The ECE is top-label."""
    calibration = Calibration(
        method="none", rule=cfg.calibration, ece_bins=ECE_BINS, ece_before=_top_label(y, proba)
    )
    if cfg.calibration == "none":
        return _Fitted(model.fit(X, y), calibration)
    fixed = None if cfg.calibration == "auto" else cfg.calibration
    choice = choose_multiclass(proba, response, y, cv, fixed)
    if choice.method == "none":
        model.fit(X, y)
    else:
        model = calibrate(model, choice.method, X, y, cv)
    calibration = calibration.model_copy(
        update={
            "method": choice.method,
            "ece_after": _top_label(y, choice.calibrated),  # = ece_before when none is kept
            "cv_log_loss": {k: round(v, 6) for k, v in choice.log_loss.items()},
        }
    )
    return _Fitted(model, calibration)


def _top_label(y: np.ndarray, proba: np.ndarray) -> float:
    """The top-label ECE (Guo et al. 2017): the confidence of the most probable class against
    whether it was right."""
    right = (proba.argmax(axis=1) == y).astype(float)
    return round(expected_calibration_error(right, proba.max(axis=1)), 6)
