"""tune then train for each task on a small table: the model file loads (skops, trusted types
only), model.json records the task and classes, and the model predicts what its task needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import r2_score, roc_auc_score

from gitml.config import Params
from gitml.core.model_io import load_model
from gitml.core.model_meta import ModelMeta
from gitml.core.tasks import Task
from gitml.pipeline import dataset, split, train, tune
from tests.unit.pipeline import tasks_data
from tests.unit.pipeline.tasks_data import ANIMALS, MULTICLASS, REGRESSION

CASES = {
    "diabetes": (REGRESSION, tasks_data.diabetes),
    "wine": (MULTICLASS, tasks_data.wine),
    "animals": (ANIMALS, tasks_data.animals),
}


def params(data: Any, schema_file: Path, **tune_cfg: Any) -> Params:
    return Params.model_validate(
        {
            "data": data.model_dump(mode="json", exclude_unset=True),
            "validate": {"schema_file": str(schema_file)},
            "features": {"derived": []},
            "evaluate": {"slices": []},
            "tune": {"n_trials": 4, "cv_folds": 3, **tune_cfg},
            "train": {"cv_folds": 3},
        }
    )


@pytest.fixture(params=sorted(CASES))
def trained(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    data_cfg, table = CASES[request.param]
    schema_file = tmp_path / "schema.yaml"
    schema_file.write_text("columns: {}\n")
    p = params(data_cfg, schema_file)
    train_df, test_df = split.split(table(), p.data, p.split)
    best = tune.run(p.tune, p.data, p.split, train_df, "h", tmp_path / "tune", show_progress=False)
    result = train.run(
        p, train_df, best.summary, "h", tmp_path / "model.skops", tmp_path / "model.json"
    )
    return {"p": p, "test": test_df, "result": result, "best": best, "dir": tmp_path}


def test_each_task_trains_a_model_that_predicts_for_its_task(trained: dict[str, Any]) -> None:
    p, test, result = trained["p"], trained["test"], trained["result"]
    meta = ModelMeta.read(trained["dir"] / "model.json")
    assert meta == result.metadata and meta.task is p.data.task
    assert meta.threshold is None and meta.positive_class is None and result.threshold is None
    model = load_model(trained["dir"] / "model.skops", meta.model_sha256)
    X, y, _ = dataset.split_xy(test, p.data, p.split, meta.classes or None)
    if meta.task is Task.REGRESSION:
        assert meta.classes == [] and meta.family in ("hist_gradient_boosting", "linear")
        assert not hasattr(model, "predict_proba")
        prediction = model.predict(X)
        assert prediction.shape == (len(test),) and np.isfinite(prediction).all()
        assert r2_score(y, prediction) > 0.2  # diabetes: R² ≈ 0.4 for the usual models
        assert trained["best"].summary["metric"] == "neg_root_mean_squared_error"
        assert trained["best"].cv_score < 0  # a negated error: greater is better
    else:
        assert meta.classes == sorted(set(test[p.data.target]))
        proba = model.predict_proba(X)
        assert proba.shape == (len(test), len(meta.classes))
        assert model.classes_.tolist() == list(range(len(meta.classes)))
        assert np.allclose(proba.sum(axis=1), 1)
        assert roc_auc_score(y, proba, multi_class="ovr") > 0.85
        # train.calibration auto: a map only where its cross-validated log loss is lower
        cal = meta.calibration
        assert cal.rule == "auto" and cal.ece_before is not None and cal.cv_log_loss is not None
        from gitml.core.calibration import ISOTONIC_MIN_ROWS

        big = (meta.train_rows or 0) >= ISOTONIC_MIN_ROWS
        allowed = ("none", "isotonic", "sigmoid") if big else ("none", "sigmoid")
        assert cal.method == min(allowed, key=cal.cv_log_loss.__getitem__)
    written = (trained["dir"] / "model.json").read_text()
    assert f'"task": "{meta.task}"' in written


def test_a_regression_family_that_is_asked_for_is_the_one_trained(tmp_path: Path) -> None:
    schema_file = tmp_path / "schema.yaml"
    schema_file.write_text("columns: {}\n")
    space = {"linear": {"alpha": {"type": "float", "low": 0.01, "high": 10, "log": True}}}
    p = params(REGRESSION, schema_file, search_space=space, metric="neg_mean_absolute_error")
    train_df = tasks_data.diabetes()
    best = tune.run(p.tune, p.data, p.split, train_df, "h", tmp_path, show_progress=False)
    assert best.family == "linear" and 0.01 <= best.params["alpha"] <= 10
    result = train.run(p, train_df, best.summary, "h", tmp_path / "m.skops", tmp_path / "m.json")
    model = load_model(tmp_path / "m.skops", result.model_sha256)
    assert type(model.named_steps["model"]).__name__ == "Ridge"


def test_multiclass_out_of_fold_places_columns_by_class_code() -> None:
    # a fold without class 2 in its training rows still fills the right columns
    X = pd.DataFrame({"x": np.arange(12, dtype=float)})
    y = np.array([0, 1] * 5 + [2, 2])
    cols = dataset.columns_of(X)
    cv = [(np.arange(10), np.arange(10, 12)), (np.arange(2, 12), np.arange(2))]
    oof = train.out_of_fold(
        "logistic_regression", {}, X, y, cols, cv, 0, [], Task.MULTICLASS, n_classes=3
    )
    assert oof.shape == (12, 3)
    assert (oof[10:, 2] == 0).all() and np.allclose(oof[10:, :2].sum(axis=1), 1)
