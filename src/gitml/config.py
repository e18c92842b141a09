"""Typed configuration: params.yaml is loaded once into these pydantic models.

Every model forbids unknown keys, so a misspelt key (`tune.n_trails`) stops the run with a
message that names the file, the key path, the value and what is allowed, instead of being
silently ignored. Each section maps one-to-one to a stage (DESIGN.md).
"""

from __future__ import annotations

import codecs
import difflib
import math
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo

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
    monotonic_increasing: list[str] = Field(
        default_factory=list,
        description="numeric inputs whose increase may never lower P(positive)",
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
    # Scaling (issue 7). workers and the heartbeat keys say how the search runs and never change
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

    @model_validator(mode="after")
    def _grace_after_heartbeat(self) -> TuneConfig:
        # A grace period shorter than the heartbeat interval would fail live workers' trials.
        if self.grace_period is not None and self.grace_period <= self.heartbeat_interval:
            raise ValueError(
                f"grace_period ({self.grace_period} s) must be longer than heartbeat_interval "
                f"({self.heartbeat_interval} s)"
            )
        return self


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


# --------------------------------------------------------------------------- promotion

# What evaluate writes to reports/evaluate/metrics.json; log_loss and brier are lower-is-better.
GateMetric = Literal[
    "roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1", "log_loss", "brier"
]
SliceMetric = Literal["roc_auc", "recall"]  # per-slice metrics in reports/evaluate/slices.json
Bound = Annotated[float, Field(ge=0)]
Drop = Annotated[float, Field(ge=-1, le=1)]


def _metric_map(**bounds: float) -> Any:  # typed as the field it fills (a dict of Literal keys)
    return bounds


class PromotionConfig(Section):
    """The gate `gitml promote` applies before a candidate replaces prod (README: Promotion)."""

    primary_metric: GateMetric = Field("roc_auc", description="the metric versions compete on")
    primary_floor: Bound | None = Field(
        0.85, description="absolute floor (a ceiling for log_loss/brier); null = none"
    )
    max_drop: Drop = Field(
        0.0, description="how much worse than prod the primary may be; negative = required gain"
    )
    floors: dict[GateMetric, Bound] = Field(
        default_factory=lambda: _metric_map(recall=0.5),
        description="absolute floors of secondary metrics (ceilings for log_loss/brier)",
    )
    max_drops: dict[GateMetric, Drop] = Field(
        default_factory=lambda: _metric_map(pr_auc=0.01, recall=0.05),
        description="how much worse than prod each secondary metric may be",
    )
    slice_floors: dict[SliceMetric, Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=lambda: _metric_map(roc_auc=0.75, recall=0.5),
        description="floor for every slice with at least slice_min_rows rows",
    )
    slice_min_rows: int = Field(100, ge=1, description="smaller slices are reported, not gated")
    max_slice_gap: Annotated[float, Field(ge=0, le=1)] | None = Field(
        0.15, description="largest best-minus-worst slice gap per column; null = none"
    )
    # 1e-3: two orders above what another CPU's last bits move a metric (about 1e-6, README
    # "Reproducibility"), below the smallest per-metric margin the default gate uses (0.01).
    reproduce_tolerance: Annotated[float, Field(ge=0, le=1)] = Field(
        1e-3,
        description="how far CI's reproduced metrics may be from the committed ones (absolute)",
    )

    @model_validator(mode="after")
    def _primary_once(self) -> PromotionConfig:
        twice = sorted({self.primary_metric} & (set(self.floors) | set(self.max_drops)))
        if twice:
            raise ValueError(
                f"{twice[0]} is the primary_metric: gate it with primary_floor and max_drop, "
                "not floors/max_drops"
            )
        return self


# --------------------------------------------------------------------------- monitor


class MonitorConfig(Section):
    """Drift and live-quality alarm rule of `gitml monitor` (README: Monitoring).

    Many features x tests inflate false alarms, so a distribution test alarms only when its
    p-value is below alpha / (number of tests) (Bonferroni) AND the shift is large enough to
    matter (PSI at least psi_threshold); a missing-rate test needs a change of at least
    missing_rate_delta as well.
    """

    since: str = Field("7d", description="default window: logged requests younger than this")
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
    max_roc_auc_drop: float = Field(0.05, ge=0, le=1, description="vs the evaluation metrics")
    max_accuracy_drop: float = Field(0.05, ge=0, le=1, description="vs the evaluation metrics")
    max_calibration_error_increase: float = Field(
        0.05, ge=0, le=1, description="expected calibration error, live minus evaluation"
    )
    calibration_bins: int = Field(10, ge=2, le=100)

    @field_validator("since")
    @classmethod
    def _duration(cls, text: str) -> str:
        from gitml.monitor import parse_since

        parse_since(text)  # raises ValueError with the allowed forms
        return text


class Params(Section):
    data: DataConfig = DataConfig()
    validate_: ValidateConfig = Field(ValidateConfig(), alias="validate")
    split: SplitConfig = SplitConfig()
    features: FeaturesConfig = FeaturesConfig()
    tune: TuneConfig = TuneConfig()
    train: TrainConfig = TrainConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    promotion: PromotionConfig = PromotionConfig()
    monitor: MonitorConfig = MonitorConfig()

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
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a params file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {yaml_problem(exc)}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of sections "
            f"({', '.join(_keys_of(Params))}), got {type(raw).__name__} {raw!r:.60}"
        )
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(path, exc)) from None


