"""Canary against prod as pure functions: the weighted bootstrap's statistic, the comparison of
simulated logs (better, equal and worse canaries) and every branch of the decision rule."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from gitml.config import CanaryConfig
from gitml.monitor.canary import Sample, _counts, _Sorted, _weighted, compare

DAY = timedelta(days=2)
CFG = CanaryConfig(enabled=True, min_labelled_rows=2000, min_rows=2000)


def simulated(
    version: str, rows: int, seed: int, noise: float = 0.0, labelled: float = 1.0
) -> Sample:
    """Calibrated scores of one model on its traffic: y ~ Bernoulli(p); a worse model ranks by
    p plus noise (then squashed back into [0, 1]); `labelled` share of rows has feedback."""
    rng = np.random.default_rng(seed)
    p = rng.beta(0.6, 1.6, rows)
    y = (rng.random(rows) < p).astype("float64")
    s = p if noise == 0 else 1 / (1 + np.exp(-(np.log(p / (1 - p)) + rng.normal(0, noise, rows))))
    y[rng.random(rows) >= labelled] = np.nan
    return Sample(version, np.round(s, 3), y, 0.4)  # rounded: ties, as real scores have


def test_weighted_statistic_is_sklearns_roc_auc_and_accuracy() -> None:
    sample = simulated("v", 3000, 1)
    s, y = sample.labelled()
    data = _Sorted.of(s, y, 0.4)
    auc, acc = _weighted(data, np.ones((1, len(y))), "roc_auc")
    assert auc[0] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert acc[0] == pytest.approx(np.mean((s >= 0.4) == y), abs=1e-12)
    # counts of a resample = the metric of the resampled rows themselves
    idx = np.random.default_rng(2).integers(0, len(y), (3, len(y)))
    w = _counts(idx, len(y))
    order = np.argsort(s, kind="stable")
    auc_w, _ = _weighted(data, w, "roc_auc")
    for row in range(3):
        picked = order[idx[row]]
        assert auc_w[row] == pytest.approx(roc_auc_score(y[picked], s[picked]), abs=1e-12)


def test_an_equal_canary_is_promoted_and_the_interval_holds_zero() -> None:
    c = compare(simulated("v2", 20000, 3), simulated("v1", 20000, 4), CFG, DAY)
    assert c.difference.low is not None and c.difference.high is not None
    assert c.difference.low < 0 < c.difference.high
    assert c.difference.low > -CFG.max_drop
    assert c.decision == "promote", c.reasons
    assert c.canary.labelled == 20000 and c.prod.rows == 20000
    assert c.score_psi is not None and c.score_psi < 0.01


def test_a_better_canary_is_promoted() -> None:
    c = compare(simulated("v2", 8000, 5), simulated("v1", 8000, 6, noise=1.0), CFG, DAY)
    assert c.difference.point is not None and c.difference.point > 0.02
    assert c.decision == "promote"


def test_a_worse_canary_is_ended_with_the_reason() -> None:
    c = compare(simulated("v2", 8000, 7, noise=1.0), simulated("v1", 8000, 8), CFG, DAY)
    assert c.difference.high is not None and c.difference.high < -CFG.max_drop
    assert c.decision == "end"
    assert c.reasons[0].startswith("worse: roc_auc canary - prod -0.0")


def test_a_slightly_worse_canary_on_few_labels_waits_then_ends_after_max_duration() -> None:
    cfg = CanaryConfig(enabled=True, min_labelled_rows=500, min_rows=500)
    c = compare(simulated("v2", 1500, 9, noise=0.3), simulated("v1", 1500, 10), cfg, DAY)
    lo, hi = c.difference.low, c.difference.high
    assert lo is not None and hi is not None and lo < -cfg.max_drop < hi  # inconclusive
    assert c.decision == "wait" and "undecided" in c.reasons[0]
    late = compare(simulated("v2", 1500, 9, noise=0.3), simulated("v1", 1500, 10), cfg,
                   timedelta(days=15))  # fmt: skip
    assert late.decision == "end" and late.reasons[0] == "undecided after max_duration 14d"


def test_too_few_labels_or_too_young_waits() -> None:
    few = compare(simulated("v2", 5000, 11, labelled=0.2), simulated("v1", 5000, 12), CFG, DAY)
    assert few.decision == "wait"
    assert any("v2: 1" in r and "min_labelled_rows 2000" in r for r in few.reasons)
    young = compare(simulated("v2", 20000, 3), simulated("v1", 20000, 4), CFG, timedelta(hours=2))
    assert young.decision == "wait"
    assert young.reasons == ["the canary is 2.0 h old < min_duration 1d"]
    # no labels at all: the estimate before labels is still there, with its interval
    blind = compare(simulated("v2", 3000, 13, labelled=0), simulated("v1", 3000, 14, labelled=0),
                    CFG, DAY)  # fmt: skip
    assert blind.decision == "wait" and blind.difference.point is None
    e = blind.estimated_difference
    assert e.low is not None and e.high is not None and e.low < 0 < e.high


def test_a_clearly_worse_canary_is_ended_even_when_young() -> None:
    c = compare(simulated("v2", 8000, 7, noise=1.0), simulated("v1", 8000, 8), CFG,
                timedelta(minutes=5))  # fmt: skip
    assert c.decision == "end"


def test_the_error_rate_rule() -> None:
    cfg = CanaryConfig(enabled=True, min_labelled_rows=2000, min_rows=2000,
                       max_error_rate_increase=0.0, max_drop=0.2)  # fmt: skip
    # a canary whose threshold is far off: same ranking (same AUC), many more errors
    canary = simulated("v2", 8000, 15)
    canary = Sample("v2", canary.scores, canary.y_true, 0.9)
    c = compare(canary, simulated("v1", 8000, 16), cfg, DAY)
    assert c.decision == "end" and c.reasons[0].startswith("more errors")
    assert c.error_rate_difference.low is not None and c.error_rate_difference.low > 0


def test_config_checks_durations() -> None:
    with pytest.raises(ValueError, match="not a duration"):
        CanaryConfig(min_duration="soon")
    with pytest.raises(ValueError, match="'all' is not a length"):
        CanaryConfig(max_duration="all")
    assert CanaryConfig().enabled is False
