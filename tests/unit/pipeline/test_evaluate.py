"""evaluate: test metrics and slice metrics, checked against values worked out by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gitml.config import Params
from gitml.core import features, models
from gitml.core.calibration import expected_calibration_error
from gitml.core.metrics import compute_metrics
from gitml.core.model_io import save_model
from gitml.core.model_meta import ModelMeta
from gitml.errors import DataError
from gitml.io.files import read_json, read_parquet
from gitml.pipeline import dataset, evaluate

# 8 rows. Negatives score 0.1 0.2 0.3 0.6; positives 0.4 0.7 0.8 0.9.
Y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
S = np.array([0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9])


def test_compute_metrics_by_hand() -> None:
    m = compute_metrics(Y, S, threshold=0.5)
    # at 0.5: predicted positive = 0.6 (a negative) and 0.7 0.8 0.9 → tp 3, fp 1, fn 1 (0.4), tn 3
    assert m["confusion"] == {"tn": 3, "fp": 1, "fn": 1, "tp": 3}
    assert m["accuracy"] == 0.75
    assert m["precision"] == 0.75
    assert m["recall"] == 0.75
    assert m["f1"] == 0.75
    # AUC: 16 positive/negative pairs; only (0.4 vs 0.6) is ordered wrongly → 15/16
    assert m["roc_auc"] == 0.9375
    # AP: ranked 0.9+ 0.8+ 0.7+ 0.6- 0.4+ → precisions at the positives 1, 1, 1, 4/5 → mean 0.95
    assert m["pr_auc"] == pytest.approx(0.95, abs=1e-6)
    # Brier: negatives .01+.04+.09+.36, positives .36+.09+.04+.01 → 1.0 / 8
    assert m["brier"] == pytest.approx(0.125, abs=1e-6)
    # log loss: -(2·ln .9 + 2·ln .8 + 2·ln .7 + 2·ln .4) / 8
    expected = -2 * (math.log(0.9) + math.log(0.8) + math.log(0.7) + math.log(0.4)) / 8
    assert m["log_loss"] == pytest.approx(expected, abs=1e-6)
    assert m["threshold"] == 0.5
    assert m["rows"] == 8


def test_a_score_equal_to_the_threshold_is_positive() -> None:
    m = compute_metrics(Y, S, threshold=0.4)
    # 0.4 itself is predicted positive: all 4 positives caught, 0.6 still a false positive
    assert m["confusion"] == {"tn": 3, "fp": 1, "fn": 0, "tp": 4}
    assert m["recall"] == 1.0


def test_metrics_are_rounded_to_six_places() -> None:
    m = compute_metrics(np.array([0, 1, 1]), np.array([0.2, 0.7, 0.1]), 0.5)
    assert m["precision"] == 1.0
    assert m["recall"] == 0.5
    assert m["f1"] == pytest.approx(2 / 3, abs=1e-6)
    assert m["f1"] == round(m["f1"], 6)
    assert m["roc_auc"] == 0.5


def slice_frame() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    frame = pd.DataFrame(
        {
            "gender": ["F", "M", "F", "M", "F", "M", "F", "M"],
            "race": pd.Series(["A", "A", "B", "B", "B", None, "B", "B"], dtype="str"),
        }
    )
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.75, 0.4, 0.7, 0.8, 0.9])
    return frame, y, s


def test_slice_metrics_by_hand() -> None:
    frame, y, s = slice_frame()
    out = evaluate.slice_metrics(frame, y, s, 0.5, ["gender"], min_rows=4)
    g = out["columns"]["gender"]
    # F: y 0 0 1 1, s .1 .3 .4 .8 → AUC 4/4; recall at .5: .8 yes, .4 no → 1/2
    assert g["values"]["F"] == {
        "rows": 4,
        "positive_rate": 0.5,
        "roc_auc": 1.0,
        "recall": 0.5,
        "ranked": True,
    }
    # M: y 0 0 1 1, s .2 .75 .7 .9 → pairs (.7>.2) (.7<.75) (.9>.2) (.9>.75) → 3/4; recall 2/2
    assert g["values"]["M"] == {
        "rows": 4,
        "positive_rate": 0.5,
        "roc_auc": 0.75,
        "recall": 1.0,
        "ranked": True,
    }
    assert g["gap"] == {
        "roc_auc": {"gap": 0.25, "min": "M", "max": "F"},
        "recall": {"gap": 0.5, "min": "F", "max": "M"},
    }
    assert out["max_gap"] == 0.5


def test_small_and_one_class_slices_are_listed_not_ranked() -> None:
    frame, y, s = slice_frame()
    out = evaluate.slice_metrics(frame, y, s, 0.5, ["race"], min_rows=2)
    values = out["columns"]["race"]["values"]
    assert set(values) == {"A", "B", "(missing)"}
    # A: two negatives → no AUC, no recall, not ranked however many rows it had
    assert values["A"] == {
        "rows": 2,
        "positive_rate": 0.0,
        "roc_auc": None,
        "recall": None,
        "ranked": False,
    }
    # missing race is its own slice: one positive scored .7 → recall 1, no AUC
    assert values["(missing)"]["rows"] == 1
    assert values["(missing)"]["recall"] == 1.0
    assert values["(missing)"]["roc_auc"] is None
    # B: y 0 0 1 1 1, s .3 .75 .4 .8 .9 → AUC (1+2+2)/6; recall 2/3
    assert values["B"]["roc_auc"] == pytest.approx(5 / 6, abs=1e-6)
    assert values["B"]["recall"] == pytest.approx(2 / 3, abs=1e-6)
    assert values["B"]["ranked"] is True
    # only one ranked slice: no gap to report
    assert out["columns"]["race"]["gap"] == {}
    assert out["max_gap"] is None

    strict = evaluate.slice_metrics(frame, y, s, 0.5, ["gender"], min_rows=5)
    assert not any(v["ranked"] for v in strict["columns"]["gender"]["values"].values())
    assert strict["max_gap"] is None


# --------------------------------------------------------------------------- run


@pytest.fixture(scope="module")
def trained(
    adult_sample: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Params, pd.DataFrame, Path, ModelMeta]:
    p = Params.model_validate({"evaluate": {"permutation_repeats": 1, "top_features": 5}})
    data = features.apply(adult_sample, p.features.derived)
    train, test = data.iloc[:1500], data.iloc[1500:].reset_index(drop=True)
    X, y, cols = dataset.split_xy(train, p.data, p.split)
    model = models.build("logistic_regression", {"C": 1.0}, cols, seed=0).fit(X, y)
    path = tmp_path_factory.mktemp("model") / "model.skops"
    sha = save_model(model, path)
    meta = ModelMeta(model_sha256=sha, threshold=0.4, threshold_rule="f1", family="lr")
    return p, test, path, meta


def test_run_writes_metrics_that_match_the_predictions(
    trained: tuple[Params, pd.DataFrame, Path, ModelMeta], tmp_path: Path
) -> None:
    p, test, model_path, meta = trained
    out, preds = tmp_path / "evaluate", tmp_path / "predictions.parquet"
    result = evaluate.run(p, test, model_path, meta, out, preds)
    written = read_json(out / "metrics.json")
    assert written == result.metrics
    predictions = read_parquet(preds)
    assert len(predictions) == len(test) == written["rows"]
    y_true = (test["income"] == ">50K").astype(int).to_numpy()
    assert predictions["y_true"].tolist() == y_true.tolist()
    assert predictions["label"].tolist() == (predictions["score"] >= 0.4).astype(int).tolist()
    again = compute_metrics(y_true, predictions["score"].to_numpy(), 0.4)
    ece = expected_calibration_error(y_true, predictions["score"].to_numpy(), 10)
    # an uncalibrated model: no "before calibration" error
    assert again | {"ece": round(ece, 6), "ece_uncalibrated": None} == written
    assert set(read_json(out / "slices.json")["columns"]) == {"gender", "race"}
    importance = pd.read_csv(out / "importance.csv")
    assert len(importance) == 5
    assert importance["importance"].is_monotonic_decreasing
    for plot in ("roc", "precision_recall", "calibration", "confusion_matrix"):
        assert (out / "plots" / "sklearn" / f"{plot}.json").exists()
    assert "roc_auc" in (out / "evaluation.md").read_text()


def test_a_calibrated_model_shows_the_error_before_and_after(
    trained: tuple[Params, pd.DataFrame, Path, ModelMeta], tmp_path: Path
) -> None:
    from gitml.pipeline import train, tune

    p, test, _, _ = trained
    X, y, cols = dataset.split_xy(test, p.data, p.split)
    base = models.build("logistic_regression", {"C": 1.0}, cols, seed=0)
    model = train.calibrate(base, "isotonic", X, y, tune.folds(X, y, 2, 0))
    path = tmp_path / "model.skops"
    meta = ModelMeta(
        model_sha256=save_model(model, path),
        threshold=0.4,
        threshold_rule="f1",
        family="lr",
        calibration={"method": "isotonic", "rule": "auto"},
    )
    result = evaluate.run(p, test, path, meta, tmp_path / "ev", tmp_path / "p.parquet")
    raw = (
        model.steps[-1][1]
        .calibrated_classifiers_[0]
        .estimator.predict_proba(model[:-1].transform(X))[:, 1]
    )
    assert result.metrics["ece_uncalibrated"] == round(expected_calibration_error(y, raw), 6)
    text = (tmp_path / "ev" / "evaluation.md").read_text()
    assert f"{result.metrics['ece']:.4f} after on test" in text


def test_run_refuses_a_model_that_is_not_the_recorded_one(
    trained: tuple[Params, pd.DataFrame, Path, ModelMeta], tmp_path: Path
) -> None:
    p, test, model_path, meta = trained
    out = tmp_path / "evaluate"
    out.mkdir()
    (out / "metrics.json").write_text('{"previous": true}')
    bad_meta = meta.model_copy(update={"model_sha256": "0" * 64})
    with pytest.raises(DataError, match="does not match"):
        evaluate.run(p, test, model_path, bad_meta, out, tmp_path / "predictions.parquet")
    assert read_json(out / "metrics.json") == {"previous": True}  # the old report is intact
    assert not (tmp_path / "predictions.parquet").exists()


def _leaf_names(obj: object, name: str = "") -> set[str]:
    """The key of every number (or null) in a JSON object: the name a reader judges it by."""
    if isinstance(obj, dict):
        return set().union(*(_leaf_names(v, str(k)) for k, v in obj.items()))
    is_number = isinstance(obj, int | float) and not isinstance(obj, bool)
    return {name} if is_number or obj is None else set()


def test_every_number_evaluate_writes_has_a_direction(
    trained: tuple[Params, pd.DataFrame, Path, ModelMeta], tmp_path: Path
) -> None:
    """The PR report, the gate and the site read gitml.core.metrics for which way is better:
    a new metric evaluate writes without a direction there would be called "better" when it
    grows, whatever it means (ece was)."""
    from gitml.core.metrics import HIGHER_IS_BETTER, LOWER_IS_BETTER, NEUTRAL, direction

    p, test, model_path, meta = trained
    out = tmp_path / "evaluate"
    evaluate.run(p, test, model_path, meta, out, tmp_path / "p.parquet", recent=test.iloc[:300])
    names: set[str] = set()
    for file in ("metrics.json", "slices.json", "recent.json"):
        names |= _leaf_names(read_json(out / file))
    assert {"roc_auc", "ece", "ece_uncalibrated", "log_loss", "positive_rate"} <= names
    assert {n for n in names if direction(n) is None} == set()
    assert not (
        LOWER_IS_BETTER & HIGHER_IS_BETTER or NEUTRAL & (LOWER_IS_BETTER | HIGHER_IS_BETTER)
    )
    assert {direction(n) for n in ("ece", "ece_uncalibrated", "brier")} == {"lower"}
