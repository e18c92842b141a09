"""The leakage guard: features that predict the target alone too well to be true.

Run by the validate stage, before anything is trained, on the rows the split stage will put in
train (the same split function, so the test rows stay unseen) and with the folds tune uses.

Per feature, alone:
- `auc`: out-of-fold ROC-AUC of the feature's own bins (quantile bins for a number, the values
  for a category, missing as a bin of its own), each bin scored by its positive rate on the
  other folds. A column recorded after the outcome scores near 1. Multiclass: one-vs-rest
  ROC-AUC of each bin's class shares; regression: `r2` of each bin's target mean, or the rank
  form (pipeline/leakage_task.py).
- `mi`: for a categorical, mutual information with the label as a share of the label's
  entropy (scikit-learn's mutual_info_classif), reported beside the AUC.
- `missing_auc`: ROC-AUC of "is missing" alone: 1 when the column is missing exactly when the
  target has one value (multiclass: one-vs-rest; regression: the target ranks the missing rows
  apart, above or below the others).
- `time_rho`: with `split.time_column`, the rank correlation with the time column: a second
  clock lets the model tell the test period (the future) from training (the past).

The binning scorer is written here (a dozen lines of pandas) because scikit-learn has no
out-of-fold univariate scorer that treats missing as a value; each fold's bins are a
TargetEncoder-like mean, without the smoothing that would blur a near copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.feature_selection import mutual_info_classif

from gitml.config import DataConfig, LeakageConfig, SplitConfig
from gitml.core.metrics import rounded
from gitml.core.names import normalise_name
from gitml.core.tasks import Task
from gitml.pipeline import dataset
from gitml.pipeline.leakage_task import Scorer, auc, oof_scores, scorer
from gitml.pipeline.split import split, time_order

__all__ = ["Flag", "LeakageResult", "describe", "oof_scores", "scan"]

N_BINS = 20
COPY_ACCURACY = 0.99  # the feature's bins alone reproduce the label in 99% of rows (or R²)
TIME_RHO = 0.95
MAX_STRONG = 10  # features above the limit compared with the rest (one small model each)
FIX = (
    "if it is known only after the outcome, add it to data.drop_columns; if the signal is "
    "real, list it in validate.leakage.allow"
)


@dataclass(frozen=True)
class Flag:
    column: str
    kind: str  # copy | dominant | missing_when | time_proxy
    score: float
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"column": self.column, "kind": self.kind, "score": self.score, "why": self.message}


@dataclass
class LeakageResult:
    threshold: float
    mode: str
    allowed: list[str]
    metric: str = "auc"  # regression: r2
    features: dict[str, dict[str, float | None]] = field(default_factory=dict)
    flags: list[Flag] = field(default_factory=list)
    allowed_flags: list[Flag] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return sorted({f.column for f in self.flags})

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked": True,
            f"max_single_feature_{self.metric}": self.threshold,
            "mode": self.mode,
            "allow": self.allowed,
            "flagged": self.columns,
            "flags": [f.as_dict() for f in self.flags],
            "allowed_flags": [f.as_dict() for f in self.allowed_flags],
            "features": self.features,
        }


def _bins(col: pd.Series, fit: np.ndarray) -> np.ndarray:
    """Bin codes: quantile bins of a number (edges from the fit rows), values of a category;
    missing is code -1, so missingness carries its own positive rate."""
    if pd.api.types.is_numeric_dtype(col) and col.nunique() > 2 * N_BINS:
        values = col.to_numpy(dtype="float64", na_value=np.nan)
        present = values[fit][~np.isnan(values[fit])]
        if len(present) == 0:
            return np.full(len(col), -1)
        edges = np.unique(np.quantile(present, np.linspace(0, 1, N_BINS + 1)[1:-1]))
        codes = np.searchsorted(edges, values, side="left")  # (e0, e1]: 0 stays apart from > 0
        return np.where(np.isnan(values), -1, codes)
    codes, _ = pd.factorize(col, use_na_sentinel=True)  # few values: each is a bin
    return codes


def _normalised_mi(codes: np.ndarray, y: np.ndarray, task: Task) -> float:
    if task is Task.MULTICLASS:
        p_k = np.bincount(y) / len(y)
        p_k = p_k[p_k > 0]
        entropy = float(-(p_k * np.log(p_k)).sum())
    else:
        p = y.mean()
        entropy = -(p * np.log(p) + (1 - p) * np.log(1 - p)) if 0 < p < 1 else 0.0
    if entropy == 0:
        return 0.0
    mi = mutual_info_classif(codes.reshape(-1, 1), y, discrete_features=True, random_state=0)
    return float(mi[0] / entropy)


def _time_order(col: pd.Series) -> pd.Series:
    """The time column as the split orders it (text dates parsed the same way)."""
    return pd.Series(time_order(col, "split.time_column"), index=col.index)


def scan(
    df: pd.DataFrame,
    data_cfg: DataConfig,
    split_cfg: SplitConfig,
    cfg: LeakageConfig,
    cv_folds: int = 3,
    seed: int = 42,
) -> LeakageResult:
    """Score every feature alone on the training rows; flag those too good to be true."""
    train, _ = split(df, data_cfg, split_cfg)
    X, y, _ = dataset.split_xy(train, data_cfg, split_cfg)
    groups = train[normalise_name(split_cfg.group_column)] if split_cfg.group_column else None
    folds = dataset.folds(X, y, cv_folds, seed, groups, data_cfg.task)
    allowed = {normalise_name(c) for c in cfg.allow}
    score = scorer(data_cfg.task, cfg, y)
    result = LeakageResult(score.threshold, cfg.mode, sorted(allowed), score.metric)
    time = None
    if split_cfg.time_column:
        time = _time_order(train[normalise_name(split_cfg.time_column)])
    strong: list[tuple[str, float]] = []  # above the limit, not a copy: compared with the rest
    for col in X.columns:
        info, flags, value = _feature(X[col], y, folds, score, time)
        if value is not None:
            strong.append((col, value))
        result.features[col] = info
        (result.allowed_flags if col in allowed else result.flags).extend(flags)
    _dominant(result, strong, X, y, folds, allowed, seed, score)
    return result


def _feature(
    column: pd.Series,
    y: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    score: Scorer,
    time: pd.Series | None,
) -> tuple[dict[str, float | None], list[Flag], float | None]:
    """One feature alone: its scores, its flags, and its score when it is above the limit
    without being explained (a copy, missing-when): the candidates for `dominant`."""
    col, limit, metric = str(column.name), score.threshold, score.metric
    codes = _bins(column, np.ones(len(y), dtype=bool))
    oof = score.oof(codes, y, folds)
    value = score.score(y, oof)
    rank = score.rank_score(column, y)
    if rank is not None:
        value = max(value, rank)
    missing = column.isna().to_numpy()
    missing_score = _missing_score(missing, y, folds, score) if missing.any() else None
    info: dict[str, float | None] = {
        metric: rounded(value, 4),
        "missing_auc": rounded(missing_score, 4),  # regression too: a rank form (below)
    }
    if not pd.api.types.is_numeric_dtype(column) and score.task is not Task.REGRESSION:
        info["mi"] = rounded(_normalised_mi(codes, y, score.task), 4)
    flags: list[Flag] = []
    if missing_score is not None and _strength(missing_score, score) > score.missing_threshold:
        flags.append(_missing_flag(col, missing, y, missing_score, score))
    explained = bool(flags)  # missing exactly when: its values add nothing to say
    reproduced = max(score.reproduces(y, oof), rank or 0.0)
    candidate = None
    if not explained and reproduced >= COPY_ACCURACY and value > limit:
        flags.append(
            Flag(col, "copy", rounded(value, 4) or 0.0, _copy_message(reproduced, value, score))
        )
    elif not explained and value > limit:
        candidate = value
    if time is not None and pd.api.types.is_numeric_dtype(column):
        rho = column.astype("float64").corr(time, method="spearman")
        info["time_rho"] = rounded(rho, 4)
        if rho is not None and np.isfinite(rho) and abs(rho) >= TIME_RHO:
            flags.append(
                Flag(
                    col,
                    "time_proxy",
                    rounded(abs(rho), 4) or 0.0,
                    f"moves with split.time_column (Spearman {rho:.3f}): a second clock "
                    "tells the test period (the future) from the training rows",
                )
            )
    return info, flags, candidate


def _missing_score(
    missing: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], score: Scorer
) -> float:
    """How well "is missing" alone tells the target: binary, ROC-AUC of the flag itself;
    regression, ROC-AUC of the target as a score of "is missing" (1 or 0: missing exactly when
    the target is high, or low); multiclass, the flag's two bins scored one-vs-rest."""
    if score.task is Task.BINARY:
        return auc(y, missing.astype(float))
    if score.task is Task.REGRESSION:
        return auc(missing.astype(int), y)
    return score.score(y, score.oof(missing.astype(np.int64), y, folds))


