"""params.yaml `tune:`: the search, its space per model family, and how workers run it."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from gitml.config.base import Section
from gitml.core.tasks import Task


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
Family = Literal["hist_gradient_boosting", "logistic_regression", "linear"]
# scikit-learn scorer names (greater is better: `neg_` for an error), per task; the first is the
# task's default (binary roc_auc, multiclass roc_auc_ovr, regression RMSE minimised)
TuneMetric = Literal[
    "roc_auc", "average_precision", "neg_log_loss", "accuracy", "f1", "roc_auc_ovr",
    "balanced_accuracy", "f1_macro", "f1_weighted", "neg_root_mean_squared_error",
    "neg_mean_absolute_error", "r2",
]  # fmt: skip
TUNE_METRICS: dict[Task, tuple[str, ...]] = {
    Task.BINARY: ("roc_auc", "average_precision", "neg_log_loss", "accuracy", "f1"),
    Task.MULTICLASS: (
        "roc_auc_ovr",
        "neg_log_loss",
        "accuracy",
        "balanced_accuracy",
        "f1_macro",
        "f1_weighted",
    ),
    Task.REGRESSION: ("neg_root_mean_squared_error", "neg_mean_absolute_error", "r2"),
}


def _hgb_space() -> dict[str, Any]:
    return {
        "learning_rate": FloatParam(type="float", low=0.02, high=0.3, log=True),
        "max_leaf_nodes": IntParam(type="int", low=8, high=64, log=True),
        "min_samples_leaf": IntParam(type="int", low=10, high=200, log=True),
        "l2_regularization": FloatParam(type="float", low=1e-4, high=10.0, log=True),
    }


def _default_spaces() -> Any:
    return {
        "hist_gradient_boosting": _hgb_space(),
        "logistic_regression": {
            "C": FloatParam(type="float", low=1e-3, high=100.0, log=True),
        },
    }


def default_space(task: Task) -> dict[str, dict[str, Any]]:
    """The search space when params.yaml declares none: the task's families."""
    if task is not Task.REGRESSION:
        return dict(_default_spaces())
    linear = {"alpha": FloatParam(type="float", low=1e-3, high=1000.0, log=True)}
    return {"hist_gradient_boosting": _hgb_space(), "linear": linear}


def check_task(cfg: TuneConfig, task: Task) -> None:
    """The metric and families must exist for the task (ValueError naming the key and fix)."""
    from gitml.core.models import FAMILIES, families_for

    allowed = TUNE_METRICS[task]
    if cfg.metric not in allowed:
        raise ValueError(
            f"tune.metric: {cfg.metric!r} is not a metric of a {task} target (data.task); "
            f"use one of {', '.join(allowed)}"
        )
    families = families_for(task)
    for family, params in cfg.search_space.items():
        if family not in families:
            raise ValueError(
                f"tune.search_space: family {family!r} does not serve a {task} target "
                f"(data.task); families for it: {', '.join(families)}"
            )
        tunable = FAMILIES[family].tunable(task)
        unknown = sorted(set(params) - tunable)
        if unknown:
            raise ValueError(
                f"tune.search_space.{family}: a {task} {family} has no parameter {unknown}; "
                f"allowed: {sorted(tunable)}"
            )


class TuneConfig(Section):
    """Optuna search over model families (search-space syntax: docs/params.md)."""

    metric: TuneMetric = Field(
        "roc_auc",
        description="the cross-validated objective, a scikit-learn scorer name (greater is "
        "better). binary: roc_auc, average_precision, neg_log_loss, accuracy, f1; multiclass: "
        "roc_auc_ovr, neg_log_loss, accuracy, balanced_accuracy, f1_macro, f1_weighted; "
        "regression: neg_root_mean_squared_error, neg_mean_absolute_error, r2. Unset: the "
        "task's first",
    )
    n_trials: int = Field(30, ge=1, description="trials in total (a resumed study runs the rest)")
    timeout: float | None = Field(
        None, gt=0, description="seconds; stops early (results then depend on machine speed)"
    )
    cv_folds: int = Field(
        3,
        ge=2,
        le=20,
        description="stratified folds (regression: k-fold); trials are pruned between folds",
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
        description="model families to search, each with its estimator parameters' ranges "
        "(unset: the task's families, below)",
    )

    @field_validator("search_space")
    @classmethod
    def _valid_space(cls, space: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        from gitml.core.models import FAMILIES

        if not space:
            raise ValueError(f"declare at least one model family; allowed: {sorted(FAMILIES)}")
        for family, params in space.items():
            # the parameters of any task's estimator here; Params checks those of data.task
            spec = FAMILIES[family]
            allowed = set().union(*(spec.tunable(t) for t in spec.estimators))
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
