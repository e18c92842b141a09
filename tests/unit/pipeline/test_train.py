"""train: the decision threshold rule, and the trained model + metadata it writes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gitml.config import Params
from gitml.core import features
from gitml.core.model_io import load_model
from gitml.errors import GitmlError
from gitml.io.files import file_sha256, read_json
from gitml.pipeline import train

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = ROOT / "schema" / "adult.schema.yaml"
BEST = {"family": "logistic_regression", "params": {"C": 0.5}}


def confusion(y: np.ndarray, s: np.ndarray, t: float) -> tuple[int, int, int, int]:
    pred = s >= t
    tp = int((pred & (y == 1)).sum())
    fp = int((pred & (y == 0)).sum())
    fn = int((~pred & (y == 1)).sum())
    tn = int((~pred & (y == 0)).sum())
    return tp, fp, fn, tn


def f1_at(y: np.ndarray, s: np.ndarray, t: float) -> float:
    tp, fp, fn, _ = confusion(y, s, t)
    return 2 * tp / (2 * tp + fp + fn)


def youden_at(y: np.ndarray, s: np.ndarray, t: float) -> float:
    tp, fp, fn, tn = confusion(y, s, t)
    return tp / (tp + fn) - fp / (fp + tn)


def test_f1_threshold_by_hand() -> None:
    y = np.array([0, 0, 1, 1, 0, 1])
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.7, 0.9])
    # F1 at each score: 0.1→6/9, 0.35→6/8, 0.4→4/7, 0.7→4/6, 0.8→4/5, 0.9→2/4
    assert train.choose_threshold(y, s, "f1") == pytest.approx(0.8)


def test_youden_threshold_by_hand() -> None:
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    s = np.array([0.05, 0.2, 0.3, 0.55, 0.25, 0.6, 0.65, 0.9])
    # TPR-FPR at 0.25: 1-2/4 = .5; at 0.6: 3/4-0 = .75 (best); at 0.55: 3/4-1/4 = .5
    assert train.choose_threshold(y, s, "youden") == pytest.approx(0.6)


labels_and_scores = st.integers(4, 60).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
        # a coarse grid makes ties between scores common
        st.lists(st.integers(0, 40).map(lambda k: k / 41), min_size=n, max_size=n),
    )
)


@settings(max_examples=150, deadline=None)
@given(labels_and_scores)
def test_f1_rule_maximises_f1_over_every_cut(case: tuple[list[int], list[float]]) -> None:
    y, s = np.array(case[0]), np.array(case[1])
    assume(0 < y.sum() < len(y))
    chosen = train.choose_threshold(y, s, "f1")
    best = max(f1_at(y, s, t) for t in np.unique(s))
    assert chosen in set(s.tolist())
    assert f1_at(y, s, chosen) == pytest.approx(best, abs=1e-12)


@settings(max_examples=150, deadline=None)
@given(labels_and_scores)
def test_youden_rule_maximises_tpr_minus_fpr(case: tuple[list[int], list[float]]) -> None:
    y, s = np.array(case[0]), np.array(case[1])
    assume(0 < y.sum() < len(y))
    chosen = train.choose_threshold(y, s, "youden")
    best = max(0.0, *(youden_at(y, s, t) for t in np.unique(s)))
    assert 0 <= chosen <= 1
    assert youden_at(y, s, chosen) == pytest.approx(best, abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(rule=st.floats(0.001, 0.999), case=labels_and_scores)
def test_numeric_rule_passes_through(rule: float, case: tuple[list[int], list[float]]) -> None:
    y, s = np.array(case[0]), np.array(case[1])
    assert train.choose_threshold(y, s, rule) == rule


# --------------------------------------------------------------------------- run


@pytest.fixture(scope="module")
def featurized(adult_sample: pd.DataFrame) -> pd.DataFrame:
    """What the train stage reads: the split's train rows plus the derived features."""
    return features.apply(adult_sample.head(1200), Params().features.derived)


def params(**train_cfg: object) -> Params:
    return Params.model_validate(
        {"validate": {"schema_file": str(SCHEMA)}, "train": {"cv_folds": 2, **train_cfg}}
    )


def test_run_writes_a_loadable_model_and_consistent_metadata(
    featurized: pd.DataFrame, tmp_path: Path
) -> None:
    model_path, meta_path = tmp_path / "model.skops", tmp_path / "model.json"
    result = train.run(params(), featurized, BEST, "abc123", model_path, meta_path)
    meta = read_json(meta_path)
    assert meta == result.metadata.to_json()
    assert result.model_sha256 == meta["model_sha256"] == file_sha256(model_path)
    assert meta["schema_sha256"] == hashlib.sha256(SCHEMA.read_bytes()).hexdigest()
    assert meta["train_data_sha256"] == "abc123"
    assert meta["family"] == "logistic_regression"
    assert meta["params"] == {"C": 0.5}
    assert meta["train_rows"] == 1200
    assert meta["train_positive_rate"] == pytest.approx(
        (featurized["income"] == ">50K").mean(), abs=1e-6
    )
    assert 0 < result.threshold < 1
    assert meta["threshold"] == pytest.approx(result.threshold, abs=1e-6)
    assert meta["threshold_rule"] == "f1"
    assert "income" not in meta["features"]["numeric"] + meta["features"]["categorical"]
    assert "net_capital" in meta["features"]["numeric"]

    model = load_model(model_path, expected_sha256=result.model_sha256)
    X = featurized.drop(columns=["income"])
    proba = model.predict_proba(X)[:, 1]
    # the model learnt something: positives score higher than negatives on average
    y = (featurized["income"] == ">50K").to_numpy()
    assert proba[y].mean() > proba[~y].mean() + 0.2


