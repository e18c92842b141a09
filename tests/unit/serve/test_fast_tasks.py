"""The fast path for regression and multiclass models gives the Pipeline's numbers, or refuses.

HistGradientBoosting (regressor, multiclass classifier) and the linear families (Ridge,
multinomial LogisticRegression) as gitml.core.models shapes them, fitted on load_diabetes,
load_wine and a generated table with categorical columns, missing values and string class
names (tests/task_models.py); compared with the Pipeline on every row of the table and on rows
with missing values, unseen categories and extreme numbers: one row at a time (treelite's GTIL
for the trees), in small and large batches (scikit-learn's trees above 32 rows) and as a frame.
"""

from __future__ import annotations

import copy
import logging
import warnings
from typing import Any

import numpy as np
import pytest
from sklearn.tree import DecisionTreeRegressor

from gitml.core.model_meta import ModelMeta
from gitml.core.tasks import Task
from gitml.errors import DataError
from gitml.serve import fast
from gitml.serve.predictor import Predictor
from gitml.serve.requests import to_frame
from gitml.serve.resolve import ResolvedModel
from tests.helpers import hostile_rows
from tests.task_models import DATASETS, FAMILIES, pipeline_output, rows_of, served, table

CASES = [(d, f) for d in DATASETS for f in FAMILIES]


@pytest.fixture(scope="module", params=CASES, ids=lambda c: "-".join(c))
def model(request: pytest.FixtureRequest) -> ResolvedModel:
    return served(*request.param)


def test_compiled_output_equals_the_pipeline(model: ResolvedModel) -> None:
    name = model.version.split("-hist")[0].split("-linear")[0]
    rows = rows_of(table(name))
    rows += hostile_rows(model.specs, rows[:200], nulls_everywhere=True)
    compiled = fast.compile_model(model.model, model.specs, model.derived)
    assert isinstance(compiled, fast.FastModel), compiled
    expected = pipeline_output(model, rows)
    with warnings.catch_warnings():
        # treelite's NaN-to-int cast warnings of category sets must not reach the caller
        warnings.simplefilter("error")
        one_by_one = np.array([compiled.proba_rows([r])[0] for r in rows[:300]])
        small = np.concatenate([compiled.proba_rows(rows[i : i + 16]) for i in range(0, 288, 16)])
        batch = compiled.proba_rows(rows)
        frame = compiled.proba_frame(to_frame(rows, model.specs))
    for got in (one_by_one, small, batch[:300]):
        assert got.shape == expected[: len(got)].shape
        assert fast.difference(got, expected[: len(got)]) <= fast.TOLERANCE
    assert fast.difference(batch, expected) <= fast.TOLERANCE
    assert fast.difference(frame, expected) <= fast.TOLERANCE
    if compiled.family == "hist_gradient_boosting":  # the trees summed in scikit-learn's order
        assert np.array_equal(one_by_one, expected[:300])
        assert np.array_equal(batch, expected)


def test_the_output_follows_the_task(model: ResolvedModel) -> None:
    predictor = Predictor.prepare(model)
    assert predictor.fast is not None, predictor.message
    rows = [model.example] * 3
    out = predictor.proba_rows(rows)
    if model.metadata.task is Task.REGRESSION:
        assert out.shape == (3,)
        np.testing.assert_allclose(out, model.model.predict(to_frame(rows, model.specs)))
    else:
        k = len(model.metadata.classes)
        assert out.shape == (3, k) and k == 3
        np.testing.assert_allclose(out.sum(axis=1), 1.0)
        # columns in `classes` order: the argmax is the Pipeline's predicted class code
        predicted = model.model.predict(to_frame(rows, model.specs)[model.feature_order])
        assert np.array_equal(np.argmax(out, axis=1), predicted)


def test_a_multiclass_scorer_that_swaps_classes_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    resolved = served("mixed-multiclass", "hist_gradient_boosting")
    right = fast.hgb_scorer

    def swapped(*args: Any) -> Any:
        score, order = right(*args)
        return (lambda x: score(x)[:, [1, 0, 2]]), order

    monkeypatch.setattr(fast, "hgb_scorer", swapped)
    with pytest.raises(DataError, match="differs from the model's Pipeline"):
        Predictor.prepare(resolved)


def test_a_regressor_it_cannot_compile_is_served_by_the_pipeline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    resolved = served("mixed-regression", "linear")
    odd = ResolvedModel(**{**resolved.__dict__, "model": copy.deepcopy(resolved.model)})
    odd.model.steps[1] = ("model", DecisionTreeRegressor(random_state=0))
    t = table("mixed-regression")
    odd.model.fit(to_frame(rows_of(t), t.specs)[odd.feature_order], t.frame["target"])
    with caplog.at_level(logging.WARNING, logger="gitml.serve.fast"):
        predictor = Predictor.prepare(odd)
    assert predictor.fast is None
    assert "through the scikit-learn Pipeline: estimator DecisionTreeRegressor" in caplog.text
    rows = [*rows_of(t, 50), {"x1": None, "x2": 3.0, "colour": "mauve", "shape": None}]
    assert np.array_equal(predictor.proba_rows(rows), pipeline_output(odd, rows))


def test_model_json_must_say_the_models_task() -> None:
    resolved = served("wine", "linear")
    wrong = ModelMeta(model_sha256="0" * 64, task=Task.REGRESSION)
    with pytest.raises(DataError, match="says task regression but the model file is a multiclass"):
        Predictor(ResolvedModel(**{**resolved.__dict__, "metadata": wrong}))
    two = ModelMeta(model_sha256="0" * 64, task=Task.MULTICLASS, classes=["a", "b"])
    with pytest.raises(DataError, match="names 2 classes"):
        Predictor(ResolvedModel(**{**resolved.__dict__, "metadata": two}))


def test_difference_is_absolute_for_probabilities_and_relative_above_one() -> None:
    assert fast.difference(np.array([0.5]), np.array([0.5 + 2e-12])) == pytest.approx(2e-12)
    assert fast.difference(np.array([2e9]), np.array([2e9 + 4.8e-7])) < 1e-15
    assert fast.difference(np.array([1e3]), np.array([1e3 + 1e-6])) > fast.TOLERANCE
    same = np.array([np.inf, np.nan, -np.inf])
    assert fast.difference(same, same.copy()) == 0.0
    assert fast.difference(np.array([np.nan]), np.array([1.0])) == np.inf


@pytest.mark.parametrize("loss", ["poisson", "gamma", "absolute_error", "quantile"])
def test_other_regression_losses_go_through_their_own_link(loss: str) -> None:
    """poisson and gamma predict exp(raw) (their log link), the others raw: the model's own
    `link.inverse`, so a tuned loss keeps the fast path and its numbers."""
    base = served("mixed-regression", "hist_gradient_boosting")
    t = table("mixed-regression")
    X = to_frame(rows_of(t), t.specs)[base.feature_order]
    extra = {"model__quantile": 0.8} if loss == "quantile" else {}
    model = copy.deepcopy(base.model).set_params(model__loss=loss, **extra)
    model.fit(X, t.frame["target"])
    resolved = ResolvedModel(**{**base.__dict__, "model": model})
    predictor = Predictor.prepare(resolved)
    assert predictor.fast is not None, predictor.message
    rows = hostile_rows(resolved.specs, rows_of(t, 100), nulls_everywhere=True)
    got = np.array([predictor.proba_rows([r])[0] for r in rows])
    assert np.array_equal(got, pipeline_output(resolved, rows))
