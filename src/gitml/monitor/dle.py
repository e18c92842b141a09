"""Regression estimate before labels: direct loss estimation (DLE).

NannyML's DLE (https://nannyml.readthedocs.io, "Direct Loss Estimation"): a second model
learns, on held-out rows whose truth is known, each row's loss from its features and the
model's prediction. On unlabelled rows its predictions are the expected losses, so

    estimated MAE  = mean of the predicted absolute errors
    estimated RMSE = sqrt(mean of the predicted squared errors)   (a second, cheap model)

Where: trained by `gitml monitor` on the reference's test split (data/features/test.parquet
with evaluate's data/predictions/test.parquet, the rows the model never trained on), once per
Reference and cached on it (`Reference.dle`), so a run judging many windows trains once. It is
not written to disk: it takes about a second and depends only on those two files.
Deterministic: HistGradientBoostingRegressor with a fixed random_state and no early stopping
(no random validation split).

Like CBPE it holds under covariate shift (P(y | x) unchanged) within the region the test split
covers. The sampling band: the realized MAE of n rows varies around its expectation by the
spread of the absolute errors around their prediction, sd(|e| - predicted |e|) / sqrt(n)
(measured on the test split); the RMSE's by the delta method on the squared errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gitml.monitor import drift

PREDICTION = "__prediction__"  # the model's prediction, one more input of the loss models
SEED = 0


@dataclass(frozen=True)
class InputTable:
    """How a second model (DLE's loss models, multiclass CBPE's conditional calibration) reads
    rows: numeric inputs as they are; categories as their code among the test split's
    categories (unknown or missing: NaN, which the trees send down their missing-value branch)."""

    columns: dict[str, drift.Kind]
    categories: dict[str, list[Any]]

    @classmethod
    def of(cls, frame: pd.DataFrame, columns: dict[str, drift.Kind]) -> InputTable:
        categories = {
            c: sorted(frame[c].dropna().astype("string").unique().tolist())
            for c, k in columns.items()
            if k == "categorical"
        }
        return cls(columns, categories)

    def matrix(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        out = {}
        for c, kind in self.columns.items():
            if kind == "numeric":
                out[c] = pd.to_numeric(frame[c], errors="coerce").to_numpy("float64")
            else:
                values = frame[c].astype("string")
                known = values.where(values.isin(self.categories[c]))  # pandas 4: unseen → NA
                codes = pd.Categorical(known, categories=self.categories[c]).codes
                out[c] = np.where(codes < 0, np.nan, codes).astype("float64")
        return out


@dataclass
class LossModels:
    """The fitted absolute- and squared-error models and what they need to read rows."""

    inputs: InputTable
    abs_model: Any
    sq_model: Any
    abs_spread: float  # sd of (|e| - predicted |e|) on the test split
    sq_spread: float  # sd of (e^2 - predicted e^2) on the test split
    reference: dict[str, float | None]  # the estimate on the test split itself


def _design(frame: pd.DataFrame, prediction: np.ndarray, models: LossModels) -> pd.DataFrame:
    """The inputs (InputTable) and the model's prediction."""
    out = models.inputs.matrix(frame)
    out[PREDICTION] = np.asarray(prediction, "float64")
    return pd.DataFrame(out)


def _regressor() -> Any:
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(
        learning_rate=0.05,
        max_iter=200,
        min_samples_leaf=40,
        early_stopping=False,
        random_state=SEED,
    )


def fit(
    frame: pd.DataFrame, prediction: np.ndarray, y: np.ndarray, columns: dict[str, drift.Kind]
) -> LossModels:
    """The loss models from the test split's features, predictions and truth."""
    models = LossModels(InputTable.of(frame, columns), _regressor(), _regressor(), 0.0, 0.0, {})
    X = _design(frame, prediction, models)
    err = np.asarray(prediction, "float64") - np.asarray(y, "float64")
    models.abs_model.fit(X, np.abs(err))
    models.sq_model.fit(X, err**2)
    fitted_abs, fitted_sq = _losses(models, X)
    models.abs_spread = float(np.std(np.abs(err) - fitted_abs))
    models.sq_spread = float(np.std(err**2 - fitted_sq))
    models.reference = _summary(fitted_abs, fitted_sq)
    return models


def _losses(models: LossModels, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.clip(models.abs_model.predict(X), 0, None),
        np.clip(models.sq_model.predict(X), 0, None),
    )


def _summary(abs_err: np.ndarray, sq_err: np.ndarray) -> dict[str, float | None]:
    if not len(abs_err):
        return {"mae": None, "rmse": None}
    return {"mae": float(abs_err.mean()), "rmse": float(np.sqrt(sq_err.mean()))}


def estimate(
    models: LossModels, frame: pd.DataFrame, prediction: np.ndarray
) -> dict[str, float | None]:
    """Estimated MAE and RMSE of the rows `frame` (featurized) with the model's `prediction`."""
    return _summary(*_losses(models, _design(frame, prediction, models)))


def sampling_sd(models: LossModels, rows: int, est: dict[str, float | None]) -> dict[str, float]:
    """Standard deviation of the realized MAE and RMSE of `rows` rows around the estimate."""
    if rows <= 0:
        return {"mae": float("nan"), "rmse": float("nan")}
    rmse = est.get("rmse") or 0.0
    sd_mse = models.sq_spread / np.sqrt(rows)
    return {
        "mae": float(models.abs_spread / np.sqrt(rows)),
        "rmse": float(sd_mse / (2 * rmse)) if rmse > 0 else float("nan"),
    }
