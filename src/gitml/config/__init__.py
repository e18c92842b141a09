"""Typed configuration: params.yaml is loaded once into these pydantic models.

Every model forbids unknown keys, so a misspelt key (`tune.n_trails`) stops the run with a
message that names the file, the key path, the value and what is allowed, instead of being
silently ignored. Each section maps one-to-one to a stage (docs/design.md).
"""

from gitml.config.base import Section
from gitml.config.data import (
    DataConfig,
    FeaturesConfig,
    LeakageConfig,
    SplitConfig,
    ValidateConfig,
)
from gitml.config.loader import (
    DEFAULT_PARAMS,
    Params,
    check_columns,
    format_validation_error,
    load_params,
    read_yaml,
)
from gitml.config.stages import (
    CanaryConfig,
    EvaluateConfig,
    MonitorConfig,
    PromotionConfig,
    TrainConfig,
)
from gitml.config.task_rules import primary_of, promotion_of, task_of_params
from gitml.config.tune import CategoricalParam, FloatParam, IntParam, SearchParam, TuneConfig

__all__ = [
    "DEFAULT_PARAMS", "CanaryConfig", "CategoricalParam", "DataConfig", "EvaluateConfig",
    "FeaturesConfig", "FloatParam", "IntParam", "LeakageConfig", "MonitorConfig", "Params",
    "PromotionConfig", "SearchParam", "Section", "SplitConfig", "TrainConfig", "TuneConfig",
    "ValidateConfig", "check_columns", "format_validation_error", "load_params", "primary_of",
    "promotion_of", "read_yaml", "task_of_params",
]  # fmt: skip
