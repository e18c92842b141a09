"""The leakage guard: features that predict the target alone too well to be true.

Run by the validate stage, before anything is trained, on the rows the split stage will put in
train (the same split function, so the test rows stay unseen) and with the folds tune uses.

Per feature, alone:
- `auc`: out-of-fold ROC-AUC of the feature's own bins (quantile bins for a number, the values
  for a category, missing as a bin of its own), each bin scored by its positive rate on the
  other folds. A column recorded after the outcome scores near 1.
- `mi`: for a categorical, mutual information with the label as a share of the label's
  entropy (scikit-learn's mutual_info_classif), reported beside the AUC.
- `missing_auc`: ROC-AUC of "is missing" alone: 1 when the column is missing exactly when the
  target has one value.
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
from sklearn.metrics import roc_auc_score

from gitml.config import DataConfig, LeakageConfig, SplitConfig
from gitml.core.metrics import rounded
from gitml.core.names import normalise_name
from gitml.pipeline import dataset
from gitml.pipeline.split import split

N_BINS = 20
COPY_ACCURACY = 0.99  # the feature's bins alone reproduce the label in 99% of rows
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
    features: dict[str, dict[str, float | None]] = field(default_factory=dict)
    flags: list[Flag] = field(default_factory=list)
    allowed_flags: list[Flag] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return sorted({f.column for f in self.flags})

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked": True,
            "max_single_feature_auc": self.threshold,
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


def oof_scores(
    codes: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """Out-of-fold P(positive | bin); a bin unseen in the other folds gets their base rate."""
    oof = np.empty(len(y), dtype="float64")
    for fit, held in folds:
        rates = pd.Series(y[fit]).groupby(codes[fit]).mean()
        oof[held] = pd.Series(codes[held]).map(rates).fillna(float(y[fit].mean())).to_numpy()
    return oof


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    if len(np.unique(y)) < 2 or len(np.unique(score)) < 2:
        return 0.5
    return float(roc_auc_score(y, score))


def _normalised_mi(codes: np.ndarray, y: np.ndarray) -> float:
    p = y.mean()
    entropy = -(p * np.log(p) + (1 - p) * np.log(1 - p)) if 0 < p < 1 else 0.0
    if entropy == 0:
        return 0.0
    mi = mutual_info_classif(codes.reshape(-1, 1), y, discrete_features=True, random_state=0)
    return float(mi[0] / entropy)


def _time_order(col: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(col):
        return col.astype("float64")
    parsed = pd.to_datetime(col, errors="coerce", format="mixed")
    return parsed.astype("int64").where(parsed.notna()).astype("float64")


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
    folds = dataset.folds(X, y, cv_folds, seed, groups)
    allowed = {normalise_name(c) for c in cfg.allow}
    result = LeakageResult(cfg.max_single_feature_auc, cfg.mode, sorted(allowed))
    limit = cfg.max_single_feature_auc
    time = None
    if split_cfg.time_column:
        time = _time_order(train[normalise_name(split_cfg.time_column)])
    everything = np.ones(len(y), dtype=bool)
    strong: list[tuple[str, float]] = []  # above the limit, not a copy: compared with the rest
    for col in X.columns:
        codes = _bins(X[col], everything)
        oof = oof_scores(codes, y, folds)
        auc = _auc(y, oof)
        missing = X[col].isna().to_numpy()
        missing_auc = _auc(y, missing.astype(float)) if missing.any() else None
        info: dict[str, float | None] = {
            "auc": rounded(auc, 4),
            "missing_auc": rounded(missing_auc, 4),
        }
        if not pd.api.types.is_numeric_dtype(X[col]):
            info["mi"] = rounded(_normalised_mi(codes, y), 4)
        flags: list[Flag] = []
        accuracy = float(((oof >= 0.5).astype(int) == y).mean())
        if missing_auc is not None and max(missing_auc, 1 - missing_auc) > limit:
            side = "positive" if missing_auc > 0.5 else "negative"  # missing ⇒ this label
            share = float(missing[y == (1 if side == "positive" else 0)].mean())
            flags.append(
                Flag(
                    col,
                    "missing_when",
                    rounded(max(missing_auc, 1 - missing_auc), 4) or 0.0,
                    f"missing exactly when the target is {side} ({share:.0%} of those rows): "
                    f"the value was only recorded once the outcome was known",
                )
            )
        explained = bool(flags)  # missing exactly when: its values add nothing to say
        if not explained and accuracy >= COPY_ACCURACY and auc > limit:
            flags.append(
                Flag(
                    col,
                    "copy",
                    rounded(auc, 4) or 0.0,
                    f"a near copy of the target: its values alone give the label in "
                    f"{accuracy:.1%} of training rows (ROC-AUC {auc:.3f})",
                )
            )
        elif not explained and auc > limit:
            strong.append((col, auc))
        if time is not None and pd.api.types.is_numeric_dtype(X[col]):
            rho = X[col].astype("float64").corr(time, method="spearman")
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
        result.features[col] = info
        (result.allowed_flags if col in allowed else result.flags).extend(flags)
    _dominant(result, strong, X, y, folds, allowed, seed)
    return result


def _dominant(
    result: LeakageResult,
    strong: list[tuple[str, float]],
    X: pd.DataFrame,
    y: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    allowed: set[str],
    seed: int,
) -> None:
    """A feature above the limit is flagged when it alone beats the other features together,
    leaving out the features already flagged (copies, and stronger features found dominant
    first; out-of-fold, a gradient-boosting model): a leak outshines the real signal, while a
    strong real feature has company (breast cancer's worst_perimeter: 0.96 alone, 0.99 for the
    other measurements). Two equally strong leaks can hide each other; the copy and
    missing-exactly-when checks do not depend on the other features."""
    flagged = {f.column for f in result.flags + result.allowed_flags}
    limit = result.threshold
    for col, auc in sorted(strong, key=lambda s: -s[1])[:MAX_STRONG]:
        rest = [c for c in X.columns if c != col and c not in flagged]
        rest_auc = _rest_auc(X[rest], y, folds, seed) if rest else 0.5
        result.features[col]["rest_auc"] = rounded(rest_auc, 4)
        if auc <= rest_auc:
            continue
        flag = Flag(
            col,
            "dominant",
            rounded(auc, 4) or 0.0,
            f"alone predicts the target with ROC-AUC {auc:.3f} > "
            f"validate.leakage.max_single_feature_auc {limit}, better than the {len(rest)} "
            f"other feature(s) together ({rest_auc:.3f})",
        )
        (result.allowed_flags if col in allowed else result.flags).append(flag)
        flagged.add(col)


def _rest_auc(
    X: pd.DataFrame, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], seed: int
) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import cross_val_predict
    from threadpoolctl import threadpool_limits

    frame = X.copy()
    for col in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[col]):
            frame[col] = frame[col].astype("category")
    model = HistGradientBoostingClassifier(
        max_iter=100, random_state=seed, categorical_features="from_dtype"
    )
    # one OpenMP thread: on a small table, threads fighting for busy cores cost 20x (measured
    # 0.8 s against 18 s for breast cancer on 2 loaded cores)
    with threadpool_limits(1):
        proba = cross_val_predict(model, frame, y, cv=folds, method="predict_proba")[:, 1]
    return _auc(y, proba)


def describe(flag: Flag) -> str:
    """One line for the terminal and the validation report: column, score, why and the fix."""
    return f"{flag.column}: {flag.message}; {FIX}"
