"""Drift statistics against scipy (KS, chi-squared) and against values worked out by hand
(PSI, expected calibration error, binning, category pooling)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gitml.core.calibration import expected_calibration_error
from gitml.monitor import drift

pytestmark = pytest.mark.xdist_group("monitor")


# --------------------------------------------------------------------------- PSI (hand-written)


def test_psi_by_hand() -> None:
    # shares 0.5/0.5 → 0.25/0.75: (0.25-0.5)·ln(0.25/0.5) + (0.75-0.5)·ln(0.75/0.5)
    #                            = 0.25·0.693147 + 0.25·0.405465 = 0.274653
    assert drift.psi(np.array([0.5, 0.5]), np.array([0.25, 0.75])) == pytest.approx(
        0.274653, abs=1e-6
    )


def test_psi_takes_counts_or_shares_and_is_symmetric() -> None:
    by_counts = drift.psi(np.array([50, 50]), np.array([25, 75]))
    assert by_counts == pytest.approx(drift.psi(np.array([0.5, 0.5]), np.array([0.25, 0.75])))
    # (a-e)·ln(a/e) is unchanged when a and e swap
    assert drift.psi(np.array([25, 75]), np.array([50, 50])) == pytest.approx(by_counts)


def test_psi_three_bins_by_hand() -> None:
    # e = .2 .3 .5, a = .3 .3 .4: .1·ln(1.5) + 0 + (-.1)·ln(.8) = .040547 + .022314 = .062861
    assert drift.psi(np.array([2, 3, 5]), np.array([3, 3, 4])) == pytest.approx(0.062861, abs=1e-6)


def test_psi_of_identical_histograms_is_zero() -> None:
    assert drift.psi(np.array([3, 1, 6]), np.array([30, 10, 60])) == pytest.approx(0.0, abs=1e-12)


def test_psi_floors_an_empty_bin_at_epsilon() -> None:
    # e = 1, 0 → 1, 1e-4 (floored); a = .5, .5:
    # (.5-1)·ln(.5) + (.5-1e-4)·ln(.5/1e-4) = .346574 + .4999·8.517193 = 4.604319
    assert drift.psi(np.array([1.0, 0.0]), np.array([0.5, 0.5])) == pytest.approx(
        4.604319, abs=1e-5
    )


def test_psi_refuses_mismatched_or_empty_histograms() -> None:
    with pytest.raises(ValueError, match="same length"):
        drift.psi(np.array([1, 2]), np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="non-empty"):
        drift.psi(np.array([0, 0]), np.array([1, 2]))


# --------------------------------------------------------------------------- binning


def test_quantile_edges_merge_ties() -> None:
    assert drift.quantile_edges(np.arange(1.0, 11.0), 2).tolist() == [5.5]
    # nine zeros and a 5: every decile is 0 except the 90% one, interpolated between 0 and 5
    values = np.array([0.0] * 9 + [5.0])
    assert drift.quantile_edges(values, 10).tolist() == pytest.approx([0.0, 0.5])
    assert drift.quantile_edges(np.array([np.nan, np.nan]), 10).size == 0


def test_bin_counts_are_right_closed_and_skip_missing() -> None:
    edges = np.array([1.0, 2.0])
    values = np.array([0.0, 1.0, 1.5, 2.0, 3.0, np.nan])
    # (-inf, 1]: 0, 1 · (1, 2]: 1.5, 2 · (2, inf): 3
    assert drift.bin_counts(values, edges).tolist() == [2, 2, 1]


# --------------------------------------------------------------------------- scipy tests


def test_ks_matches_scipy_and_hand_value() -> None:
    ref, cur = np.array([1.0, 2, 3, 4]), np.array([3.0, 4, 5, 6])
    stat, p = drift.ks_test(ref, cur)
    assert stat == pytest.approx(0.5)  # the ECDFs differ most at 2: 0.5 vs 0
    expected = stats.ks_2samp(ref, cur)
    assert (stat, p) == pytest.approx((expected.statistic, expected.pvalue))


def test_ks_drops_missing_values() -> None:
    rng = np.random.default_rng(0)
    ref, cur = rng.normal(size=300), rng.normal(0.3, size=200)
    with_nan = np.concatenate([cur, [np.nan] * 20])
    expected = stats.ks_2samp(ref, cur)
    assert drift.ks_test(ref, with_nan) == pytest.approx((expected.statistic, expected.pvalue))
    assert all(math.isnan(x) for x in drift.ks_test(ref, np.array([np.nan])))


def test_chi2_matches_scipy_and_hand_value() -> None:
    # table [[10, 10], [20, 0]]: expected [[15, 5], [15, 5]];
    # chi2 = 25/15 + 25/5 + 25/15 + 25/5 = 13.3333, 1 degree of freedom
    stat, p = drift.chi2_test(np.array([10, 10]), np.array([20, 0]))
    assert stat == pytest.approx(40 / 3)
    assert p == pytest.approx(stats.chi2.sf(40 / 3, 1))
    ref, cur = np.array([120, 60, 20]), np.array([50, 40, 10])
    expected = stats.chi2_contingency(np.vstack([ref, cur]), correction=False)
    assert drift.chi2_test(ref, cur) == pytest.approx((expected.statistic, expected.pvalue))


def test_chi2_drops_empty_categories_and_needs_two() -> None:
    with_empty = drift.chi2_test(np.array([120, 0, 60]), np.array([50, 0, 40]))
    assert with_empty == pytest.approx(drift.chi2_test(np.array([120, 60]), np.array([50, 40])))
    assert drift.chi2_test(np.array([10, 0]), np.array([5, 0])) == (0.0, 1.0)


def test_proportion_test_matches_scipy_yates() -> None:
    # missing 57 of 1000 in the reference vs 120 of 1000 now
    expected = stats.chi2_contingency(np.array([[57, 943], [120, 880]]), correction=True)
    got = drift.proportion_test(57, 1000, 120, 1000)
    assert got == pytest.approx((expected.statistic, expected.pvalue))
    assert drift.proportion_test(0, 100, 0, 50) == (0.0, 1.0)  # nothing missing anywhere


# --------------------------------------------------------------------------- calibration


def test_expected_calibration_error_by_hand() -> None:
    y = np.array([0, 1, 1, 0])
    s = np.array([0.1, 0.9, 0.8, 0.4])
    # 2 bins: [0, .5): scores .1 .4, labels 0 0 → |0 - .25| · 2/4 = .125
    #         [.5, 1]: scores .9 .8, labels 1 1 → |1 - .85| · 2/4 = .075
    assert expected_calibration_error(y, s, bins=2) == pytest.approx(0.2)


def test_expected_calibration_error_puts_one_in_the_last_bin() -> None:
    # a score of exactly 1.0 with label 1 is perfectly calibrated
    assert expected_calibration_error(np.array([1]), np.array([1.0]), 10) == 0.0
    assert expected_calibration_error(np.array([0]), np.array([1.0]), 10) == 1.0
    with pytest.raises(ValueError):
        expected_calibration_error(np.array([]), np.array([]), 10)


# --------------------------------------------------------------------------- compare


def test_compare_numeric_uses_reference_bins_and_missing_rates() -> None:
    ref = pd.Series([1.0, 2, 3, 4, 5, 6, 7, 8, np.nan, np.nan], name="x")
    prof = drift.profile(ref, "numeric", bins=2)
    assert prof.edges.tolist() == [4.5]
    assert prof.counts.tolist() == [4, 4]
    assert prof.missing_rate == 0.2
    cur = pd.Series([1.0, 2, 3, 9, np.nan], name="x")
    res = drift.compare(prof, cur)
    assert res.test == "ks"
    assert res.cur_shares == [0.75, 0.25]
    assert res.psi == pytest.approx(drift.psi(np.array([4, 4]), np.array([3, 1])))
    ks = stats.ks_2samp([1.0, 2, 3, 4, 5, 6, 7, 8], [1.0, 2, 3, 9])
    assert (res.statistic, res.p_value) == pytest.approx((ks.statistic, ks.pvalue))
    assert (res.ref_missing_rate, res.cur_missing_rate) == (0.2, 0.2)
    assert res.missing_p_value == pytest.approx(drift.proportion_test(2, 10, 1, 5)[1])


def test_compare_categorical_pools_rare_and_unseen_categories() -> None:
    ref = pd.Series(["a"] * 50 + ["b"] * 45 + ["c"] * 5, name="col")
    prof = drift.profile(ref, "categorical", bins=10)
    cur = pd.Series(["a"] * 10 + ["b"] * 6 + ["c"] * 2 + ["z"] * 2 + [None] * 5, name="col")
    res = drift.compare(prof, cur, min_expected=5)
    # 20 non-missing rows now: c expects 5% · 20 = 1 < 5, so it is pooled with the unseen z
    assert res.bins == ["a", "b", drift.OTHER]
    assert res.ref_shares == [0.5, 0.45, 0.05]
    assert res.cur_shares == [0.5, 0.3, 0.2]
    assert res.unseen_values == ["z"]
    assert res.unseen_share == pytest.approx(0.1)  # 2 of 20 non-missing rows
    assert res.cur_missing_rate == pytest.approx(0.2)
    chi = stats.chi2_contingency(np.array([[50, 45, 5], [10, 6, 4]]), correction=False)
    assert (res.statistic, res.p_value) == pytest.approx((chi.statistic, chi.pvalue))
    assert res.psi == pytest.approx(drift.psi(np.array([50, 45, 5]), np.array([10, 6, 4])))


def test_compare_an_all_missing_column_reports_only_the_missing_rate() -> None:
    prof = drift.profile(pd.Series(["a", "b"] * 50, name="col"), "categorical", bins=10)
    res = drift.compare(prof, pd.Series([None] * 40, name="col", dtype="object"))
    assert res.p_value is None and res.psi is None
    assert res.cur_missing_rate == 1.0
    assert res.missing_p_value is not None and res.missing_p_value < 1e-6
