"""train.calibration for a multiclass model: `auto` keeps the model as it is unless a map
(isotonic or sigmoid, one per class, as CalibratedClassifierCV fits them) lowers the
cross-validated log loss; explicit methods are applied; model.json records the choice; evaluate
reports the ECE before and after on test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from gitml.config import Params
from gitml.core import calibration
from gitml.core.model_io import load_model
from gitml.core.model_meta import ModelMeta
from gitml.pipeline import dataset, evaluate, split, train
from tests.unit.pipeline import tasks_data
from tests.unit.pipeline.tasks_data import MULTICLASS


def folds(y: np.ndarray, k: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
    return list(StratifiedKFold(k, shuffle=True, random_state=0).split(np.zeros(len(y)), y))


def drawn(sharpen: float, n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Classes drawn from softmax(logits); the model's logits are `sharpen` times the true ones
    (1: calibrated; above 1: over-confident)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, size=(n, 3))
    truth = softmax(logits, axis=1)
    y = np.array([rng.choice(3, p=p) for p in truth])
    return y, sharpen * logits


def test_auto_keeps_a_calibrated_model_as_it_is() -> None:
    y, response = drawn(1.0)
    choice = calibration.choose_multiclass(softmax(response, axis=1), response, y, folds(y))
    assert choice.method == "none"
    assert set(choice.log_loss) == {"none", "isotonic", "sigmoid"}
    assert choice.log_loss["none"] < min(choice.log_loss["isotonic"], choice.log_loss["sigmoid"])
    assert np.array_equal(choice.calibrated, softmax(response, axis=1))


def test_auto_calibrates_an_over_confident_model() -> None:
    y, response = drawn(4.0)
    choice = calibration.choose_multiclass(softmax(response, axis=1), response, y, folds(y))
    assert choice.method != "none"
    assert choice.log_loss[choice.method] == min(choice.log_loss.values())
    assert choice.log_loss[choice.method] < choice.log_loss["none"] - 0.1
    assert np.allclose(choice.calibrated.sum(axis=1), 1)


def test_auto_picks_isotonic_only_from_a_thousand_rows() -> None:
    """A distortion only a monotone step map undoes (the response is the true logit to the
    fifth power): isotonic has the lowest cross-validated log loss on 999 rows too, but there
    auto takes the best of the others (isotonic over-fits small sets; core.calibration)."""
    for n, expected in ((calibration.ISOTONIC_MIN_ROWS - 1, "sigmoid"), (3000, "isotonic")):
        y, logits = drawn(1.0, n=n, seed=2)
        response = np.sign(logits) * np.abs(logits) ** 5
        choice = calibration.choose_multiclass(softmax(response, axis=1), response, y, folds(y))
        assert choice.log_loss["isotonic"] == min(choice.log_loss.values()), n
        assert choice.method == expected, (n, choice.log_loss)


def test_a_fixed_method_is_applied_even_when_none_is_better() -> None:
    y, response = drawn(1.0)
    proba = softmax(response, axis=1)
    choice = calibration.choose_multiclass(proba, response, y, folds(y), fixed="isotonic")
    assert choice.method == "isotonic" and choice.log_loss["none"] < choice.log_loss["isotonic"]
    assert np.array_equal(choice.calibrated, calibration.cross_fit_classes(
        "isotonic", response, y, folds(y)))  # fmt: skip


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_the_maps_are_the_ones_calibrated_classifier_cv_fits(method: str) -> None:
    """Fitted on the out-of-fold decision function, the maps give CalibratedClassifierCV's
    probabilities (normalisation included), so the choice measures what train will serve."""
    X, y = make_classification(600, 8, n_informative=5, n_classes=4, random_state=0)
    cv = folds(y, 3)
    lr = LogisticRegression(C=0.01)
    response = cross_val_predict(lr, X, y, cv=cv, method="decision_function")
    maps = calibration.class_maps(method, response, y)  # type: ignore[arg-type]
    got = calibration.apply_class_maps(maps, lr.fit(X, y).decision_function(X))
    cal = CalibratedClassifierCV(LogisticRegression(C=0.01), method=method, cv=cv, ensemble=False)
    np.testing.assert_allclose(got, cal.fit(X, y).predict_proba(X), rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- train.run


def params(schema_file: Path, rule: str) -> Params:
    return Params.model_validate(
        {
            "data": MULTICLASS.model_dump(mode="json", exclude_unset=True),
            "validate": {"schema_file": str(schema_file)},
            "features": {"derived": []},
            "evaluate": {"slices": [], "permutation_repeats": 1},
            "train": {"cv_folds": 3, "calibration": rule},
        }
    )


def run(
    tmp_path: Path, rule: str, hyper: dict[str, Any], family: str = "logistic_regression"
) -> tuple[Params, Any, ModelMeta]:
    schema_file = tmp_path / "schema.yaml"
    schema_file.write_text("columns: {}\n")
    p = params(schema_file, rule)
    train_df, test_df = split.split(tasks_data.wine(), p.data, p.split)
    best = {"family": family, "params": hyper}
    result = train.run(p, train_df, best, "h", tmp_path / "model.skops", tmp_path / "model.json")
    meta = ModelMeta.read(tmp_path / "model.json")
    assert meta == result.metadata
    return p, test_df, meta


TINY_C = {"C": 0.001}  # wine's logistic regression squeezed towards uniform probabilities
HGB = "hist_gradient_boosting"


@pytest.mark.parametrize(
    ("rule", "family", "hyper", "method"),
    [
        # measured on wine's train split (142 rows), cross-validated log loss none / isotonic /
        # sigmoid: 0.123 / 1.144 / 0.202 for the trees; 0.940 / 0.859 / 0.160 for the tiny C
        ("auto", HGB, {}, "none"),  # kept as it is: a map would make it worse
        ("auto", "logistic_regression", TINY_C, "sigmoid"),  # under-confident: a map wins
        ("sigmoid", HGB, {}, "sigmoid"),
        ("isotonic", "logistic_regression", TINY_C, "isotonic"),
        ("none", "logistic_regression", TINY_C, "none"),
    ],
)
def test_train_records_the_multiclass_calibration(
    rule: str, family: str, hyper: dict[str, Any], method: str, tmp_path: Path
) -> None:
    p, test_df, meta = run(tmp_path, rule, hyper, family)
    cal = meta.calibration
    assert (cal.rule, cal.method, cal.ece_bins) == (rule, method, calibration.ECE_BINS)
    assert cal.ece_before is not None and 0 <= cal.ece_before < 1
    model = load_model(tmp_path / "model.skops", meta.model_sha256)  # the allowlist covers it
    last = model.steps[-1][1]
    assert isinstance(last, CalibratedClassifierCV) == (method != "none")
    if rule == "none":
        assert cal.ece_after is None and cal.cv_log_loss is None
        return
    losses = cal.cv_log_loss
    assert losses is not None and set(losses) == {"none", "isotonic", "sigmoid"}
    assert cal.ece_after is not None and 0 <= cal.ece_after < 1
    if rule == "auto":  # 142 train rows: isotonic is not a candidate (ISOTONIC_MIN_ROWS)
        assert method == min(("none", "sigmoid"), key=losses.__getitem__)
    if method == "none":
        assert cal.ece_after == cal.ece_before
    else:
        assert isinstance(last, CalibratedClassifierCV)
        assert last.method == method and last.cv == 3
        assert len(last.calibrated_classifiers_[0].calibrators) == len(meta.classes)
        X, _, _ = dataset.split_xy(test_df, p.data, p.split, meta.classes)
        proba = model.predict_proba(X)
        assert proba.shape == (len(X), 3) and np.allclose(proba.sum(axis=1), 1)


def test_evaluate_reports_the_ece_before_and_after_for_a_calibrated_model(
    tmp_path: Path,
) -> None:
    p, test_df, meta = run(tmp_path, "auto", TINY_C)
    assert meta.calibration.method == "sigmoid"
    out = tmp_path / "evaluate"
    result = evaluate.run(p, test_df, tmp_path / "model.skops", meta, out, tmp_path / "p.parquet")
    for key in ("ece", "ece_uncalibrated"):
        assert isinstance(result.metrics[key], float) and 0 <= result.metrics[key] <= 1
    # the squeezed model's own probabilities are far from calibrated; the map's are close
    assert result.metrics["ece"] < result.metrics["ece_uncalibrated"]
    assert "Calibration (sigmoid)" in (out / "evaluation.md").read_text()
