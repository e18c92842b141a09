"""The gate's and the canary's rules per task (data.task): the defaults a multiclass or a
regression project starts from, and the check that every metric a rule names exists for the
task. The sections themselves (PromotionConfig, CanaryConfig) are in config/stages.py."""

from __future__ import annotations

from typing import Any

from gitml.config.stages import CanaryConfig, PromotionConfig
from gitml.core.metrics import TASK_METRICS, TASK_PRIMARY, TASK_SLICE_METRICS

# The metrics `gitml canary` can compare per task: each a mean over rows (or a ratio of such
# sums) that the weighted bootstrap of gitml.monitor.canary computes without re-sorting.
CANARY_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("roc_auc", "accuracy"),
    "multiclass": ("accuracy", "f1_macro"),
    "regression": ("mae", "rmse"),
}


def canary_problems(cfg: CanaryConfig, task: str) -> list[str]:
    """promotion.canary's settings a model of `task` cannot be judged by."""
    problems = []
    if cfg.metric not in CANARY_METRICS[task]:
        problems.append(
            f"promotion.canary.metric: {cfg.metric!r} is not a canary metric of a {task} model "
            f"(data.task: {task}); use one of {', '.join(CANARY_METRICS[task])}"
        )
    if task == "regression" and cfg.max_error_rate_increase is not None:
        problems.append(
            "promotion.canary.max_error_rate_increase: a regression model has no "
            "misclassification rate (data.task: regression); set it to null"
        )
    return problems


# The rules a multiclass or regression project starts from where its `promotion:` leaves a key
# out (the defaults above are the binary ones). Bounds in a regression target's units cannot be
# guessed, so a regression project gates on not being worse than prod until it sets some.
TASK_PROMOTION: dict[str, dict[str, Any]] = {
    "multiclass": {
        "primary_metric": "roc_auc_ovr",
        "primary_floor": None,
        "floors": {},
        "max_drops": {"f1_macro": 0.02},
        "slice_floors": {},
        "canary": {"metric": "accuracy"},
    },
    "regression": {
        "primary_metric": "rmse",
        "primary_floor": None,
        "floors": {},
        "max_drops": {},
        "slice_floors": {},
        "max_slice_gap": None,
        "canary": {"metric": "mae"},
    },
}


def with_task_defaults(section: Any, task: Any) -> Any:
    """`promotion:` as written, the keys it leaves out taken from the task's defaults."""
    if not isinstance(section, dict | None):
        return section  # not a mapping: PromotionConfig's own validation says so
    defaults = TASK_PROMOTION.get(str(task), {})
    out = defaults | (section or {})
    canary = out.get("canary")
    if "canary" in defaults and isinstance(canary, dict):  # `canary: {enabled: true}` keeps
        out["canary"] = defaults["canary"] | canary  # the task's metric
    return out


def task_metric_problems(cfg: PromotionConfig, task: str) -> list[str]:
    """Each rule naming a metric that a model of `task` does not have, with the valid names:
    the gate's and the canary's."""
    return gate_metric_problems(cfg, task) + canary_problems(cfg.canary, str(task))


def gate_metric_problems(cfg: PromotionConfig, task: str) -> list[str]:
    """Each gate rule naming a metric that a model of `task` does not have."""
    task = str(task)
    valid, valid_slices = TASK_METRICS[task], TASK_SLICE_METRICS[task]
    named = [("primary_metric", cfg.primary_metric)]
    named += [(f"floors.{m}", m) for m in cfg.floors]
    named += [(f"max_drops.{m}", m) for m in cfg.max_drops]
    problems = [
        f"promotion.{key}: {metric!r} is not a metric of a {task} model (data.task: {task}); "
        f"use one of {', '.join(valid)}"
        for key, metric in named
        if metric not in valid
    ]
    problems += [
        f"promotion.slice_floors.{m}: {m!r} is not a slice metric of a {task} model "
        f"(data.task: {task}); use one of {', '.join(valid_slices)}"
        for m in cfg.slice_floors
        if m not in valid_slices
    ]
    return problems


def promotion_for(section: Any, task: Any) -> PromotionConfig:
    """`promotion:` of a params.yaml whose `data.task` is `task`: the task's defaults filled
    in, every metric it names checked against the task (ValueError naming the key)."""
    cfg = PromotionConfig.model_validate(with_task_defaults(section, task))
    problems = task_metric_problems(cfg, task)
    if problems:
        raise ValueError("; ".join(problems))
    return cfg


def task_of_params(params: Any) -> str:
    """`data.task` of a params.yaml read as a plain mapping (binary when left out: the only
    task before the key existed)."""
    data = params.get("data") if isinstance(params, dict) else None
    return str((data.get("task") if isinstance(data, dict) else None) or "binary")


def promotion_of(params: Any) -> PromotionConfig:
    """The gate's rules in a params.yaml read as a plain mapping (another commit's, the base's):
    its `promotion:` for its `data.task`, without validating the other sections."""
    if not isinstance(params, dict):
        raise ValueError(f"the top level must be a mapping, not {type(params).__name__}")
    task = task_of_params(params)
    if task not in TASK_METRICS:
        raise ValueError(f"data.task = {task!r}: use one of {', '.join(TASK_METRICS)}")
    return promotion_for(params.get("promotion"), task)


def primary_of(params: Any) -> str:
    """`promotion.primary_metric` of a params.yaml mapping, else its task's default."""
    promotion = params.get("promotion") if isinstance(params, dict) else None
    named = promotion.get("primary_metric") if isinstance(promotion, dict) else None
    return str(named or TASK_PRIMARY.get(task_of_params(params), TASK_PRIMARY["binary"]))


# --------------------------------------------------------------------------- monitor
