"""Label (prior) shift: the share of positives in production, estimated before labels arrive.

CBPE (gitml.monitor.estimate) assumes that only the inputs move and P(y | x) stays as the model
learnt it. A label shift breaks that: the share of positives changes while P(x | y) stays, so
the calibrated scores, made for the training share, are off for every row. Left alone, the
estimate then misses a fall of precision and F1 by many sampling deviations.

**The share.** EM of Saerens, Latinne and Decaestecker (2002, "Adjusting the outputs of a
classifier to new a priori probabilities: a simple procedure"): with calibrated scores s_i for
the reference share π₀, the scores for a share π are

    p_i = (π/π₀) s_i / ((π/π₀) s_i + ((1-π)/(1-π₀)) (1-s_i))

and π is the fixed point π = mean(p_i), the maximum-likelihood share under label shift.

**Is it a label shift?** EM finds a share for any window, a covariate shift included (only
married people score higher: EM reads that as more positives and over-sharpens the scores). The
two differ in what they leave unchanged: under a label shift P(x | y) is the reference's, so each
input, and the score, is distributed as the reference re-weighted by class (positives by π/π₀,
negatives by (1-π)/(1-π₀)). A selection on the inputs moves some input far from every such
mixture. So a label shift is named only when the share moved by more than
`monitor.max_prior_shift` AND every model input and the score stay within `psi_threshold` (PSI)
of the re-weighted reference. Then the estimated metrics use p_i; otherwise the scores as they
are. bench/estimation.py measures both kinds of shift.

Written by hand: the EM is five lines, and no maintained library under our pins has it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gitml.contracts.monitoring import PriorReport
from gitml.monitor import drift
from gitml.monitor.common import SCORE, significant

if TYPE_CHECKING:
    from gitml.config import MonitorConfig
    from gitml.monitor.reference import Reference

_EPS = 1e-6
_SCALE = 1_000_000  # re-weighted counts are kept as integers: PSI and pooling use shares only


def adjust(scores: np.ndarray, prior_ref: float, prior: float) -> np.ndarray:
    """Calibrated `scores` for the reference share `prior_ref`, moved to the share `prior`."""
    s = np.clip(np.asarray(scores, dtype="float64"), _EPS, 1 - _EPS)
    pos = s * (prior / prior_ref)
    neg = (1 - s) * ((1 - prior) / (1 - prior_ref))
    out: np.ndarray = pos / (pos + neg)
    return out


def em_prior(
    scores: np.ndarray, prior_ref: float, tol: float = 1e-7, max_iter: int = 1000
) -> float:
    """The share of positives that makes the adjusted scores consistent (Saerens et al. 2002)."""
    prior = prior_ref
    for _ in range(max_iter):
        new = float(adjust(scores, prior_ref, prior).mean())
        if abs(new - prior) < tol:
            return new
        prior = min(max(new, _EPS), 1 - _EPS)
    return prior


@dataclass(frozen=True)
class ByClass:
    """One reference column summarised per class: the whole profile, and per-class counts."""

    whole: drift.Profile
    pos: np.ndarray | dict[str, int]
    neg: np.ndarray | dict[str, int]


def by_class(series: pd.Series, positive: np.ndarray, kind: drift.Kind, bins: int) -> ByClass:
    whole = drift.profile(series, kind, bins)
    mask = np.asarray(positive, dtype=bool)
    if kind == "numeric":
        values = pd.to_numeric(series, errors="coerce").to_numpy("float64")
        return ByClass(
            whole,
            drift.bin_counts(values[mask], whole.edges),
            drift.bin_counts(values[~mask], whole.edges),
        )

    def counts(part: pd.Series) -> dict[str, int]:
        return {str(k): int(v) for k, v in part.dropna().astype("str").value_counts().items()}

    return ByClass(whole, counts(series[mask]), counts(series[~mask]))


def mixture(col: ByClass, prior: float) -> drift.Profile:
    """The reference column re-weighted to the share `prior` of positives (as a Profile)."""

    def blend(pos: float, neg: float, n_pos: float, n_neg: float) -> int:
        share = prior * (pos / n_pos if n_pos else 0.0) + (1 - prior) * (
            neg / n_neg if n_neg else 0.0
        )
        return round(_SCALE * share)

    if isinstance(col.pos, np.ndarray) and isinstance(col.neg, np.ndarray):
        n_pos, n_neg = float(col.pos.sum()), float(col.neg.sum())
        counts = np.array(
            [blend(a, b, n_pos, n_neg) for a, b in zip(col.pos, col.neg, strict=True)]
        )
        return drift.Profile(
            col.whole.name, "numeric", col.whole.rows, col.whole.missing,
            values=col.whole.values, edges=col.whole.edges, counts=counts,
        )  # fmt: skip
    assert isinstance(col.pos, dict) and isinstance(col.neg, dict)
    n_pos, n_neg = float(sum(col.pos.values())), float(sum(col.neg.values()))
    cats = {
        c: blend(col.pos.get(c, 0), col.neg.get(c, 0), n_pos, n_neg) for c in col.whole.categories
    }
    return drift.Profile(
        col.whole.name, "categorical", col.whole.rows, col.whole.missing, categories=cats
    )


@dataclass
class PriorShift:
    """The label-shift part of monitoring.json (`estimate.prior`)."""

    reference: float  # share of positives in the evaluation (test split)
    estimated: float  # EM share of the window
    worst_input: str | None = None  # the input farthest from the re-weighted reference
    worst_psi: float | None = None
    explained: bool | None = None  # the window fits a label shift (None: could not check)
    label_shift: bool = False  # explained AND moved by more than max_prior_shift
    alarms: list[str] = field(default_factory=list)

    def report(self) -> PriorReport:
        return PriorReport(
            method="EM (Saerens, Latinne and Decaestecker 2002) on the calibrated scores",
            reference=significant(self.reference),
            estimated=significant(self.estimated),
            worst_input=self.worst_input,
            worst_input_psi=significant(self.worst_psi),
            fits_label_shift=self.explained,
            label_shift=self.label_shift,
        )


def reference_share(ref: Reference) -> float | None:
    """The share of positives the scores are calibrated for: the evaluation's test split."""
    if ref.y_true is not None and len(ref.y_true):
        share = float(np.mean(ref.y_true))
    elif ref.scores is not None and len(ref.scores):
        share = float(np.mean(ref.scores))
    else:
        return None
    return share if 0 < share < 1 else None


