"""Canary against prod as pure functions: the weighted bootstrap's statistic, the comparison of
simulated logs (better, equal and worse canaries) and every branch of the decision rule."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from gitml.config import CanaryConfig
from gitml.monitor import canary_health
from gitml.monitor.canary import Sample, compare
from gitml.monitor.canary_rows import Sorted, binary_weighted, counts

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
    data = Sorted.of(s, y, 0.4)
    auc, acc = binary_weighted(data, np.ones((1, len(y))), "roc_auc")
    assert auc[0] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert acc[0] == pytest.approx(np.mean((s >= 0.4) == y), abs=1e-12)
    # counts of a resample = the metric of the resampled rows themselves
    idx = np.random.default_rng(2).integers(0, len(y), (3, len(y)))
    w = counts(idx, len(y))
    order = np.argsort(s, kind="stable")
    auc_w, _ = binary_weighted(data, w, "roc_auc")
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


# --------------------------------------------------------------------------- latency and failures


def served(
    version: str, rows: int, seed: int, slower: float = 1.0, fail_rate: float = 0.0
) -> Sample:
    """`simulated` rows (no feedback: the quality bootstrap is not what these tests are about)
    with a log-normal scoring time per row, `slower` times longer, and the rows of failed
    calls, `fail_rate` of all, drawn from a binomial."""
    base = simulated(version, rows, seed, labelled=0)
    rng = np.random.default_rng(seed + 1000)
    latency = np.round(rng.lognormal(np.log(0.4), 0.6, rows) * slower, 4)  # ms, ties as logged
    failed = int(rng.binomial(rows, fail_rate / (1 - fail_rate))) if fail_rate else 0
    return Sample(version, base.scores, base.y_true, base.threshold, latency, failed)


def test_a_slower_canary_that_fails_more_shows_it_with_intervals_above_zero() -> None:
    c = compare(served("v2", 6000, 21, slower=1.25, fail_rate=0.01),
                served("v1", 6000, 22, fail_rate=0.001), CFG, DAY)  # fmt: skip
    for d in (c.latency_p50_difference, c.latency_p99_difference, c.failure_rate_difference):
        assert d.low is not None and d.point is not None and d.high is not None
        assert 0 < d.low < d.point < d.high, d
    p50c, p50p = c.canary.latency_p50_ms, c.prod.latency_p50_ms
    assert p50c is not None and p50p is not None and p50c / p50p == pytest.approx(1.25, abs=0.06)
    assert c.canary.timed_rows == 6000 and c.canary.failed_rows is not None
    assert c.canary.failure_rate == pytest.approx(0.01, abs=0.003)
    assert c.decision == "wait"  # information, not a rule: no labels yet, so it waits
    data = c.to_dict()
    assert data["latency_p99_difference"]["low"] == c.latency_p99_difference.low
    assert data["canary"]["failed_rows"] == c.canary.failed_rows


def test_equal_latency_and_failures_give_intervals_that_hold_zero() -> None:
    c = compare(served("v2", 6000, 23, fail_rate=0.005), served("v1", 6000, 24, fail_rate=0.005),
                CFG, DAY)  # fmt: skip
    for d in (c.latency_p50_difference, c.latency_p99_difference, c.failure_rate_difference):
        assert d.low is not None and d.high is not None and d.low < 0 < d.high, d


def test_a_log_without_latency_or_failures_compares_as_before() -> None:
    old = compare(simulated("v2", 3000, 25, labelled=0), simulated("v1", 3000, 26, labelled=0),
                  CFG, DAY)  # fmt: skip
    side = old.canary
    assert (side.timed_rows, side.latency_p50_ms, side.failed_rows) == (0, None, None)
    assert old.latency_p50_difference.text() == "n/a"
    assert old.failure_rate_difference.point is None
    # latency only for some rows (a log upgraded in the window): the rows without it are left out
    mixed = served("v2", 3000, 27)
    half = mixed.latency_ms.copy() if mixed.latency_ms is not None else np.empty(0)
    half[:1500] = np.nan
    c = compare(Sample("v2", mixed.scores, mixed.y_true, 0.4, half, 3), served("v1", 3000, 28),
                CFG, DAY)  # fmt: skip
    assert c.canary.timed_rows == 1500 and c.canary.failure_rate == pytest.approx(3 / 1503, 1e-5)


def test_bootstrap_quantile_draws_what_resampling_rows_gives() -> None:
    """The exact draws of a resample's quantile against scipy.stats.bootstrap resampling rows:
    the same spread and percentile interval, within Monte Carlo error."""
    from scipy.stats import bootstrap

    x = np.random.default_rng(29).lognormal(0, 0.5, 1500)
    for q in (0.5, 0.99):

        def stat(a: np.ndarray, axis: int = -1, q: float = q) -> np.ndarray:
            return np.quantile(a, q, axis=axis, method="inverted_cdf")

        assert canary_health.quantile(x, q) == stat(x)
        ref = bootstrap((x,), stat, n_resamples=4000, method="percentile",
                        rng=np.random.default_rng(30))  # fmt: skip
        draws = canary_health.bootstrap_quantile(x, q, 4000, np.random.default_rng(31))
        sd = float(np.std(ref.bootstrap_distribution))
        assert float(np.std(draws)) == pytest.approx(sd, rel=0.1)
        low, high = np.quantile(draws, [0.025, 0.975])
        assert low == pytest.approx(ref.confidence_interval.low, abs=sd / 2)
        assert high == pytest.approx(ref.confidence_interval.high, abs=sd / 2)


def test_failure_rate_interval_is_newcombes() -> None:
    """Newcombe (1998), Statistics in Medicine 17, 873-890, table II, example (a): 56/70 vs
    48/80, method 10 (hybrid score): 0.2000, 95% interval 0.0524 to 0.3339."""
    a = canary_health.Serving(70 - 56, None, None, 56, 56 / 70)
    b = canary_health.Serving(80 - 48, None, None, 48, 48 / 80)
    d, low, high = canary_health.rate_difference(a, b, 0.95)
    assert (round(d or 0, 4), round(low or 0, 4), round(high or 0, 4)) == (0.2, 0.0524, 0.3339)
