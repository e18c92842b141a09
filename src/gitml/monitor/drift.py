"""Drift statistics: the pure numerical part of the monitor (no files, no database).

Two-sample tests come from scipy.stats (Kolmogorov-Smirnov for numbers, chi-squared for
categories). The Population Stability Index (PSI) is written by hand, as is the expected
calibration error (in gitml.core.calibration, which train and evaluate use too): no maintained
library computes them under our pins (Evidently 0.7.23, the usual drift library, does not import
beside pandas 3 — ImportError on `infer_dtype_from_object`; scikit-learn has a calibration
curve but no ECE). Both are a few lines and are tested against values worked out by hand in
tests/unit/monitor/test_drift.py.

A `Profile` summarises the reference (training) column once — sorted values, bin edges, bin
counts, category counts — so comparing many current windows against it is cheap.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

# A bin that is empty on one side would make PSI infinite (ln 0). The usual convention, kept
# here, is to floor every share at a small epsilon before taking the log.
PSI_EPSILON = 1e-4
OTHER = "(other)"

Kind = Literal["numeric", "categorical"]


def psi(expected: np.ndarray, actual: np.ndarray, epsilon: float = PSI_EPSILON) -> float:
    """Population Stability Index of two histograms over the same bins (counts or shares).

    PSI = Σ (a_i - e_i) · ln(a_i / e_i), with a_i, e_i the shares of bin i (floored at
    `epsilon`). 0 means identical; by the usual rule of thumb < 0.1 is stable, 0.1-0.25 a
    moderate shift, > 0.25 a large one.
    """
    e = np.asarray(expected, dtype="float64")
    a = np.asarray(actual, dtype="float64")
    if e.shape != a.shape or e.ndim != 1:
        raise ValueError(f"psi needs two histograms of the same length, got {e.shape}, {a.shape}")
    if e.sum() <= 0 or a.sum() <= 0:
        raise ValueError("psi needs two non-empty histograms")
    e = np.maximum(e / e.sum(), epsilon)
    a = np.maximum(a / a.sum(), epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


def quantile_edges(reference: np.ndarray, bins: int) -> np.ndarray:
    """Inner bin edges at the reference's quantiles (ties merged, so a column that is 90% zeros
    gets a bin for the zeros instead of nine empty ones). Bins are right-closed: (e_i-1, e_i]."""
    values = np.asarray(reference, dtype="float64")
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return np.array([], dtype="float64")
    qs = np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1])
    return np.unique(qs)


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of the non-missing `values` in the bins (-inf, e0], (e0, e1], …, (e_last, inf)."""
    v = np.asarray(values, dtype="float64")
    v = v[~np.isnan(v)]
    return np.bincount(np.searchsorted(edges, v, side="left"), minlength=len(edges) + 1)


