"""params.yaml sections of the data stages: data, validate, split, features."""

from __future__ import annotations

import codecs
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from gitml.config.base import Section
from gitml.core.tasks import Task


class DataConfig(Section):
    """Where the raw data comes from and what to predict."""

    source: str = Field(
        "builtin:adult",
        description="builtin:adult, a local .csv/.csv.gz/.tsv/.parquet path, or an fsspec URL "
        "(s3://, https://…)",
    )
    target: str = Field(
        "income", min_length=1, description="the label column (after snake_case normalising)"
    )
    task: Task = Field(
        Task.BINARY,
        description="binary (two labels) | multiclass (class names: the target's distinct "
        "values) | regression (a finite number); `gitml init` proposes it",
    )
    positive_class: bool | int | Annotated[str, Field(min_length=1)] | None = Field(
        ">50K",
        description="binary: the label value that is 1: a string, an int (matches 1 and 1.0) or "
        "a bool; null for the other tasks (`dvc.yaml` tracks the key, so it stays)",
    )
    drop_columns: list[str] = Field(
        default_factory=list, description="columns never used (ids, free text, leaks)"
    )
    delimiter: str = Field(
        ",", min_length=1, max_length=1, description="CSV field separator (a .tsv needs a tab)"
    )
    encoding: str = Field("utf-8", description="text encoding of a CSV source")
    missing_markers: list[str] = Field(
        default_factory=lambda: ["", "?", "NA", "N/A", "null"],
        description="cell values (after trimming spaces) that mean missing",
    )
    extra_sources: list[str] = Field(
        default_factory=list,
        description="labelled production rows (`gitml harvest`: data/raw/production/); they "
        "join training, never the test split",
    )
    recent_share: float = Field(
        0.25,
        ge=0,
        lt=1,
        description="the newest share of production rows, held out as the recent-traffic slice",
    )

    @property
    def positive(self) -> bool | int | str:
        """The positive class of a binary target (the check makes sure a binary one has it)."""
        if self.positive_class is None:
            from gitml.errors import ConfigError

            raise ConfigError(f"data.positive_class: a {self.task} target has no positive class")
        return self.positive_class

    @model_validator(mode="after")
    def _positive_for_binary(self) -> DataConfig:
        if self.task is Task.BINARY and self.positive_class is None:
            raise ValueError(
                "data.positive_class: a binary target needs the label value that is 1 (or set "
                "data.task to multiclass or regression)"
            )
        return self

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, name: str) -> str:
        try:
            codecs.lookup(name)
        except LookupError:
            raise ValueError(
                "unknown text encoding; use a Python codec name such as utf-8, latin-1, cp1252"
            ) from None
        return name


class LeakageConfig(Section):
    """The leakage guard: features that predict the target alone too well to be true."""

    max_single_feature_auc: float = Field(
        0.95,
        gt=0.5,
        le=1,
        description="out-of-fold ROC-AUC of one feature alone, on train (multiclass: "
        "one-vs-rest, macro)",
    )
    max_single_feature_r2: float = Field(
        0.9,
        gt=0,
        le=1,
        description="regression only: out-of-fold R² of one feature alone (or its rank form, the "
        "squared Spearman correlation), on train",
    )
    mode: Literal["error", "warn"] = Field(
        "error", description="error: stop before training; warn: report and go on"
    )
    allow: list[str] = Field(
        default_factory=list, description="columns whose strong signal is real (not a leak)"
    )


class ValidateConfig(Section):
    """Data contract: the reviewed pandera schema plus data-quality thresholds."""

    schema_file: str = Field(
        "schema/adult.schema.yaml",
        min_length=1,
        description="the reviewed pandera schema (draft one with `gitml schema infer`)",
    )
    max_missing_rate: float = Field(0.1, ge=0, le=1, description="per column")
    max_duplicate_rate: float = Field(
        0.15, ge=0, le=1, description="share of exact duplicate rows (Adult: 10.6%, no id column)"
    )
    min_rows: int = Field(1000, ge=1, description="fewer rows fail validation")
    min_minority_rate: float = Field(
        0.05,
        ge=0,
        le=0.5,
        description="share of the rarer label (label balance); multiclass: of the rarest class; "
        "not for regression",
    )
    max_categories: int = Field(
        200, ge=2, description="most distinct values a text column may have (ids are not features)"
    )
    leakage: LeakageConfig = LeakageConfig()


class SplitConfig(Section):
    """The train/test split: stratified by the label (regression: by the target's quantile
    bins) and seeded."""

    test_size: float = Field(0.2, gt=0, lt=1, description="share of rows in the test split")
    seed: int = Field(42, description="seed of the split")
    group_column: str | None = Field(
        None, description="rows of one group stay on one side (CV folds too); not a feature"
    )
    time_column: str | None = Field(
        None, description="test = the latest rows by this column (not with group_column)"
    )

    @model_validator(mode="after")
    def _one_strategy(self) -> SplitConfig:
        if self.group_column and self.time_column:
            raise ValueError("set group_column or time_column, not both")
        return self


class FeaturesConfig(Section):
    """Stateless row-wise features, the same at training and serving time."""

    derived: list[str] = Field(
        default_factory=lambda: ["net_capital", "log_capital_gain", "log_capital_loss"],
        description="names from gitml.core.features.REGISTRY (below)",
    )
    monotonic_increasing: list[str] = Field(
        default_factory=list,
        description="numeric inputs whose increase may never lower P(positive) (regression: "
        "the prediction); not for multiclass",
    )

    @field_validator("derived")
    @classmethod
    def _known(cls, names: list[str]) -> list[str]:
        from gitml.core.features import REGISTRY

        unknown = [n for n in names if n not in REGISTRY]
        if unknown:
            raise ValueError(f"unknown feature {unknown}; allowed: {sorted(REGISTRY)}")
        if len(set(names)) != len(names):
            raise ValueError("a feature is listed twice")
        return names
