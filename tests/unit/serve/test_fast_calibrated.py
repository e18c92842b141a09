"""The fast path for a calibrated multiclass model (train.calibration: CalibratedClassifierCV,
ensemble=False, one calibrator per class): compiled, and equal to the Pipeline within 1e-12 on
every row of the table and on rows with missing values, unseen categories and extreme numbers,
one row at a time, in small and large batches and as a frame; the normalisation (zero sums
included) is scikit-learn's."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV, _CalibratedClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from gitml.core.tasks import Task, encode_target
from gitml.pipeline.train import calibrate
from gitml.serve import fast
from gitml.serve.predictor import Predictor
from gitml.serve.requests import to_frame
from gitml.serve.resolve import ResolvedModel
from gitml.serve.scorers import calibrated_classes
from tests.helpers import hostile_rows
from tests.task_models import TARGET, pipeline_output, rows_of, served, table

CASES = [
    (data, family, method)
    for data in ("wine", "mixed-multiclass")
    for family in ("hist_gradient_boosting", "linear")
    for method in ("isotonic", "sigmoid")
]


def calibrated_model(data: str, family: str, method: str) -> ResolvedModel:
    """`served`'s multiclass model, calibrated as train.calibrate does."""
    base = served(data, family)
    t = table(data)
    X = to_frame(rows_of(t), t.specs)[base.feature_order]
    y = encode_target(t.frame[TARGET], Task.MULTICLASS, classes=base.metadata.classes)
    cv = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    model = calibrate(base.model, method, X, y, cv)
    return ResolvedModel(**{**base.__dict__, "model": model})


@pytest.fixture(scope="module", params=CASES, ids=lambda c: "-".join(c))
def model(request: pytest.FixtureRequest) -> ResolvedModel:
    return calibrated_model(*request.param)


def test_a_calibrated_multiclass_model_compiles_to_the_pipelines_numbers(
    model: ResolvedModel,
) -> None:
    last = model.model.steps[-1][1]
    assert isinstance(last, CalibratedClassifierCV)
    assert len(last.calibrated_classifiers_[0].calibrators) == 3  # one per class
    rows = rows_of(table(model.version.split("-hist")[0].split("-linear")[0]))
    rows += hostile_rows(model.specs, rows[:200], nulls_everywhere=True)
    compiled = fast.compile_model(model.model, model.specs, model.derived)
    assert isinstance(compiled, fast.FastModel), compiled
    expected = pipeline_output(model, rows)
    assert expected.shape == (len(rows), 3)
    one_by_one = np.array([compiled.proba_rows([r])[0] for r in rows[:300]])
    small = np.concatenate([compiled.proba_rows(rows[i : i + 16]) for i in range(0, 288, 16)])
    batch = compiled.proba_rows(rows)
    frame = compiled.proba_frame(to_frame(rows, model.specs))
    for got in (one_by_one, small, batch, frame):
        assert got.shape == expected[: len(got)].shape
        assert fast.difference(got, expected[: len(got)]) <= fast.TOLERANCE
    np.testing.assert_allclose(batch.sum(axis=1), 1.0)


def test_the_load_check_passes_and_serves_it_fast(model: ResolvedModel) -> None:
    predictor = Predictor.prepare(model)
    assert predictor.fast is not None, predictor.message
    assert "fast path on" in predictor.message


def test_normalisation_is_scikit_learns_zero_sums_included() -> None:
    """Isotonic maps that all give 0 below a decision value of 2: such a row is uniform, as
    `_CalibratedClassifier.predict_proba` makes it; the others are divided by their sum."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = rng.integers(0, 3, size=300)
    lr = LogisticRegression().fit(X, y)
    maps = [
        IsotonicRegression(out_of_bounds="clip").fit([1.0, 2.0, 2.5, 3.0], [0, 0, 0.3, 1])
        for _ in range(3)
    ]
    probe = np.vstack([X / 10, X * 20])  # small rows: every map gives 0
    expected = _CalibratedClassifier(lr, maps, classes=lr.classes_, method="isotonic")
    want = expected.predict_proba(probe)
    got = calibrated_classes(maps, lr.decision_function)(probe)
    uniform = (want == 1 / 3).all(axis=1)
    assert uniform[:300].all() and not uniform[300:].all()  # both cases are exercised
    assert np.array_equal(got, want)
