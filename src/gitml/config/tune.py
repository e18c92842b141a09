"""params.yaml `tune:`: the search, its space per model family, and how workers run it."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from gitml.config.base import Section


class FloatParam(Section):
    type: Literal["float"]
    low: float = Field(description="lowest value")
    high: float = Field(description="highest value")
    log: bool = Field(False, description="sample on a log scale")

    @model_validator(mode="after")
    def _range(self) -> FloatParam:
        _check_range(self.low, self.high, self.log)
        return self


class IntParam(Section):
    type: Literal["int"]
    low: int = Field(description="lowest value")
    high: int = Field(description="highest value")
    log: bool = Field(False, description="sample on a log scale")

    @model_validator(mode="after")
    def _range(self) -> IntParam:
        _check_range(self.low, self.high, self.log)
        return self


class CategoricalParam(Section):
    type: Literal["categorical"]
    choices: list[str | int | float | bool | None] = Field(
        min_length=1, description="the values to try (null: the estimator's None)"
    )


def _check_range(low: float, high: float, log: bool) -> None:
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise ValueError(f"need low <= high, got low={low}, high={high}")
    if log and low <= 0:
        raise ValueError(f"a log scale needs low > 0, got low={low}")


SearchParam = Annotated[FloatParam | IntParam | CategoricalParam, Field(discriminator="type")]
Family = Literal["hist_gradient_boosting", "logistic_regression"]


def _default_spaces() -> Any:
    return {
        "hist_gradient_boosting": {
            "learning_rate": FloatParam(type="float", low=0.02, high=0.3, log=True),
            "max_leaf_nodes": IntParam(type="int", low=8, high=64, log=True),
            "min_samples_leaf": IntParam(type="int", low=10, high=200, log=True),
            "l2_regularization": FloatParam(type="float", low=1e-4, high=10.0, log=True),
        },
        "logistic_regression": {
            "C": FloatParam(type="float", low=1e-3, high=100.0, log=True),
        },
    }


class TuneConfig(Section):
    """Optuna search over model families (search-space syntax: docs/params.md)."""

    metric: Literal["roc_auc", "average_precision", "neg_log_loss", "accuracy", "f1"] = Field(
        "roc_auc", description="the cross-validated objective"
    )
    n_trials: int = Field(30, ge=1, description="trials in total (a resumed study runs the rest)")
    timeout: float | None = Field(
        None, gt=0, description="seconds; stops early (results then depend on machine speed)"
    )
    cv_folds: int = Field(
        3, ge=2, le=20, description="stratified folds; trials are pruned between folds"
    )
    seed: int = Field(42, description="seeds the TPE sampler: same seed and storage, same result")
    storage: str | None = Field(
        None, description="Optuna storage URL (sqlite:///optuna.db, postgresql://…); null = memory"
    )
    study_name: str | None = Field(
        None, description="null = derived from the tune inputs, so a rerun resumes the study"
    )
    enqueue_defaults: bool = Field(
        True, description="trial 0 of each family = the estimator's defaults (a baseline)"
    )
    # Scaling: workers and the heartbeat keys say how the search runs and never change
    # the derived study name; subsample changes what is searched, so it does.
    workers: int = Field(
        1, ge=1, le=64, description="local worker processes (more than 1: not bit-reproducible)"
    )
    subsample: int | None = Field(
        None, ge=100, description="tune on a stratified sample of this many train rows"
    )
    heartbeat_interval: int = Field(
        10, ge=1, description="seconds between a worker's Optuna heartbeats (database storage)"
    )
    grace_period: int | None = Field(
        None, ge=1, description="seconds without heartbeat before a trial is retried; null = 2x"
    )
    max_retries: int = Field(3, ge=0, description="retries of a trial whose worker died")
    search_space: dict[Family, dict[str, SearchParam]] = Field(
        default_factory=_default_spaces,
        description="model families to search, each with its estimator parameters' ranges",
    )

    @field_validator("search_space")
    @classmethod
    def _valid_space(cls, space: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        from gitml.core.models import FAMILIES

        if not space:
            raise ValueError(f"declare at least one model family; allowed: {sorted(FAMILIES)}")
        for family, params in space.items():
            allowed = FAMILIES[family].tunable
            unknown = sorted(set(params) - allowed)
            if unknown:
                raise ValueError(f"{family} has no parameter {unknown}; allowed: {sorted(allowed)}")
        return space

    @model_validator(mode="after")
    def _grace_after_heartbeat(self) -> TuneConfig:
        # A grace period shorter than the heartbeat interval would fail live workers' trials.
        if self.grace_period is not None and self.grace_period <= self.heartbeat_interval:
            raise ValueError(
                f"grace_period ({self.grace_period} s) must be longer than heartbeat_interval "
                f"({self.heartbeat_interval} s)"
            )
        return self