def yaml_problem(exc: yaml.YAMLError) -> str:
    """`line L, column C: problem (context at line L)` — pyyaml's own text names no file."""
    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem_mark is None:
        return str(exc)
    mark = exc.problem_mark
    text = f"line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
    if exc.context and exc.context_mark is not None:
        text += f" ({exc.context} that starts at line {exc.context_mark.line + 1})"
    return text


def format_validation_error(path: Path, exc: ValidationError) -> str:
    # A value that fails every member of a union gets one error per member: one line per key.
    problems: dict[str, list[str]] = {}
    for err in exc.errors(include_url=False):
        steps = _user_path(err["loc"])
        loc = [k for k, _ in steps]
        key = ".".join(loc) or "(top level)"
        container = steps[-1][1] if steps else Params
        # pydantic prefixes the messages of our own validators with "Value error, "
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            allowed = _keys_of(container)
            close = difflib.get_close_matches(loc[-1], allowed, n=1) if loc else []
            hint = f"did you mean {close[0]!r}? " if close else ""
            msg = f"unknown key; {hint}allowed keys here: {', '.join(allowed) or '(see README)'}"
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif err["loc"][-1:] == ("[key]",):  # a mapping key outside a Literal (a model family)
            msg = f"unknown key; allowed keys here: {err.get('ctx', {}).get('expected', msg)}"
        elif loc:
            msg += _bounds(container, loc[-1])
        value = "" if err["type"] == "missing" else f" = {err['input']!r}"
        problems.setdefault(f"{key}{value}", []).append(msg)
    lines = [f"{path}: {len(problems)} invalid value(s)"]
    lines += [f"  {where}: {'; or: '.join(msgs)}" for where, msgs in problems.items()]
    return "\n".join(lines)


def _user_path(loc: tuple[int | str, ...]) -> list[tuple[str, Any]]:
    """The error location as the keys a user writes, each with the type it is a key of.

    pydantic puts more than keys in a location: the member of a union it tried ('float',
    'literal[...]', 'constrained-float') and '[key]' for a bad mapping key. Walking the types
    tells those apart from real keys that happen to be spelt the same (`data: {float: 1}`).
    """
    steps: list[tuple[str, Any]] = []
    ann: Any = Params
    for part in loc:
        ann = _unwrap(ann)
        if get_origin(ann) in (Union, types.UnionType):
            ann = _union_member(ann, part)  # `part` names the member, not a key
            continue
        if part == "[key]":
            continue
        steps.append((str(part), ann))
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            field = _field(ann, str(part))
            ann = field.annotation if field else None
        elif get_origin(ann) is dict:
            ann = get_args(ann)[1]
        elif get_origin(ann) is list:
            ann = get_args(ann)[0]
        else:
            ann = None
    return steps


def _unwrap(ann: Any) -> Any:
    """`Annotated[X, ...]` and `X | None` are X for the walk (pydantic adds no tag for them)."""
    while True:
        if get_origin(ann) is Annotated:
            ann = get_args(ann)[0]
            continue
        if get_origin(ann) in (Union, types.UnionType):
            members = [a for a in get_args(ann) if a is not type(None)]
            if len(members) == 1:
                ann = members[0]
                continue
        return ann


def _union_member(union: Any, tag: object) -> Any:
    # A tagged union of models (the search-space parameters): the member whose `type` is `tag`.
    for member in get_args(union):
        member = _unwrap(member)
        if isinstance(member, type) and issubclass(member, BaseModel):
            field = member.model_fields.get("type")
            if field is not None and tag in get_args(field.annotation):
                return member
    return None


def _field(model: type[BaseModel], key: str) -> FieldInfo | None:
    return next((f for n, f in model.model_fields.items() if key in (n, f.alias)), None)


def _keys_of(container: Any) -> list[str]:
    if isinstance(container, type) and issubclass(container, BaseModel):
        return [f.alias or n for n, f in container.model_fields.items()]
    return []


_BOUND_OPS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<=", "min_length": "length >="}


def _bounds(container: Any, key: str) -> str:
    """` (allowed: > 0, < 1)` from the constraints of a plain field."""
    if not (isinstance(container, type) and issubclass(container, BaseModel)):
        return ""
    field = _field(container, key)
    if field is None:
        return ""
    rules = [
        f"{op} {getattr(m, attr)}"
        for m in field.metadata
        for attr, op in _BOUND_OPS.items()
        if getattr(m, attr, None) is not None
    ]
    return f" (allowed: {', '.join(rules)})" if rules else ""