def _strength(value: float, score: Scorer) -> float:
    # an AUC below 0.5 is as strong the other way round (missing => negative, or a low target)
    return value if score.task is Task.MULTICLASS else max(value, 1 - value)


def _missing_flag(
    col: str, missing: np.ndarray, y: np.ndarray, value: float, score: Scorer
) -> Flag:
    strength = rounded(_strength(value, score), 4) or 0.0
    recorded = "the value was only recorded once the outcome was known"
    if score.task is Task.MULTICLASS:
        why = f"whether it is missing alone predicts the class (one-vs-rest ROC-AUC {value:.3f})"
        return Flag(col, "missing_when", strength, f"{why}: {recorded}")
    if score.task is Task.REGRESSION:
        side = "high" if value > 0.5 else "low"
        why = f"missing exactly when the target is {side} (ROC-AUC {strength:.3f})"
        return Flag(col, "missing_when", strength, f"{why}: {recorded}")
    side = "positive" if value > 0.5 else "negative"  # missing ⇒ this label
    share = float(missing[y == (1 if side == "positive" else 0)].mean())
    return Flag(
        col,
        "missing_when",
        strength,
        f"missing exactly when the target is {side} ({share:.0%} of those rows): {recorded}",
    )


def _copy_message(reproduced: float, value: float, score: Scorer) -> str:
    if score.task is Task.REGRESSION:
        return (
            f"a near copy of the target: alone it explains {reproduced:.1%} of the target's "
            f"variance on the training rows (R² or its rank form)"
        )
    return (
        f"a near copy of the target: its values alone give the label in "
        f"{reproduced:.1%} of training rows (ROC-AUC {value:.3f})"
    )