def test_the_users_own_column_names_are_recorded_for_the_model_inputs(
    featurized: pd.DataFrame, tmp_path: Path
) -> None:
    renamed = {"education_num": "education-num", "income": "Income", "dropped": "Dropped col"}
    result = train.run(
        params(), featurized, BEST, "h", tmp_path / "m.skops", tmp_path / "m.json", renamed
    )
    # the inputs and the target; not a column the model does not read
    assert result.metadata.original_names == {"education_num": "education-num", "income": "Income"}
    assert read_json(tmp_path / "m.json")["original_names"] == result.metadata.original_names
    # nothing renamed: the key is left out, so such a table writes the model.json it used to
    train.run(params(), featurized, BEST, "h", tmp_path / "n.skops", tmp_path / "n.json", {})
    assert "original_names" not in read_json(tmp_path / "n.json")


def test_numeric_threshold_rule_is_recorded_as_is(featurized: pd.DataFrame, tmp_path: Path) -> None:
    result = train.run(
        params(threshold=0.37), featurized, BEST, "h", tmp_path / "m.skops", tmp_path / "m.json"
    )
    assert result.threshold == 0.37
    assert read_json(tmp_path / "m.json")["threshold"] == 0.37


def test_two_runs_write_byte_identical_files(featurized: pd.DataFrame, tmp_path: Path) -> None:
    for name in ("a", "b"):
        train.run(
            params(), featurized, BEST, "h", tmp_path / f"{name}.skops", tmp_path / f"{name}.json"
        )
    assert (tmp_path / "a.skops").read_bytes() == (tmp_path / "b.skops").read_bytes()
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_a_missing_schema_file_is_a_clear_error_and_writes_nothing(
    featurized: pd.DataFrame, tmp_path: Path
) -> None:
    p = Params.model_validate(
        {"validate": {"schema_file": str(tmp_path / "gone.yaml")}, "train": {"cv_folds": 2}}
    )
    with pytest.raises(GitmlError, match=r"gone\.yaml"):
        train.run(p, featurized, BEST, "h", tmp_path / "m.skops", tmp_path / "m.json")
    assert not (tmp_path / "m.skops").exists()
    assert not (tmp_path / "m.json").exists()


@pytest.mark.parametrize("rule", ["auto", "isotonic", "sigmoid", "none"])
def test_calibration_is_recorded_and_the_model_loads(
    rule: str, featurized: pd.DataFrame, tmp_path: Path
) -> None:
    from sklearn.calibration import CalibratedClassifierCV

    model_path, meta_path = tmp_path / "model.skops", tmp_path / "model.json"
    result = train.run(params(calibration=rule), featurized, BEST, "h", model_path, meta_path)
    cal = result.metadata.to_json()["calibration"]
    assert cal["rule"] == rule
    assert 0 <= cal["ece_before"] < 0.5
    model = load_model(model_path, expected_sha256=result.model_sha256)  # allowlist covers it
    last = model.steps[-1][1]
    if rule == "none":
        assert cal["method"] == "none" and "ece_after" not in cal
        assert not isinstance(last, CalibratedClassifierCV)
        return
    assert isinstance(last, CalibratedClassifierCV) and last.method == cal["method"]
    assert last.cv == 2  # the fold indices are not stored in the model file
    losses = cal["cv_log_loss"]
    if rule == "auto":  # the lower cross-validated log loss wins
        assert cal["method"] == min(("isotonic", "sigmoid"), key=losses.__getitem__)
    else:
        assert cal["method"] == rule
    assert 0 <= cal["ece_after"] < 0.5
    proba = model.predict_proba(featurized.drop(columns=["income"]))[:, 1]
    assert ((proba >= 0) & (proba <= 1)).all()


def test_ece_by_hand() -> None:
    from gitml.core.calibration import expected_calibration_error

    # bins of width 0.5: [0.2, 0.4] with labels [0, 1] -> |1 - 0.6| ; [0.9] with [1] -> |1 - 0.9|
    y, s = np.array([0, 1, 1]), np.array([0.2, 0.4, 0.9])
    assert expected_calibration_error(y, s, bins=2) == pytest.approx((0.4 + 0.1) / 3)
