"""Model families: every family is one scikit-learn Pipeline with the same interface.

Fitted preprocessing (imputers, encoders, scalers) lives inside the Pipeline that is saved as
the model, so training and serving run the same code. A new family is a new `FamilySpec`.

A family serves one or more tasks (core.tasks), each with its own estimator behind the same
preprocessing: `hist_gradient_boosting` is the HistGradientBoosting classifier (binary,
multiclass) or regressor; `logistic_regression` classifies (multinomial for multiclass: lbfgs'
default); `linear` is Ridge regression on the logistic regression's preprocessing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from gitml.core.tasks import Task
from gitml.errors import DataError

# HistGradientBoosting's native categorical support allows at most 255 bins per feature.
_HGB_MAX_CATEGORIES = 250


@dataclass(frozen=True)
class Columns:
    numeric: list[str]
    categorical: list[str]

    @property
    def all(self) -> list[str]:
        return self.numeric + self.categorical


def _hgb(
    cols: Columns, params: dict[str, Any], seed: int, increasing: list[str], task: Task
) -> Pipeline:
    pre = ColumnTransformer(
        [
            ("num", "passthrough", cols.numeric),
            (
                "cat",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=np.nan,
                    encoded_missing_value=np.nan,
                    max_categories=_HGB_MAX_CATEGORIES,
                ),
                cols.categorical,
            ),
        ],
        verbose_feature_names_out=False,
    )
    n_num = len(cols.numeric)
    is_cat = [i >= n_num for i in range(len(cols.all))]
    # Monotonic constraints impose a business rule the data may not show (on Adult, forcing
    # "more capital gain never lowers P(>50K)" costs about 0.004 test ROC-AUC).
    monotonic = [1 if c in increasing else 0 for c in cols.all]
    regress = task is Task.REGRESSION
    model = (HistGradientBoostingRegressor if regress else HistGradientBoostingClassifier)(
        categorical_features=is_cat if any(is_cat) else None,
        monotonic_cst=monotonic if any(monotonic) else None,
        random_state=seed,
        **params,
    )
    return Pipeline([("preprocess", pre), ("model", model)])


def _linear_inputs(cols: Columns) -> ColumnTransformer:
    """Median-imputed, scaled numbers and one-hot categories (rare ones pooled)."""
    return ColumnTransformer(
        [
            (
                "num",
                Pipeline(
                    [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
                ),
                cols.numeric,
            ),
            (
                "cat",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
                        ("onehot", OneHotEncoder(handle_unknown="ignore", min_frequency=10)),
                    ]
                ),
                cols.categorical,
            ),
        ],
        verbose_feature_names_out=False,
    )


def _logreg(
    cols: Columns, params: dict[str, Any], seed: int, increasing: list[str], task: Task
) -> Pipeline:
    # Linear in every numeric input, so monotonic by construction; the direction is learnt.
    params = {"max_iter": 2000, **params}
    model = LogisticRegression(random_state=seed, **params)
    return Pipeline([("preprocess", _linear_inputs(cols)), ("model", model)])


def _ridge(
    cols: Columns, params: dict[str, Any], seed: int, increasing: list[str], task: Task
) -> Pipeline:
    # Linear, so monotonic by construction (as logistic regression); Ridge's default solver is
    # deterministic and takes no seed.
    return Pipeline([("preprocess", _linear_inputs(cols)), ("model", Ridge(**params))])


@dataclass(frozen=True)
class FamilySpec:
    # the estimator for each task the family serves
    estimators: dict[Task, type[BaseEstimator]]
    build: Callable[[Columns, dict[str, Any], int, list[str], Task], Pipeline]
    # Parameters fixed by gitml itself (seed, column layout) cannot be tuned.
    fixed: frozenset[str]

    def estimator(self, task: Task = Task.BINARY) -> type[BaseEstimator]:
        if task not in self.estimators:
            raise DataError(
                f"this model family does not serve a {task} target; families for it: "
                f"{', '.join(families_for(task))}"
            )
        return self.estimators[task]

    def tunable(self, task: Task = Task.BINARY) -> set[str]:
        return set(self.estimator(task)().get_params()) - self.fixed

    def defaults(self, task: Task = Task.BINARY) -> dict[str, Any]:
        return self.estimator(task)().get_params()


_CLASSIFY = (Task.BINARY, Task.MULTICLASS)
FAMILIES: dict[str, FamilySpec] = {
    "hist_gradient_boosting": FamilySpec(
        {
            **dict.fromkeys(_CLASSIFY, HistGradientBoostingClassifier),
            Task.REGRESSION: HistGradientBoostingRegressor,
        },
        _hgb,
        frozenset(
            {"random_state", "categorical_features", "monotonic_cst", "verbose", "warm_start"}
        ),
    ),
    "logistic_regression": FamilySpec(
        dict.fromkeys(_CLASSIFY, LogisticRegression),
        _logreg,
        frozenset({"random_state", "verbose", "warm_start", "n_jobs"}),
    ),
    "linear": FamilySpec({Task.REGRESSION: Ridge}, _ridge, frozenset({"random_state"})),
}


def families_for(task: Task) -> list[str]:
    """The families that serve `task`, in FAMILIES' order."""
    return [name for name, spec in FAMILIES.items() if task in spec.estimators]


def build(
    family: str,
    params: dict[str, Any],
    cols: Columns,
    seed: int,
    increasing: list[str] | tuple[str, ...] = (),
    task: Task = Task.BINARY,
) -> Pipeline:
    """One unfitted Pipeline for `task`; `increasing` names numeric inputs constrained to be
    monotonic."""
    wrong = sorted(set(increasing) - set(cols.numeric))
    if wrong:
        raise DataError(
            f"features.monotonic_increasing: {wrong} are not numeric input columns; "
            f"numeric columns are: {', '.join(cols.numeric)}"
        )
    FAMILIES[family].estimator(task)  # a family that does not serve the task: a clear error
    return FAMILIES[family].build(cols, dict(params), seed, list(increasing), task)


def columns_of(X: pd.DataFrame) -> Columns:
    numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
    categorical = [c for c in X.columns if c not in numeric]
    return Columns(numeric, categorical)
