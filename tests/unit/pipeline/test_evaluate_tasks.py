"""evaluate for a regression model (load_diabetes) and a multiclass one (load_wine, and a
generated table with string class names, categorical columns and missing values): the files
written agree with the model's own predictions and with scikit-learn, for the task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.datasets import load_diabetes, load_wine
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge

from gitml.config import Params
from gitml.core import models
from gitml.core.metrics import (
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    NEUTRAL,
    TASK_METRICS,
    TASK_SLICE_METRICS,
    direction,
)
from gitml.core.model_io import save_model
from gitml.core.model_meta import ModelMeta
from gitml.core.tasks import Task, class_names, encode_target
from gitml.io.files import read_json, read_parquet
from gitml.pipeline import evaluate

Case = tuple[Params, pd.DataFrame, Path, ModelMeta]


def _params(target: str, slices: list[str], task: str) -> Params:
    return Params.model_validate(
        {
            "data": {"target": target, "task": task},
            "evaluate": {
                "slices": slices,
                "permutation_repeats": 2,
                "top_features": 5,
                "min_slice_rows": 20,
            },
        }
    )


def _fit(family: str, train: pd.DataFrame, target: str, estimator: Any = None) -> Any:
    X = train.drop(columns=[target])
    model = models.build(family, {}, models.columns_of(X), seed=0)
    if estimator is not None:  # a regressor on the family's preprocessing
        model.steps[-1] = ("model", estimator)
    return model


def _save(model: Any, folder: Path, **meta: Any) -> tuple[Path, ModelMeta]:
    path = folder / "model.skops"
    return path, ModelMeta(model_sha256=save_model(model, path), **meta)


@pytest.fixture(scope="module")
def regression(tmp_path_factory: pytest.TempPathFactory) -> Case:
    frame = load_diabetes(as_frame=True, scaled=False).frame.rename(columns={"target": "progress"})
    frame["sex"] = frame["sex"].map({1.0: "f", 2.0: "m"})
    train, test = frame.iloc[:330], frame.iloc[330:].reset_index(drop=True)
    model = _fit("hist_gradient_boosting", train, "progress", HistGradientBoostingRegressor())
    y = encode_target(train["progress"], Task.REGRESSION)
    model.fit(train.drop(columns=["progress"]), y)
    path, meta = _save(
        model, tmp_path_factory.mktemp("reg"), task=Task.REGRESSION, family="hist_gradient_boosting"
    )
    return _params("progress", ["sex"], "regression"), test, path, meta


def _wine() -> pd.DataFrame:
    frame = load_wine(as_frame=True).frame
    names = np.array(["barbera", "barolo", "grignolino"])  # sorted: codes are their positions
    frame["cultivar"] = names[frame.pop("target").to_numpy()]
    rng = np.random.default_rng(0)
    frame["cellar"] = rng.choice(["north", "south"], len(frame))
    frame.loc[rng.random(len(frame)) < 0.1, "cellar"] = None  # a categorical with missing values
    frame.loc[rng.random(len(frame)) < 0.05, "magnesium"] = np.nan
    return frame.sample(frac=1.0, random_state=1).reset_index(drop=True)


@pytest.fixture(scope="module")
def multiclass(tmp_path_factory: pytest.TempPathFactory) -> Case:
    frame = _wine()
    train, test = frame.iloc[:110], frame.iloc[110:].reset_index(drop=True)
    classes = class_names(train["cultivar"])
    model = _fit("logistic_regression", train, "cultivar")
    model.fit(
        train.drop(columns=["cultivar"]),
        encode_target(train["cultivar"], Task.MULTICLASS, classes=classes),
    )
    path, meta = _save(
        model,
        tmp_path_factory.mktemp("mc"),
        task=Task.MULTICLASS,
        classes=classes,
        family="logistic_regression",
    )
    return _params("cultivar", ["cellar"], "multiclass"), test, path, meta


def _run(case: Case, tmp_path: Path, recent: bool = False) -> tuple[Path, Any]:
    p, test, path, meta = case
    out = tmp_path / "evaluate"
    result = evaluate.run(
        p, test, path, meta, out, tmp_path / "p.parquet", recent=test.iloc[:30] if recent else None
    )
    return out, result


def test_regression_metrics_match_the_models_predictions(regression: Case, tmp_path: Path) -> None:
    out, result = _run(regression, tmp_path)
    written = read_json(out / "metrics.json")
    assert written == result.metrics
    preds = read_parquet(tmp_path / "p.parquet")
    y = regression[1]["progress"].to_numpy()
    assert preds["y_true"].tolist() == y.tolist()  # the raw targets, as numbers
    assert written["rmse"] == pytest.approx(
        skm.root_mean_squared_error(y, preds["prediction"]), abs=1e-6
    )
    assert written["mae"] == pytest.approx(
        skm.mean_absolute_error(y, preds["prediction"]), abs=1e-6
    )
    assert written["r2"] == pytest.approx(skm.r2_score(y, preds["prediction"]), abs=1e-6)
    assert written["mape"] > 0  # no target of load_diabetes is zero
    assert 0.2 < written["r2"] < 0.7  # a real model: better than the mean, far from perfect
    assert result.summary == f"rmse {written['rmse']:.4f}, mae {written['mae']:.4f}"
    assert not {"roc_auc", "ece", "threshold", "confusion"} & set(written)


def test_regression_plots_slices_and_report(regression: Case, tmp_path: Path) -> None:
    out, result = _run(regression, tmp_path)
    plots = out / "plots" / "sklearn"
    preds = read_parquet(tmp_path / "p.parquet")
    residuals = read_json(plots / "residuals.json")["residuals"]
    assert len(residuals) == len(preds)
    assert residuals[0]["residual"] == pytest.approx(
        preds["y_true"][0] - preds["prediction"][0], abs=1e-5
    )
    assert len(read_json(plots / "predicted_actual.json")["predicted_actual"]) == len(preds)
    assert read_json(plots / "roc.json") == {"roc": []}  # declared in dvc.yaml, no meaning here
    curve = read_json(plots / "calibration.json")["calibration"]
    assert 2 <= len(curve) <= 10
    sex = result.slices["columns"]["sex"]
    for value, m in sex["values"].items():
        mask = (regression[1]["sex"] == value).to_numpy()
        err = preds["prediction"][mask] - preds["y_true"][mask]
        assert m["rmse"] == pytest.approx(float(np.sqrt((err**2).mean())), abs=1e-6)
        assert m["rows"] == mask.sum() and m["ranked"]
    assert set(sex["gap"]) == set(TASK_SLICE_METRICS["regression"])
    importance = pd.read_csv(out / "importance.csv")
    assert importance["importance"].iloc[0] > 0  # shuffling the top feature raises the RMSE
    text = (out / "evaluation.md").read_text()
    assert "| rmse (lower is better) |" in text and "RMSE increase" in text
    assert "threshold" not in text


def test_mape_is_left_out_when_a_target_is_zero(regression: Case, tmp_path: Path) -> None:
    p, test, path, meta = regression
    zero = test.assign(progress=test["progress"].where(test.index != 0, 0.0))
    out, _ = _run((p, zero, path, meta), tmp_path)
    assert "mape" not in read_json(out / "metrics.json")
    assert "| mape | - (a target is zero: undefined) |" in (out / "evaluation.md").read_text()


def test_multiclass_metrics_match_the_models_probabilities(
    multiclass: Case, tmp_path: Path
) -> None:
    _, test, _, meta = multiclass
    out, result = _run(multiclass, tmp_path)
    written = read_json(out / "metrics.json")
    preds = read_parquet(tmp_path / "p.parquet")
    proba = preds[[f"proba_{c}" for c in meta.classes]].to_numpy()
    y = encode_target(test["cultivar"], Task.MULTICLASS, classes=meta.classes)
    assert preds["y_true"].tolist() == y.tolist()
    assert preds["label"].tolist() == proba.argmax(axis=1).tolist()
    assert written["roc_auc_ovr"] == pytest.approx(
        skm.roc_auc_score(y, proba, multi_class="ovr"), abs=1e-6
    )
    assert written["balanced_accuracy"] == pytest.approx(
        skm.balanced_accuracy_score(y, preds["label"]), abs=1e-6
    )
    assert written["f1_weighted"] == pytest.approx(
        skm.f1_score(y, preds["label"], average="weighted"), abs=1e-6
    )
    assert written["log_loss"] == pytest.approx(skm.log_loss(y, proba), abs=1e-6)
    assert written["accuracy"] > 0.9  # wine is easy for a linear model
    assert list(written["per_class"]) == ["barbera", "barolo", "grignolino"]
    assert sum(m["rows"] for m in written["per_class"].values()) == len(test)
    assert np.array(written["confusion"]["matrix"]).sum() == len(test)
    assert written["ece_uncalibrated"] is None and 0 <= written["ece"] <= 1
    assert result.summary.startswith("roc_auc_ovr ")


def test_multiclass_plots_slices_and_report(multiclass: Case, tmp_path: Path) -> None:
    _, test, _, meta = multiclass
    out, result = _run(multiclass, tmp_path)
    plots = out / "plots" / "sklearn"
    rows = read_json(plots / "confusion_matrix.json")["confusion_matrix"]
    assert [r["actual"] for r in rows] == test["cultivar"].tolist()  # the class names
    assert {r["predicted"] for r in rows} <= set(meta.classes)
    roc = read_json(plots / "roc.json")["roc"]
    assert roc[0]["fpr"] == 0 and roc[-1]["tpr"] == 1
    cellar = result.slices["columns"]["cellar"]
    assert set(cellar["values"]) == {"north", "south", "(missing)"}
    small = cellar["values"]["(missing)"]
    assert small["rows"] < 20 and small["ranked"] is False
    text = (out / "evaluation.md").read_text()
    assert "| **barolo** |" in text and "one-vs-rest ROC-AUC drop" in text
    assert "multiclass, 3 classes" in text


@pytest.mark.parametrize("case", ["regression", "multiclass"])
def test_every_number_written_has_a_direction(
    case: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The extension of test_evaluate's check to the other tasks: the report, the gate and the
    site read gitml.core.metrics for which way is better."""
    from tests.unit.pipeline.test_evaluate import _leaf_names

    out, _ = _run(request.getfixturevalue(case), tmp_path, recent=True)
    names: set[str] = set()
    for file in ("metrics.json", "slices.json", "recent.json"):
        names |= _leaf_names(read_json(out / file))
    assert set(TASK_METRICS[case]) - {"mape"} <= names
    assert {n for n in names if direction(n) is None} == set()
    assert not (
        LOWER_IS_BETTER & HIGHER_IS_BETTER or NEUTRAL & (LOWER_IS_BETTER | HIGHER_IS_BETTER)
    )


