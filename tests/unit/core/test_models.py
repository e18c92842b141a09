"""models: every family is one scikit-learn Pipeline, fitted preprocessing inside it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from gitml.config import DataConfig, SplitConfig
from gitml.core import models
from gitml.core.tasks import Task
from gitml.errors import DataError
from gitml.pipeline import dataset

DATA = DataConfig()
FAST: dict[str, dict[str, Any]] = {
    "hist_gradient_boosting": {"max_iter": 15},
    "logistic_regression": {"C": 1.0},
}


@pytest.fixture(scope="module")
def xy(adult_sample: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, models.Columns]:
    return dataset.split_xy(adult_sample, DATA, SplitConfig())


def test_split_xy_label_and_columns(adult_sample: pd.DataFrame) -> None:
    X, y, cols = dataset.split_xy(adult_sample, DATA, SplitConfig())
    assert "income" not in X.columns
    assert y.dtype == np.int64
    assert set(np.unique(y)) == {0, 1}
    assert y.sum() == (adult_sample["income"] == ">50K").sum()
    assert cols.numeric == [
        "age",
        "education_num",
        "capital_gain",
        "capital_loss",
        "hours_per_week",
    ]
    assert "workclass" in cols.categorical
    assert cols.all == cols.numeric + cols.categorical
    assert sorted(cols.all) == sorted(X.columns)


def test_split_xy_leaves_out_group_and_time_columns() -> None:
    df = pd.DataFrame(
        {
            "household": ["a", "b"],
            "when": [1.0, 2.0],
            "x": [0.5, 0.7],
            "income": [">50K", "<=50K"],
        }
    )
    # config names are normalised like column names
    X, y, cols = dataset.split_xy(df, DATA, SplitConfig(group_column="Household"))
    assert list(X.columns) == ["when", "x"]
    X, y, cols = dataset.split_xy(df, DATA, SplitConfig(time_column="when"))
    assert list(X.columns) == ["household", "x"]
    assert cols == models.Columns(["x"], ["household"])
    assert y.tolist() == [1, 0]


def test_positive_class_decides_the_label() -> None:
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "income": ["yes", "no", "yes"]})
    _, y, _ = dataset.split_xy(df, DataConfig(positive_class="no"), SplitConfig())
    assert y.tolist() == [0, 1, 0]


@pytest.mark.parametrize("family", sorted(models.families_for(Task.BINARY)))
def test_each_family_fits_and_predicts_probabilities(
    family: str, xy: tuple[pd.DataFrame, np.ndarray, models.Columns]
) -> None:
    X, y, cols = xy
    model = models.build(family, FAST[family], cols, seed=0)
    assert isinstance(model, Pipeline)
    model.fit(X.iloc[:1500], y[:1500])
    proba = model.predict_proba(X.iloc[1500:])
    assert proba.shape == (500, 2)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert ((proba >= 0) & (proba <= 1)).all()
    # better than chance on held-out rows (Adult is an easy problem: AUC ≈ 0.9)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y[1500:], proba[:, 1]) > 0.8

    # a serving request with an unseen category and missing values still gets a score
    odd = X.iloc[1500:1502].copy()
    odd.loc[odd.index[0], "workclass"] = "Astronaut"
    odd.loc[odd.index[1], ["age", "occupation"]] = [np.nan, np.nan]
    assert np.isfinite(model.predict_proba(odd)).all()


@pytest.mark.parametrize("family", sorted(models.families_for(Task.BINARY)))
def test_same_seed_same_model(
    family: str, xy: tuple[pd.DataFrame, np.ndarray, models.Columns]
) -> None:
    X, y, cols = xy
    X, y = X.iloc[:800], y[:800]
    a = models.build(family, FAST[family], cols, seed=3).fit(X, y).predict_proba(X)
    b = models.build(family, FAST[family], cols, seed=3).fit(X, y).predict_proba(X)
    assert np.array_equal(a, b)


def test_params_reach_the_estimator_and_are_not_mutated() -> None:
    cols = models.Columns(["a"], ["b"])
    params = {"max_iter": 7, "learning_rate": 0.3}
    model = models.build("hist_gradient_boosting", params, cols, seed=5)
    est = model.named_steps["model"]
    assert (est.max_iter, est.learning_rate, est.random_state) == (7, 0.3, 5)
    assert params == {"max_iter": 7, "learning_rate": 0.3}
    assert est.categorical_features == [False, True]

    lr = models.build("logistic_regression", {"C": 0.25}, cols, seed=1).named_steps["model"]
    assert (lr.C, lr.random_state) == (0.25, 1)


def test_tunable_parameters_exclude_what_gitml_fixes() -> None:
    hgb = models.FAMILIES["hist_gradient_boosting"].tunable()
    assert {"learning_rate", "max_iter", "max_leaf_nodes", "l2_regularization"} <= hgb
    assert not {"random_state", "categorical_features"} & hgb
    lr = models.FAMILIES["logistic_regression"].tunable()
    assert "C" in lr
    assert "random_state" not in lr
    # per task: the regressor has no class weights, the classifier no quantile
    hgb_reg = models.FAMILIES["hist_gradient_boosting"].tunable(Task.REGRESSION)
    assert "quantile" in hgb_reg and "class_weight" not in hgb_reg and "quantile" not in hgb
    assert "alpha" in models.FAMILIES["linear"].tunable(Task.REGRESSION)


def test_families_per_task() -> None:
    assert models.families_for(Task.BINARY) == ["hist_gradient_boosting", "logistic_regression"]
    assert models.families_for(Task.MULTICLASS) == models.families_for(Task.BINARY)
    assert models.families_for(Task.REGRESSION) == ["hist_gradient_boosting", "linear"]
    cols = models.Columns(["a"], ["b"])
    reg = models.build("hist_gradient_boosting", {}, cols, 0, task=Task.REGRESSION)
    assert type(reg.named_steps["model"]).__name__ == "HistGradientBoostingRegressor"
    ridge = models.build("linear", {"alpha": 2.0}, cols, 0, task=Task.REGRESSION)
    assert ridge.named_steps["model"].alpha == 2.0
    with pytest.raises(
        DataError,
        match="does not serve a regression target; families for it: hist_gradient_boosting, linear",
    ):
        models.build("logistic_regression", {}, cols, 0, task=Task.REGRESSION)
    with pytest.raises(DataError, match="does not serve a binary target"):
        models.build("linear", {}, cols, 0)


def test_columns_of_by_dtype() -> None:
    X = pd.DataFrame(
        {"n": [1.0], "i": [1], "s": pd.Series(["a"], dtype="str"), "o": pd.Series(["a"])}
    )
    assert models.columns_of(X) == models.Columns(["n", "i"], ["s", "o"])


def test_monotonic_increasing_never_lowers_the_probability(
    xy: tuple[pd.DataFrame, np.ndarray, models.Columns],
) -> None:
    X, y, cols = xy
    model = models.build(
        "hist_gradient_boosting", {"max_iter": 30}, cols, seed=0, increasing=["capital_gain"]
    ).fit(X, y)
    grid = np.array([0, 500, 2000, 5000, 7500, 10000, 15000, 30000, 99999], dtype=float)
    rows = X.iloc[:25]
    probe = rows.loc[rows.index.repeat(len(grid))].copy()
    probe["capital_gain"] = np.tile(grid, len(rows))
    p = model.predict_proba(probe)[:, 1].reshape(len(rows), len(grid))
    assert (np.diff(p, axis=1) >= -1e-12).all()
    assert (p[:, -1] > p[:, 0]).any()  # the constraint allows it to rise


def test_monotonic_constraint_on_a_text_column_is_refused() -> None:
    cols = models.Columns(["age"], ["workclass"])
    with pytest.raises(DataError, match="workclass"):
        models.build("hist_gradient_boosting", {}, cols, seed=0, increasing=["workclass"])