def _dominant(
    result: LeakageResult,
    strong: list[tuple[str, float]],
    X: pd.DataFrame,
    y: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    allowed: set[str],
    seed: int,
    score: Scorer,
) -> None:
    """A feature above the limit is flagged when it alone beats the other features together,
    leaving out the features already flagged (copies, and stronger features found dominant
    first; out-of-fold, a gradient-boosting model): a leak outshines the real signal, while a
    strong real feature has company (breast cancer's worst_perimeter: 0.96 alone, 0.99 for the
    other measurements). Two equally strong leaks can hide each other; the copy and
    missing-exactly-when checks do not depend on the other features."""
    flagged = {f.column for f in result.flags + result.allowed_flags}
    limit, metric = result.threshold, score.metric
    name = "R²" if metric == "r2" else "ROC-AUC"
    for col, value in sorted(strong, key=lambda s: -s[1])[:MAX_STRONG]:
        rest = [c for c in X.columns if c != col and c not in flagged]
        rest_value = score.rest(X[rest], y, folds, seed) if rest else _nothing(score)
        result.features[col][f"rest_{metric}"] = rounded(rest_value, 4)
        if value <= rest_value:
            continue
        flag = Flag(
            col,
            "dominant",
            rounded(value, 4) or 0.0,
            f"alone predicts the target with {name} {value:.3f} > "
            f"validate.leakage.max_single_feature_{metric} {limit}, better than the {len(rest)} "
            f"other feature(s) together ({rest_value:.3f})",
        )
        (result.allowed_flags if col in allowed else result.flags).append(flag)
        flagged.add(col)


def _nothing(score: Scorer) -> float:
    """The score of no feature at all: chance."""
    return 0.0 if score.task is Task.REGRESSION else 0.5


def describe(flag: Flag) -> str:
    """One line for the terminal and the validation report: column, score, why and the fix."""
    return f"{flag.column}: {flag.message}; {FIX}"
