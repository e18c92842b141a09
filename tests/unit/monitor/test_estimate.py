"""CBPE (gitml.monitor.estimate) against closed forms and against sampled labels."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn import metrics as skm

from gitml.config import MonitorConfig
from gitml.core.model_meta import ModelMeta
from gitml.monitor import estimate
from gitml.monitor.current import Current
from gitml.monitor.reference import Reference


def test_expected_confusion_by_hand() -> None:
    c = estimate.expected_confusion(np.array([0.9, 0.6, 0.3, 0.1]), 0.5)
    assert c == pytest.approx({"tp": 1.5, "fp": 0.5, "fn": 0.4, "tn": 1.6})
    e = estimate.estimate(np.array([0.9, 0.6, 0.3, 0.1]), 0.5)
    assert e["accuracy"] == pytest.approx((1.5 + 1.6) / 4)
    assert e["precision"] == pytest.approx(1.5 / 2.0)
    assert e["recall"] == pytest.approx(1.5 / 1.9)
    assert e["f1"] == pytest.approx(3.0 / (3.0 + 0.9))


def test_estimated_accuracy_equals_its_closed_form_on_uniform_scores() -> None:
    # p ~ U(0, 1) and y ~ Bernoulli(p) (perfect calibration): accuracy at t = 0.5 is
    # E[max(p, 1 - p)] = 3/4, and ROC-AUC = P(p+ > p-) = ∫ 2a (2a - a²) da = 5/6.
    p = (np.arange(100_000) + 0.5) / 100_000
    e = estimate.estimate(p, 0.5)
    assert e["accuracy"] == pytest.approx(0.75, abs=1e-9)
    assert e["roc_auc"] == pytest.approx(5 / 6, abs=1e-6)
    # recall at t: E[p; p >= t] / E[p] = (1 - t²)/2 / (1/2)
    assert estimate.estimate(p, 0.3)["recall"] == pytest.approx(1 - 0.09, abs=1e-6)


def test_estimate_matches_the_realized_mean_on_calibrated_labels() -> None:
    rng = np.random.default_rng(7)
    p = rng.beta(1.5, 4.0, size=3000)
    e = estimate.estimate(p, 0.35)
    sd = estimate.sampling_sd(p, 0.35)
    draws = [estimate.realized((rng.random(len(p)) < p).astype(float), p, 0.35) for _ in range(300)]
    for metric in estimate.METRICS:
        values = np.array([d[metric] for d in draws])
        assert abs(values.mean() - e[metric]) < 0.2 * sd[metric] + 1e-3, metric
        assert values.std() == pytest.approx(sd[metric], rel=0.2), metric


def test_realized_agrees_with_scikit_learn_ties_included() -> None:
    rng = np.random.default_rng(1)
    s = np.round(rng.random(500), 1)  # many ties
    y = (rng.random(500) < s).astype(float)
    r = estimate.realized(y, s, 0.5)
    pred = (s >= 0.5).astype(int)
    assert r["roc_auc"] == pytest.approx(skm.roc_auc_score(y, s))
    assert r["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert r["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert r["recall"] == pytest.approx(skm.recall_score(y, pred))
    assert r["f1"] == pytest.approx(skm.f1_score(y, pred))


def test_one_class_scores_give_no_auc() -> None:
    assert estimate.expected_roc_auc(np.zeros(10)) is None
    assert estimate.estimate(np.ones(3), 0.5)["precision"] == 1.0


def _ref(auc: float) -> Reference:
    import pandas as pd

    meta = ModelMeta(model_sha256="0" * 64, threshold=0.5, calibration={"method": "isotonic"})
    return Reference(pd.DataFrame(), meta, "test", metrics={"roc_auc": auc, "accuracy": 0.8})


def test_section_alarms_on_an_estimated_drop_and_on_concept_drift() -> None:
    import pandas as pd

    rng = np.random.default_rng(3)
    p = rng.beta(1.5, 4.0, size=2000)
    auc = estimate.expected_roc_auc(p)
    assert auc is not None
    cfg = MonitorConfig()
    calm = estimate.section(_ref(auc), Current(pd.DataFrame(), "x", scores=p), cfg)
    assert calm is not None and calm["alarms"] == [] and calm["feedback"] is None
    dropped = estimate.section(_ref(auc + 0.05), Current(pd.DataFrame(), "x", scores=p), cfg)
    assert dropped is not None and dropped["alarms"][0].startswith("estimated roc_auc")

    honest = (rng.random(len(p)) < p).astype(float)
    ok = estimate.section(_ref(auc), Current(pd.DataFrame(), "x", scores=p, y_true=honest), cfg)
    assert ok is not None and ok["feedback"]["rows"] == 2000 and ok["alarms"] == []
    flipped = honest.copy()
    segment = np.arange(len(p)) % 3 == 0  # a segment the scores know nothing about
    flipped[segment] = 1 - flipped[segment]  # its outcome reversed
    bad = estimate.section(_ref(auc), Current(pd.DataFrame(), "x", scores=p, y_true=flipped), cfg)
    assert bad is not None and len(bad["alarms"]) == 1
    assert bad["alarms"][0].startswith("concept drift: on 2000 rows with feedback")
    assert re.search(r"roc_auc 0\.\d+ below 0\.\d+ ± 0\.\d+", bad["alarms"][0])
