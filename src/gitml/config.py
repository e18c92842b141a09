"""Typed configuration: params.yaml is loaded once into these pydantic models.

Every model forbids unknown keys, so a misspelt key (`tune.n_trails`) stops the run with a
message that names the file, the key path, the value and what is allowed, instead of being
silently ignored. Each section maps one-to-one to a stage (DESIGN.md).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gitml.errors import ConfigError

DEFAULT_PARAMS = Path("params.yaml")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- data / validation


class DataConfig(Section):
    """Where the raw data comes from and what to predict."""

    source: str = Field(
        "builtin:adult",
        description="builtin:adult, a local CSV/Parquet path, or an fsspec URL (s3://, https://…)",
    )
    target: str = Field("income", min_length=1, description="the label column")
    positive_class: str = Field(">50K", min_length=1, description="the label value that is 1")
    drop_columns: list[str] = Field(default_factory=list, description="columns never used")
    delimiter: str = Field(",", min_length=1, max_length=1, description="CSV field separator")
    encoding: str = Field("utf-8", description="text encoding of a CSV source")
    missing_markers: list[str] = Field(
        default_factory=lambda: ["", "?", "NA", "N/A", "null"],
        description="cell values (after trimming spaces) that mean missing",
    )


class ValidateConfig(Section):
    """Data contract: the reviewed pandera schema plus data-quality thresholds."""

    schema_file: str = Field("schema/adult.schema.yaml", min_length=1)
    max_missing_rate: float = Field(0.1, ge=0, le=1, description="per column")
    max_duplicate_rate: float = Field(
        0.15, ge=0, le=1, description="share of exact duplicate rows (Adult: 10.6%, no id column)"
    )
    min_rows: int = Field(1000, ge=1)
    min_minority_rate: float = Field(
        0.05, ge=0, le=0.5, description="share of the rarer label (label balance)"
    )
    max_categories: int = Field(
        200, ge=2, description="most distinct values a text column may have (ids are not features)"
    )


class SplitConfig(Section):
    test_size: float = Field(0.2, gt=0, lt=1)
    seed: int = 42
    group_column: str | None = Field(None, description="rows of one group stay on one side")
    time_column: str | None = Field(None, description="test = the latest rows by this column")

    @model_validator(mode="after")
    def _one_strategy(self) -> SplitConfig:
        if self.group_column and self.time_column:
            raise ValueError("set group_column or time_column, not both")
        return self


class FeaturesConfig(Section):
    derived: list[str] = Field(
        default_factory=lambda: ["net_capital", "log_capital_gain", "log_capital_loss"],
        description="names from gitml.features.REGISTRY",
    )

    @field_validator("derived")
    @classmethod
    def _known(cls, names: list[str]) -> list[str]:
        from gitml.features import REGISTRY

        unknown = [n for n in names if n not in REGISTRY]
        if unknown:
            raise ValueError(f"unknown feature {unknown}; allowed: {sorted(REGISTRY)}")
        if len(set(names)) != len(names):
            raise ValueError("a feature is listed twice")
        return names


# --------------------------------------------------------------------------- tuning


class FloatParam(Section):
    type: Literal["float"]
    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _range(self) -> FloatParam:
        _check_range(self.low, self.high, self.log)
        return self


class IntParam(Section):
    type: Literal["int"]
    low: int
    high: int
    log: bool = False

    @model_validator(mode="after")
    def _range(self) -> IntParam:
        _check_range(self.low, self.high, self.log)
        return self


class CategoricalParam(Section):
    type: Literal["categorical"]
    choices: list[str | int | float | bool | None] = Field(min_length=1)


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
    """Optuna search over model families; see README for the search-space syntax."""

    metric: Literal["roc_auc", "average_precision", "neg_log_loss", "accuracy", "f1"] = "roc_auc"
    n_trials: int = Field(30, ge=1)
    timeout: float | None = Field(
        None, gt=0, description="seconds; stops early (results then depend on machine speed)"
    )
    cv_folds: int = Field(3, ge=2, le=20)
    seed: int = 42
    storage: str | None = Field(None, description="Optuna storage URL; null = in memory")
    study_name: str | None = None
    enqueue_defaults: bool = Field(
        True, description="trial 0 of each family = the estimator's defaults (a baseline)"
    )
    search_space: dict[Family, dict[str, SearchParam]] = Field(default_factory=_default_spaces)

    @field_validator("search_space")
    @classmethod
    def _valid_space(cls, space: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        from gitml.models import FAMILIES

        if not space:
            raise ValueError(f"declare at least one model family; allowed: {sorted(FAMILIES)}")
        for family, params in space.items():
            allowed = FAMILIES[family].tunable
            unknown = sorted(set(params) - allowed)
            if unknown:
                raise ValueError(f"{family} has no parameter {unknown}; allowed: {sorted(allowed)}")
        return space


# --------------------------------------------------------------------------- train / evaluate


class TrainConfig(Section):
    threshold: Literal["f1", "youden"] | Annotated[float, Field(gt=0, lt=1)] = Field(
        "f1", description="f1 / youden: chosen on out-of-fold train predictions; or a number"
    )
    cv_folds: int = Field(5, ge=2, le=20, description="folds for the out-of-fold predictions")
    seed: int = 42


class EvaluateConfig(Section):
    slices: list[str] = Field(default_factory=lambda: ["gender", "race"])
    min_slice_rows: int = Field(30, ge=1, description="smaller slices are listed, not ranked")
    permutation_repeats: int = Field(5, ge=1)
    top_features: int = Field(15, ge=1)
    calibration_bins: int = Field(10, ge=2)
    seed: int = 42


class Params(Section):
    data: DataConfig = DataConfig()
    validate_: ValidateConfig = Field(ValidateConfig(), alias="validate")
    split: SplitConfig = SplitConfig()
    features: FeaturesConfig = FeaturesConfig()
    tune: TuneConfig = TuneConfig()
    train: TrainConfig = TrainConfig()
    evaluate: EvaluateConfig = EvaluateConfig()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _cross_section(self) -> Params:
        reserved = {self.data.target, self.split.group_column, self.split.time_column}
        bad = sorted(c for c in self.evaluate.slices if c in reserved)
        if bad:
            raise ValueError(f"evaluate.slices cannot use the target/group/time column {bad}")
        return self


# --------------------------------------------------------------------------- loading


def load_params(path: Path | str = DEFAULT_PARAMS) -> Params:
    """Read and validate params.yaml; raise ConfigError naming file, key, value and rule."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found (run from the repository root)") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(path, exc)) from None


def format_validation_error(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: {exc.error_count()} invalid value(s)"]
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err["loc"] if not _is_union_tag(p)]
        key = ".".join(loc) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc[:-1])
            msg = f"unknown key; allowed keys here: {', '.join(allowed)}"
        elif err["type"] == "missing":
            msg = "required key is missing"
        value = "" if err["type"] == "missing" else f" = {err['input']!r}"
        lines.append(f"  {key}{value}: {msg}")
    return "\n".join(lines)


def _is_union_tag(part: object) -> bool:
    # pydantic adds the member's tag (e.g. 'float', 'literal[...]') to the location of union errors
    return isinstance(part, str) and (part in {"float", "int", "categorical"} or "[" in part)


def _allowed_keys(parent: list[str]) -> list[str]:
    model: type[BaseModel] | None = Params
    for part in parent:
        if model is None:
            break
        field = next(
            (f for n, f in model.model_fields.items() if part in (n, f.alias)),
            None,
        )
        ann = field.annotation if field else None
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    if model is None:
        return ["(see README)"]
    return [f.alias or n for n, f in model.model_fields.items()]
