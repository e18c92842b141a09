"""Label shift before labels arrive: the EM share, its verdict against covariate shift, the
corrected estimate, and the cause the alarm names.

The data are drawn from known class-conditional distributions, so the score used here is the
exact posterior for the reference share (perfectly calibrated), and a label shift (other share,
same P(x | y)) and a covariate shift (a selection on x, same P(y | x)) can each be made pure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gitml import monitor
from gitml.config import MonitorConfig
from gitml.core.model_meta import ModelMeta
from gitml.monitor import estimate, prior

SHARE = 0.3  # the reference's share of positives
CFG = MonitorConfig()


def draw(n: int, share: float, rng: np.random.Generator) -> pd.DataFrame:
    """Rows with P(x | y) fixed: x ~ N(±1, 1), c = 'a' with 0.7 (y = 1) or 0.3 (y = 0)."""
    y = rng.random(n) < share
    x = rng.normal(np.where(y, 1.0, -1.0), 1.0)
    c = np.where(rng.random(n) < np.where(y, 0.7, 0.3), "a", "b")
    return pd.DataFrame({"x": x, "c": c, "y": np.where(y, "yes", "no")})


def posterior(frame: pd.DataFrame) -> np.ndarray:
    """P(y = 1 | x, c) for the reference share: calibrated by construction."""
    logit = np.log(SHARE / (1 - SHARE)) + 2 * frame["x"].to_numpy()
    logit += np.where(frame["c"] == "a", np.log(0.7 / 0.3), np.log(0.3 / 0.7))
    out: np.ndarray = 1 / (1 + np.exp(-logit))
    return out


def reference(rng: np.random.Generator) -> monitor.Reference:
    train, test = draw(20_000, SHARE, rng), draw(5_000, SHARE, rng)
    scores, y = posterior(test), (test["y"] == "yes").to_numpy("int64")
    meta = ModelMeta(
        model_sha256="0" * 64,
        threshold=0.5,
        target="y",
        positive_class="yes",
        features={"numeric": ["x"], "categorical": ["c"]},
        calibration={"method": "isotonic"},
    )
    metrics = estimate.realized(y, scores, 0.5)
    return monitor.Reference(train, meta, "synthetic", scores=scores, y_true=y, metrics=metrics)


def window(frame: pd.DataFrame, labels: bool = False) -> monitor.Current:
    s = posterior(frame)
    y = (frame["y"] == "yes").to_numpy("float64") if labels else None
    return monitor.Current(frame[["x", "c"]], "window", scores=s, labels=(s >= 0.5), y_true=y)


@pytest.fixture(scope="module")
def ref() -> monitor.Reference:
    return reference(np.random.default_rng(0))


def test_em_recovers_the_share_of_a_label_shift() -> None:
    rng = np.random.default_rng(1)
    for share in (0.1, 0.3, 0.5):
        s = posterior(draw(20_000, share, rng))
        assert prior.em_prior(s, SHARE) == pytest.approx(share, abs=0.01)
    # the mean score, what CBPE assumes, is pulled towards the reference share
    assert np.mean(posterior(draw(20_000, 0.1, rng))) > 0.13


def test_adjust_is_the_identity_at_the_reference_share() -> None:
    s = np.array([0.01, 0.2, 0.5, 0.9])
    np.testing.assert_allclose(prior.adjust(s, 0.3, 0.3), s)
    assert (prior.adjust(s, 0.3, 0.1) < s).all()


def test_a_label_shift_alarms_with_its_name_and_corrects_the_estimate(
    ref: monitor.Reference,
) -> None:
    rng = np.random.default_rng(2)
    rows = draw(20_000, 0.1, rng)  # large: precision's own sampling noise stays under 0.01
    report = monitor.analyse(ref, window(rows), CFG)
    shift = report["estimate"]["prior"]
    assert shift["label_shift"] is True and shift["fits_label_shift"] is True
    assert shift["estimated"] == pytest.approx(0.1, abs=0.02)
    assert report["causes"] == ["label shift"], report["alarms"]
    assert any(a.startswith("estimated performance: label shift") for a in report["alarms"])
    assert "## Alarms\n\n**Cause: label shift.**" in monitor.render_markdown(report)
    # corrected: the estimate tracks the realized precision and F1 (uncorrected it would not)
    y = (rows["y"] == "yes").to_numpy("float64")
    real = estimate.realized(y, posterior(rows), 0.5)
    naive = estimate.estimate(posterior(rows), 0.5)
    for metric in ("precision", "f1", "accuracy"):
        assert abs(report["estimate"]["estimated"][metric] - real[metric]) < 0.03, metric
    assert abs(naive["precision"] - real["precision"]) > 0.1  # what the correction fixes


def test_a_covariate_shift_is_not_called_a_label_shift(ref: monitor.Reference) -> None:
    rng = np.random.default_rng(3)
    pool = draw(20_000, SHARE, rng)
    rows = pool[pool["x"] > 0.5]  # a selection on the inputs: P(y | x) unchanged
    report = monitor.analyse(ref, window(rows, labels=True), CFG)
    shift = report["estimate"]["prior"]
    assert shift["fits_label_shift"] is False and shift["label_shift"] is False
    assert shift["worst_input"] == "x"
    assert "label shift" not in report["causes"] and "input drift" in report["causes"]
    # the scores are taken as they are, and they are right: no concept drift either
    assert not any("concept drift" in a for a in report["alarms"]), report["alarms"]
    real = report["estimate"]["feedback"]["realized"]
    for metric in ("precision", "recall", "accuracy"):
        assert abs(report["estimate"]["estimated"][metric] - real[metric]) < 0.03, metric


def test_no_shift_no_alarm_and_the_drop_is_measured_against_the_reference_estimate(
    ref: monitor.Reference,
) -> None:
    rng = np.random.default_rng(4)
    report = monitor.analyse(ref, window(draw(2_000, SHARE, rng), labels=True), CFG)
    assert report["alarms"] == [] and report["causes"] == []
    e = report["estimate"]
    assert e["prior"]["label_shift"] is False
    assert e["reference"]["roc_auc"] == pytest.approx(
        estimate.expected_roc_auc(np.asarray(ref.scores)), abs=1e-6
    )


def test_concept_drift_is_named_only_when_labels_disagree(ref: monitor.Reference) -> None:
    rng = np.random.default_rng(5)
    rows = draw(2_000, SHARE, rng)
    flip = rows["c"] == "a"
    rows.loc[flip, "y"] = rows.loc[flip, "y"].map({"yes": "no", "no": "yes"})
    report = monitor.analyse(ref, window(rows, labels=True), CFG)
    assert "concept drift" in report["causes"] and "label shift" not in report["causes"]


def test_without_the_target_in_the_reference_no_label_shift_is_named(
    ref: monitor.Reference,
) -> None:
    bare = monitor.Reference(
        ref.frame.drop(columns=["y"]), ref.meta, "bare", scores=None, y_true=None
    )
    rng = np.random.default_rng(6)
    assert prior.judge(bare, posterior(draw(500, 0.1, rng)), draw(500, 0.1, rng), CFG) is None
