"""params.yaml sections after tuning: train, evaluate, promotion and monitor."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from gitml.config.base import Section
from gitml.core.metrics import (
    LOWER_IS_BETTER,
    UNIT_INTERVAL,
    GateMetric,
    SliceMetric,
)


class TrainConfig(Section):
    """The final fit on all training rows, and its decision threshold."""

    threshold: Literal["f1", "youden"] | Annotated[float, Field(gt=0, lt=1)] = Field(
        "f1",
        description="binary only: f1 / youden, chosen on out-of-fold train predictions; or a "
        "number",
    )
    cv_folds: int = Field(5, ge=2, le=20, description="folds for the out-of-fold predictions")
    calibration: Literal["auto", "isotonic", "sigmoid", "none"] = Field(
        "auto",
        description="calibrate scores out of fold (CalibratedClassifierCV); auto = binary: "
        "isotonic or sigmoid, whichever has the lower cross-validated log loss; multiclass: "
        "none, isotonic or sigmoid, the same way (a map is applied only where it helps); "
        "none = raw scores; not for regression",
    )
    seed: int = Field(42, description="seed of the folds and the estimator")


class EvaluateConfig(Section):
    """Test-split metrics, slices (fairness review), plots and permutation importance."""

    slices: list[str] = Field(
        default_factory=lambda: ["gender", "race"],
        description="columns to report per-value metrics and the largest gap for",
    )
    min_slice_rows: int = Field(30, ge=1, description="smaller slices are listed, not ranked")
    permutation_repeats: int = Field(5, ge=1, description="permutation importance repeats")
    top_features: int = Field(15, ge=1, description="features kept in importance.csv")
    calibration_bins: int = Field(10, ge=2, description="bins of the calibration curve")
    seed: int = Field(42, description="seed of the permutation importance")
    max_importance_share: float = Field(
        0.8, gt=0, le=1, description="warn when one feature has more of the permutation importance"
    )
    max_roc_auc: float = Field(
        0.99,
        gt=0.5,
        le=1,
        description="warn when test ROC-AUC (multiclass: one-vs-rest; regression: R²) is "
        "above: too good to be true?",
    )


Bound = Annotated[float, Field(ge=0)]
# How much worse than prod a metric may be, in the metric's units: within ±1 for a metric
# bounded in [0, 1], any finite number for the others (PromotionConfig._drops_fit_their_metric).
Drop = Annotated[float, Field(allow_inf_nan=False)]
_DROP_UNITS = (
    "in the metric's units: between -1 and 1 for a score in [0, 1], any finite number for rmse, "
    "mae, mape, log_loss, r2"
)


def _metric_map(**bounds: float) -> Any:  # typed as the field it fills (a dict of Literal keys)
    return bounds


def _duration(text: str) -> str:
    from gitml.core.duration import parse_since

    if parse_since(text) is None:  # raises ValueError with the allowed forms
        raise ValueError("'all' is not a length of time here; use e.g. 1d or 14d")
    return text


class CanaryConfig(Section):
    """A canary earns prod (docs/promotion.md, "Canary"): with `enabled`, a passed gate assigns
    the GTO stage `canary`, not `prod`, and `gitml canary decide` compares it with prod on the
    prediction log. It promotes only when the lower end of the interval of canary minus prod is
    above -max_drop, on at least min_labelled_rows labelled rows per version and after
    min_duration; it ends the canary when the upper end is below -max_drop, or when nothing
    is decided after max_duration; else it waits."""

    enabled: bool = Field(
        False, description="a passed gate assigns `canary` instead of `prod`; false = merge → prod"
    )
    share: float = Field(
        0.1, gt=0, lt=1, description="share of requests the following server sends to the canary"
    )
    metric: Literal["roc_auc", "accuracy", "f1_macro", "mae", "rmse"] = Field(
        "roc_auc",
        description="the live metric (rows with feedback) canary and prod compete on: binary "
        "roc_auc | accuracy, multiclass accuracy | f1_macro, regression mae | rmse (the "
        "default follows data.task)",
    )
    max_drop: float = Field(
        0.01,
        ge=0,
        description="how much worse than prod the canary may be (the interval of canary - prod "
        "must stay above -max_drop; below +max_drop for mae and rmse, in the target's units)",
    )
    max_error_rate_increase: Annotated[float, Field(ge=0, le=1)] | None = Field(
        None, description="misclassification rate (labelled rows), canary minus prod: the "
        "interval's upper end must stay below it; null = not gated (regression: must be null)",
    )  # fmt: skip
    confidence: float = Field(
        0.95, gt=0.5, lt=1, description="two-sided level of the bootstrap intervals"
    )
    min_rows: int = Field(1000, ge=1, description="fewer logged rows of either version: wait")
    min_labelled_rows: int = Field(
        5000, ge=10, description="fewer rows with feedback of either version: wait"
    )
    min_duration: str = Field("1d", description="younger canary (since its assignment): wait")
    max_duration: str = Field(
        "14d", description="still undecided this long after its assignment: end the canary"
    )

    _durations = field_validator("min_duration", "max_duration")(_duration)

    @model_validator(mode="after")
    def _score_drop(self) -> CanaryConfig:
        if self.max_drop > 1 and self.metric not in LOWER_IS_BETTER:
            raise ValueError(f"max_drop: {self.metric} is a score between 0 and 1: at most 1")
        return self


def _check_drop(metric: str, drop: float, role: str) -> None:
    """A score bounded in [0, 1] cannot get worse by more than 1: a larger allowance is a
    mistake (a percentage, or a bound meant for an error metric). Errors in the target's units
    (rmse, mae) and the other unbounded metrics take any finite number."""
    if metric in UNIT_INTERVAL and not -1 <= drop <= 1:
        raise ValueError(
            f"{metric}{role} is a score between 0 and 1, so how much worse it may be lies "
            f"between -1 and 1 (got {drop}); only metrics without that bound (e.g. rmse, mae "
            "in the target's units) take a larger number"
        )


class PromotionConfig(Section):
    """The gate `gitml promote` applies before a candidate replaces prod (docs/promotion.md)."""

    primary_metric: GateMetric = Field("roc_auc", description="the metric versions compete on")
    primary_floor: Bound | None = Field(
        0.85,
        description="absolute floor (a ceiling for the lower-is-better log_loss, brier, rmse, "
        "mae, mape); null = none",
    )
    max_drop: Drop = Field(
        0.0,
        description="how much worse than prod the primary may be; negative = required gain; "
        + _DROP_UNITS,
    )
    floors: dict[GateMetric, Bound] = Field(
        default_factory=lambda: _metric_map(recall=0.5),
        description="absolute floors of secondary metrics (ceilings for lower-is-better ones)",
    )
    max_drops: dict[GateMetric, Drop] = Field(
        default_factory=lambda: _metric_map(pr_auc=0.01, recall=0.05),
        description="how much worse than prod each secondary metric may be; " + _DROP_UNITS,
    )
    slice_floors: dict[SliceMetric, Bound] = Field(
        default_factory=lambda: _metric_map(roc_auc=0.75, recall=0.5),
        description="floor for every slice with at least slice_min_rows rows (a ceiling for "
        "rmse and mae, in the target's units)",
    )
    slice_min_rows: int = Field(100, ge=1, description="smaller slices are reported, not gated")
    max_slice_gap: Bound | None = Field(
        0.15,
        description="largest best-minus-worst slice gap per column (regression: in the "
        "target's units); null = none",
    )
    # 1e-3: two orders above what another CPU's last bits move a metric (about 1e-6, README
    # "Reproducibility"), below the smallest per-metric margin the default gate uses (0.01).
    reproduce_tolerance: Annotated[float, Field(ge=0, le=1)] = Field(
        1e-3,
        description="how far CI's reproduced metrics may be from the committed ones (absolute)",
    )
    recent_max_drop: Drop | None = Field(
        None,
        description="recent traffic (the newest labelled production rows): how much worse than "
        "prod on the same rows the candidate's primary metric may be (" + _DROP_UNITS + "); "
        "null = not gated",
    )
    recent_min_rows: int = Field(
        200, ge=1, description="fewer recent-traffic rows: reported, not gated"
    )
    canary: CanaryConfig = Field(
        default_factory=CanaryConfig, description="merge → canary → prod (off: merge → prod)"
    )

    @field_validator("slice_floors")
    @classmethod
    def _scores_to_one(cls, floors: dict[str, float]) -> dict[str, float]:
        over = sorted(m for m, v in floors.items() if v > 1 and m not in LOWER_IS_BETTER)
        if over:
            raise ValueError(f"{over[0]} is a score between 0 and 1: its floor must be <= 1")
        return floors

    @field_validator("max_drop", "recent_max_drop")
    @classmethod
    def _primary_drop_fits(cls, drop: float | None, info: ValidationInfo) -> float | None:
        primary = info.data.get("primary_metric")  # absent: its own error is reported
        if drop is not None and primary is not None:
            _check_drop(str(primary), drop, " (the primary_metric)")
        return drop

    @field_validator("max_drops")
    @classmethod
    def _drops_fit_their_metric(cls, drops: dict[str, float]) -> dict[str, float]:
        for metric, drop in drops.items():
            _check_drop(metric, drop, "")
        return drops

    @model_validator(mode="after")
    def _primary_once(self) -> PromotionConfig:
        twice = sorted({self.primary_metric} & (set(self.floors) | set(self.max_drops)))
        if twice:
            raise ValueError(
                f"{twice[0]} is the primary_metric: gate it with primary_floor and max_drop, "
                "not floors/max_drops"
            )
        return self


class MonitorConfig(Section):
    """Drift and live-quality alarm rule of `gitml monitor` (docs/monitoring.md).

    Many features x tests inflate false alarms, so a distribution test alarms only when its
    p-value is below alpha / (number of tests) (Bonferroni) AND the shift is large enough to
    matter (PSI at least psi_threshold); a missing-rate test needs a change of at least
    missing_rate_delta as well.
    """

    since: str = Field(
        "7d", description="default window: logged requests younger than this (30m, 24h, 1d12h, all)"
    )
    alpha: float = Field(
        0.01, gt=0, lt=1, description="family-wise false-alarm rate, Bonferroni-split over tests"
    )
    psi_threshold: float = Field(0.1, gt=0, description="effect-size floor of a drift alarm")
    bins: int = Field(10, ge=2, le=100, description="quantile bins of numeric features for PSI")
    min_expected: float = Field(
        5.0, gt=0, description="rarer categories (expected count) are pooled into '(other)'"
    )
    missing_rate_delta: float = Field(0.05, gt=0, le=1, description="missing-rate change floor")
    max_unseen_share: float = Field(
        0.01, ge=0, le=1, description="share of rows with a category absent from training"
    )
    max_invalid_share: float = Field(
        0.01, ge=0, le=1, description="share of rows breaking the data contract (schema)"
    )
    min_rows: int = Field(100, ge=1, description="fewer logged rows: no verdict (exit 0)")
    min_feedback_rows: int = Field(200, ge=2, description="fewer: live quality not judged")
    max_roc_auc_drop: float = Field(
        0.05, ge=0, le=1, description="binary only: live ROC-AUC vs the evaluation's"
    )
    max_accuracy_drop: float = Field(
        0.05,
        ge=0,
        le=1,
        description="vs the evaluation metrics (multiclass: accuracy and f1_macro; regression: "
        "mae and rmse, as a fraction of the evaluation's)",
    )
    max_calibration_error_increase: float = Field(
        0.05,
        ge=0,
        le=1,
        description="binary only: expected calibration error, live minus evaluation",
    )
    calibration_bins: int = Field(
        10,
        ge=2,
        le=100,
        description="binary only: equal-width score bins of the calibration error",
    )
    estimated_metric: Literal["roc_auc", "accuracy", "precision", "recall", "f1"] = Field(
        "roc_auc",
        description="the metric the performance estimate (CBPE) alarms on (multiclass: "
        "accuracy, or f1 for macro-F1; left out, accuracy); not for regression (mae)",
    )
    max_estimated_drop: float = Field(
        0.02,
        ge=0,
        le=1,
        description="estimated metric below the reference's own estimate (the test split's "
        "scores) by more alarms",
    )
    max_prior_shift: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="binary only: label shift: the share of positives estimated from the "
        "scores (EM) differs from the evaluation's by more alarms, when the inputs fit a label "
        "shift",
    )
    band_sigmas: float = Field(
        3.0,
        gt=0,
        description="sampling band of the estimate, in standard deviations; a realized value "
        "outside it (rows with feedback) is a concept-drift alarm",
    )

    @field_validator("since")
    @classmethod
    def _duration(cls, text: str) -> str:
        from gitml.core.duration import parse_since

        parse_since(text)  # raises ValueError with the allowed forms
        return text