def ks_test(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and p-value (scipy), missing values dropped."""
    r = np.asarray(reference, dtype="float64")
    c = np.asarray(current, dtype="float64")
    r, c = r[~np.isnan(r)], c[~np.isnan(c)]
    if len(r) == 0 or len(c) == 0:
        return float("nan"), float("nan")
    from scipy import stats  # imported here: `gitml check-params` loads this module, fast

    res = stats.ks_2samp(r, c)
    return float(res.statistic), float(res.pvalue)


def chi2_test(reference_counts: np.ndarray, current_counts: np.ndarray) -> tuple[float, float]:
    """Chi-squared test of homogeneity of two count vectors over the same categories (scipy).

    Categories empty on both sides are dropped; with fewer than two left there is nothing to
    compare (statistic 0, p-value 1).
    """
    table = np.vstack([reference_counts, current_counts]).astype("float64")
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    from scipy import stats

    res = stats.chi2_contingency(table, correction=False)
    return float(res.statistic), float(res.pvalue)


def proportion_test(
    ref_hits: int, ref_rows: int, cur_hits: int, cur_rows: int
) -> tuple[float, float]:
    """Chi-squared test (scipy, Yates-corrected 2x2) that two shares are equal, e.g. the
    missing rate of a column in the reference and in the current window."""
    table = np.array([[ref_hits, ref_rows - ref_hits], [cur_hits, cur_rows - cur_hits]])
    if (table.sum(axis=0) == 0).any() or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    from scipy import stats

    res = stats.chi2_contingency(table, correction=True)
    return float(res.statistic), float(res.pvalue)


# --------------------------------------------------------------------------- profiles


@dataclass(frozen=True)
class Profile:
    """One reference column, summarised once."""

    name: str
    kind: Kind
    rows: int
    missing: int
    # numeric: sorted non-missing values, inner bin edges, counts per bin
    values: np.ndarray = field(default_factory=lambda: np.array([]))
    edges: np.ndarray = field(default_factory=lambda: np.array([]))
    counts: np.ndarray = field(default_factory=lambda: np.array([]))
    # categorical: counts per category (non-missing)
    categories: dict[str, int] = field(default_factory=dict)

    @property
    def missing_rate(self) -> float:
        return self.missing / self.rows if self.rows else 0.0


def profile(series: pd.Series, kind: Kind, bins: int) -> Profile:
    missing = int(series.isna().sum())
    if kind == "numeric":
        values = np.sort(pd.to_numeric(series, errors="coerce").dropna().to_numpy("float64"))
        edges = quantile_edges(values, bins)
        return Profile(
            series.name.__str__(),
            kind,
            len(series),
            missing,
            values=values,
            edges=edges,
            counts=bin_counts(values, edges),
        )
    counts = series.dropna().astype("str").value_counts()
    return Profile(
        str(series.name),
        kind,
        len(series),
        missing,
        categories={str(k): int(v) for k, v in counts.items()},
    )


@dataclass(frozen=True)
class ColumnDrift:
    """The comparison of one current column with its reference profile."""

    name: str
    kind: Kind
    test: str  # "ks" or "chi2"
    statistic: float | None
    p_value: float | None
    psi: float | None
    ref_missing_rate: float
    cur_missing_rate: float
    missing_p_value: float | None
    unseen_share: float  # share of current non-missing rows whose category the reference lacks
    unseen_values: list[str]
    rows: int
    bins: list[str]
    ref_shares: list[float]
    cur_shares: list[float]


def compare(ref: Profile, current: pd.Series, min_expected: float = 5.0) -> ColumnDrift:
    """Test one current column against its reference profile.

    Categories whose expected count in the current window is below `min_expected` are pooled
    into one "(other)" bin (with the unseen ones) for chi-squared and PSI: the chi-squared
    approximation is poor for tiny expected counts and would raise false alarms.
    """
    rows = len(current)
    cur_missing = int(current.isna().sum())
    _, missing_p = proportion_test(ref.missing, ref.rows, cur_missing, rows)
    if ref.kind == "numeric":
        cur = pd.to_numeric(current, errors="coerce").dropna().to_numpy("float64")
        stat, p = ks_test(ref.values, cur) if len(cur) else (None, None)
        cur_counts = bin_counts(cur, ref.edges)
        ref_counts = ref.counts
        labels = _bin_labels(ref.edges)
        unseen: list[str] = []
        unseen_share = 0.0
        test = "ks"
    else:
        cur_cats = current.dropna().astype("str").value_counts()
        n_cur = int(cur_cats.sum())
        n_ref = sum(ref.categories.values()) or 1
        kept = [c for c, k in ref.categories.items() if k / n_ref * max(n_cur, 1) >= min_expected]
        kept.sort(key=lambda c: -ref.categories[c])
        unseen = sorted(str(c) for c in cur_cats.index if c not in ref.categories)
        unseen_share = float(cur_cats[unseen].sum() / n_cur) if n_cur and unseen else 0.0
        ref_counts = np.array(
            [ref.categories[c] for c in kept]
            + [sum(k for c, k in ref.categories.items() if c not in kept)]
        )
        cur_counts = np.array(
            [int(cur_cats.get(c, 0)) for c in kept]
            + [int(cur_cats.drop(kept, errors="ignore").sum())]
        )
        labels = [*kept, OTHER]
        if ref_counts[-1] == 0 and cur_counts[-1] == 0:  # nothing pooled: no "(other)" bin
            ref_counts, cur_counts, labels = ref_counts[:-1], cur_counts[:-1], labels[:-1]
        stat, p = chi2_test(ref_counts, cur_counts) if n_cur else (None, None)
        test = "chi2"
    both = ref_counts.sum() > 0 and cur_counts.sum() > 0
    return ColumnDrift(
        name=ref.name,
        kind=ref.kind,
        test=test,
        statistic=stat,
        p_value=p,
        psi=psi(ref_counts, cur_counts) if both else None,
        ref_missing_rate=ref.missing_rate,
        cur_missing_rate=cur_missing / rows if rows else 0.0,
        missing_p_value=missing_p,
        unseen_share=unseen_share,
        unseen_values=unseen,
        rows=rows,
        bins=labels,
        ref_shares=_shares(ref_counts),
        cur_shares=_shares(cur_counts),
    )


def _shares(counts: np.ndarray) -> list[float]:
    total = counts.sum()
    return [float(c / total) if total else 0.0 for c in counts]


def _bin_labels(edges: np.ndarray) -> list[str]:
    if len(edges) == 0:
        return ["all"]
    bounds = [f"{e:.4g}" for e in edges]
    return (
        [f"≤ {bounds[0]}"]
        + [f"({a}, {b}]" for a, b in itertools.pairwise(bounds)]
        + [f"> {bounds[-1]}"]
    )