# --------------------------------------------------------------------------- behaviour


@pytest.mark.parametrize("case", ["regression", "multiclass"])
def test_row_order_does_not_change_predictions(
    case: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The model's output for a row does not depend on the rows around it, and what evaluate
    logged is what the model says."""
    from gitml.core.model_io import load_model
    from gitml.pipeline import dataset, evaluate_tasks

    p, test, path, meta = request.getfixturevalue(case)
    _run((p, test, path, meta), tmp_path)
    model = load_model(path, expected_sha256=meta.model_sha256)
    X, _, _ = dataset.split_xy(test, p.data, p.split, meta.classes or None)
    out = evaluate_tasks.predict(model, X, meta.task)
    order = np.random.default_rng(0).permutation(len(X))
    shuffled = evaluate_tasks.predict(model, X.iloc[order].reset_index(drop=True), meta.task)
    assert np.array_equal(shuffled, out[order])
    logged = read_parquet(tmp_path / "p.parquet")
    column = (
        ["prediction"] if meta.task is Task.REGRESSION else [f"proba_{c}" for c in meta.classes]
    )
    assert np.array_equal(logged[column].to_numpy().squeeze(), out)


def test_a_linear_regressor_is_evaluated_too(regression: Case, tmp_path: Path) -> None:
    p, test, _, _ = regression
    frame = load_diabetes(as_frame=True, scaled=False).frame.rename(columns={"target": "progress"})
    frame["sex"] = frame["sex"].map({1.0: "f", 2.0: "m"})
    train = frame.iloc[:330]
    model = _fit("logistic_regression", train, "progress", Ridge())
    model.fit(train.drop(columns=["progress"]), train["progress"].to_numpy())
    path, meta = _save(model, tmp_path, task=Task.REGRESSION, family="linear")
    _, result = _run((p, test, path, meta), tmp_path)
    assert result.metrics["r2"] > 0.3


@pytest.mark.parametrize("case", ["regression", "multiclass"])
def test_a_model_of_another_task_than_data_task_is_refused(
    case: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The target is encoded by data.task: a model trained for another task (params changed,
    train not rerun) is refused instead of scored against the wrong kind of target."""
    from gitml.errors import DataError

    p, test, path, meta = request.getfixturevalue(case)
    other = "multiclass" if case == "regression" else "regression"
    stale = p.model_copy(update={"data": p.data.model_copy(update={"task": Task(other)})})
    with pytest.raises(
        DataError, match=f"a {case} model \\(model.json\\) but data.task is {other}"
    ):
        _run((stale, test, path, meta), tmp_path)
    assert not (tmp_path / "evaluate").exists()  # nothing written
