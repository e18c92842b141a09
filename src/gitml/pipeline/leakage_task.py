"""The leakage guard's single-feature score for each task (pipeline/leakage.py runs the guard).

The binning scorer's out-of-fold prediction per bin is the mean of y on the other folds:
- binary: the positive rate; score ROC-AUC (threshold validate.leakage.max_single_feature_auc);
- multiclass: each class's rate; score one-vs-rest macro ROC-AUC (the same threshold);
- regression: the target's mean; score R², or for a number the square of its Spearman rank
  correlation with the target when that is higher (its rank form: a monotone copy that the bins
  blur still scores ~1); threshold validate.leakage.max_single_feature_r2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import r2_score, roc_auc_score

from gitml.config import LeakageConfig
from gitml.core.tasks import Task

Folds = list[tuple[np.ndarray, np.ndarray]]


def oof_scores(codes: np.ndarray, y: np.ndarray, folds: Folds) -> np.ndarray:
    """Out-of-fold mean of y per bin (binary: P(positive | bin)); a bin unseen in the other
    folds gets their overall mean."""
    oof = np.empty(len(y), dtype="float64")
    for fit, held in folds:
        rates = pd.Series(y[fit]).groupby(codes[fit]).mean()
        oof[held] = pd.Series(codes[held]).map(rates).fillna(float(y[fit].mean())).to_numpy()
    return oof


def oof_class_rates(codes: np.ndarray, y: np.ndarray, folds: Folds, k: int) -> np.ndarray:
    """Out-of-fold share of each class per bin: an (n, k) matrix whose rows sum to 1."""
    return np.column_stack([oof_scores(codes, (y == c).astype(float), folds) for c in range(k)])


def auc(y: np.ndarray, score: np.ndarray) -> float:
    if len(np.unique(y)) < 2 or len(np.unique(score)) < 2:
        return 0.5
    return float(roc_auc_score(y, score))


def ovr_auc(y: np.ndarray, proba: np.ndarray) -> float:
    """Macro one-vs-rest ROC-AUC (0.5 for a class whose score is constant)."""
    return float(np.mean([auc((y == c).astype(int), proba[:, c]) for c in range(proba.shape[1])]))


def r2(y: np.ndarray, prediction: np.ndarray) -> float:
    return float(r2_score(y, prediction)) if np.var(y) > 0 else 0.0


@dataclass(frozen=True)
class Scorer:
    """How one feature's bins score against the target, for `task`."""

    task: Task
    metric: str  # auc | r2: the key of the feature's score in the report
    threshold: float
    missing_threshold: float  # "is missing" alone: an ROC-AUC for every task
    k: int = 2  # multiclass: the number of classes (y is 0..k-1)

    def oof(self, codes: np.ndarray, y: np.ndarray, folds: Folds) -> np.ndarray:
        if self.task is Task.MULTICLASS:
            return oof_class_rates(codes, y, folds, self.k)
        return oof_scores(codes, y, folds)

    def score(self, y: np.ndarray, oof: np.ndarray) -> float:
        if self.task is Task.MULTICLASS:
            return ovr_auc(y, oof)
        return r2(y, oof) if self.task is Task.REGRESSION else auc(y, oof)

    def reproduces(self, y: np.ndarray, oof: np.ndarray) -> float:
        """How much of the target the bins alone give back: the share of rows labelled right
        (classification), R² (regression)."""
        if self.task is Task.MULTICLASS:
            return float((oof.argmax(axis=1) == y).mean())
        if self.task is Task.REGRESSION:
            return r2(y, oof)
        return float(((oof >= 0.5).astype(int) == y).mean())

    def rank_score(self, column: pd.Series, y: np.ndarray) -> float | None:
        """Regression, a numeric feature: the squared Spearman correlation with the target."""
        if self.task is not Task.REGRESSION or not pd.api.types.is_numeric_dtype(column):
            return None
        if column.nunique() < 2:
            return 0.0
        rho = column.astype("float64").corr(pd.Series(y, index=column.index), method="spearman")
        return float(rho**2) if rho is not None and np.isfinite(rho) else None

    def rest(self, X: pd.DataFrame, y: np.ndarray, folds: Folds, seed: int) -> float:
        """The other features together, out of fold (a gradient-boosting model)."""
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
        from sklearn.model_selection import cross_val_predict
        from threadpoolctl import threadpool_limits

        frame = X.copy()
        for col in frame.columns:
            if not pd.api.types.is_numeric_dtype(frame[col]):
                frame[col] = frame[col].astype("category")
        regress = self.task is Task.REGRESSION
        kind = HistGradientBoostingRegressor if regress else HistGradientBoostingClassifier
        model = kind(max_iter=100, random_state=seed, categorical_features="from_dtype")
        method = "predict" if regress else "predict_proba"
        # one OpenMP thread: on a small table, threads fighting for busy cores cost 20x
        # (measured 0.8 s against 18 s for breast cancer on 2 loaded cores)
        with threadpool_limits(1):
            out = cross_val_predict(model, frame, y, cv=folds, method=method)
        if self.task is Task.BINARY:
            return auc(y, out[:, 1])
        return self.score(y, out)


def scorer(task: Task, cfg: LeakageConfig, y: np.ndarray) -> Scorer:
    limit = cfg.max_single_feature_auc
    if task is Task.REGRESSION:
        return Scorer(task, "r2", cfg.max_single_feature_r2, limit)
    k = int(y.max()) + 1 if task is Task.MULTICLASS and len(y) else 2
    return Scorer(task, "auc", limit, limit, k)