def reference_classes(
    ref: Reference, kinds: dict[str, drift.Kind], bins: int
) -> dict[str, ByClass]:
    """Per-class profiles of the score (test predictions) and of every input (training rows)."""
    from gitml.core import labels

    out: dict[str, ByClass] = {}
    if ref.scores is not None and ref.y_true is not None and len(ref.y_true):
        out[SCORE] = by_class(pd.Series(ref.scores, name=SCORE), ref.y_true == 1, "numeric", bins)
    target, positive_class = ref.meta.target, ref.meta.positive_class
    if target and target in ref.frame.columns and positive_class is not None:
        positive = labels.is_positive(ref.frame[target], positive_class) == 1
        for name, kind in kinds.items():
            out[name] = by_class(ref.frame[name], positive, kind, bins)
    return out


def judge(
    ref: Reference,
    scores: np.ndarray,
    current: pd.DataFrame,
    cfg: MonitorConfig,
    classes: dict[str, ByClass] | None = None,
) -> PriorShift | None:
    """Estimate the window's share of positives and decide whether it is a label shift."""
    prior_ref = reference_share(ref)
    if prior_ref is None or not len(scores):
        return None
    out = PriorShift(prior_ref, em_prior(scores, prior_ref))
    if classes is None:
        classes = reference_classes(ref, ref.columns, cfg.bins)
    columns = {**{c: current[c] for c in ref.columns if c in current}, SCORE: pd.Series(scores)}
    worst: tuple[float, str] | None = None
    for name, col in classes.items():
        if name not in columns:
            continue
        value = drift.compare(mixture(col, out.estimated), columns[name], cfg.min_expected).psi
        if value is not None and (worst is None or value > worst[0]):
            worst = (value, name)
    if worst is None or SCORE not in classes:
        return out  # nothing to check the label-shift reading against: never named
    out.worst_psi, out.worst_input = worst
    out.explained = worst[0] < cfg.psi_threshold
    moved = out.estimated - prior_ref
    out.label_shift = bool(out.explained and abs(moved) > cfg.max_prior_shift)
    if out.label_shift:
        out.alarms.append(
            f"label shift: the share of positives is estimated at {out.estimated:.1%} against "
            f"{prior_ref:.1%} at evaluation (moved by more than {cfg.max_prior_shift:.0%}), "
            f"while the inputs keep the evaluation's shape once re-weighted by class (largest "
            f"PSI {worst[0]:.3f}, {ref.meta.original_names.get(worst[1], worst[1])}, "
            f"< {cfg.psi_threshold}): the same kinds of rows "
            "with other proportions of outcomes. The estimated metrics are corrected for it"
        )
    return out
