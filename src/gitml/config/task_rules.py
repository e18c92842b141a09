"""The gate's and the canary's rules per task (data.task): the defaults a multiclass or a
regression project starts from, and the check that every metric a rule names exists for the
task. The sections themselves (PromotionConfig, CanaryConfig) are in config/stages.py."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from gitml.config.stages import CanaryConfig, PromotionConfig
from gitml.core.metrics import TASK_METRICS, TASK_PRIMARY, TASK_SLICE_METRICS

# The metrics `gitml canary` can compare per task: each a mean over rows (or a ratio of such
# sums) that the weighted bootstrap of gitml.monitor.canary computes without re-sorting.
CANARY_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("roc_auc", "accuracy"),
    "multiclass": ("accuracy", "f1_macro"),
    "regression": ("mae", "rmse"),
}


def task_names(keys: list[str], task: str) -> tuple[str, tuple[str, ...]] | None:
    """What the value (or the mapping key) at `keys` names and the names a model of `task`
    has, for the keys whose type allows every task's names (a Literal): its error then lists
    the task's own, as the params check's per-task rules do. None for any other key."""
    from gitml.config.tune import TUNE_METRICS
    from gitml.core.models import families_for
    from gitml.core.tasks import Task

    match keys:
        case ["promotion", "primary_metric"] | ["promotion", "floors" | "max_drops", _]:
            return "metric", TASK_METRICS[task]
        case ["promotion", "slice_floors", _]:
            return "slice metric", TASK_SLICE_METRICS[task]
        case ["promotion", "canary", "metric"]:
            return "canary metric", CANARY_METRICS[task]
        case ["tune", "metric"]:
            return "tune metric", TUNE_METRICS[Task(task)]
        case ["tune", "search_space", _]:
            return "model family", tuple(families_for(Task(task)))
    return None


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


# Keys that mean something for some tasks only: the tasks they serve, and why a model of another
# task ({task}) has no use for one ({predicts}: what such a model predicts) and what to do. Set
# explicitly for another task, a key is refused as an unknown key is, instead of being ignored;
# a key left out (its default) or null is not a setting. `gitml init` removes them
# (project/init.py), so its draft for any task loads.
_PREDICTS = {"binary": "P(positive class)", "multiclass": "the most probable class",
             "regression": "a number"}  # fmt: skip
_BINARY, _CLASSIFIER = frozenset({"binary"}), frozenset({"binary", "multiclass"})
_LIVE = {"multiclass": "accuracy and f1_macro", "regression": "mae and rmse"}
TASK_KEYS: dict[str, tuple[frozenset[str], str]] = {
    "data.positive_class": (
        _BINARY,
        "only a binary target has a positive class; a {task} model (data.task: {task}) "
        "predicts {predicts}. Set it to null (dvc.yaml tracks the key, so it stays)",
    ),
    "validate.min_minority_rate": (
        _CLASSIFIER,
        "only a classification target has a rarest label or class to check the share of; a "
        "{task} target (data.task: {task}) is a number. Remove the key",
    ),
    "validate.leakage.max_single_feature_r2": (
        frozenset({"regression"}),
        "only a regression target's leakage guard scores R²; a {task} target's (data.task: "
        "{task}) scores ROC-AUC, limited by validate.leakage.max_single_feature_auc. Remove "
        "the key",
    ),
    "train.threshold": (
        _BINARY,
        "only a binary model has a decision threshold; a {task} model (data.task: {task}) "
        "predicts {predicts}. Remove the key",
    ),
    "train.calibration": (
        _CLASSIFIER,
        "only a classifier's probabilities are calibrated; a {task} model (data.task: {task}) "
        "predicts {predicts}. Remove the key",
    ),
    "monitor.max_roc_auc_drop": (
        _BINARY,
        "only a binary model's live ROC-AUC is judged; a {task} model's (data.task: {task}) "
        "live {live} are judged by monitor.max_accuracy_drop. Remove the key",
    ),
    "monitor.max_calibration_error_increase": (
        _BINARY,
        "only a binary model's live calibration error is judged, not a {task} model's "
        "(data.task: {task}). Remove the key",
    ),
    "monitor.calibration_bins": (
        _BINARY,
        "the bins of the live calibration error, which only a binary model's monitor "
        "measures, not a {task} model's (data.task: {task}). Remove the key",
    ),
    "monitor.max_prior_shift": (
        _BINARY,
        "only a binary model has a share of positives whose shift (label shift) the monitor "
        "estimates, not a {task} model (data.task: {task}). Remove the key",
    ),
    "monitor.estimated_metric": (
        _CLASSIFIER,
        "the estimate of a {task} model (data.task: {task}) alarms on its mae; this key names "
        "a classifier's metric. Remove the key",
    ),
}


def task_key_reason(key: str, task: str) -> str | None:
    """Why `key` means nothing for a model of `task` and what to do; None when it serves it."""
    tasks, why = TASK_KEYS[key]
    if task in tasks:
        return None
    return why.format(task=task, predicts=_PREDICTS[task], live=_LIVE.get(task, ""))


def task_key_problems(params: BaseModel, task: str) -> list[str]:
    """Each key of TASK_KEYS that params.yaml sets (not null) for a task it does not serve."""
    problems = []
    for key in TASK_KEYS:
        reason = task_key_reason(key, str(task))
        value = _set_value(params, key.split("."))
        if reason and value is not None:
            problems.append(f"{key} = {value!r}: {reason}")
    return problems


# monitor.estimated_metric names a binary metric; a multiclass estimate has two counterparts
# (monitor.tasks.alarm_metric): f1 is macro-F1, accuracy is accuracy. The binary ranking and
# per-class names would be read as accuracy, so set explicitly they are refused, not remapped.
MULTICLASS_ESTIMATED = ("accuracy", "f1")


def estimated_metric_problems(params: BaseModel, task: str) -> list[str]:
    """monitor.estimated_metric set to a name a multiclass estimate has no counterpart for."""
    value = _set_value(params, ["monitor", "estimated_metric"])
    if str(task) != "multiclass" or value is None or value in MULTICLASS_ESTIMATED:
        return []
    return [
        f"monitor.estimated_metric = {value!r}: a multiclass model's estimate alarms on "
        "accuracy or f1 (its macro-F1), and has no single "
        + ("ROC-AUC" if value == "roc_auc" else value)
        + " to alarm on. Set accuracy or f1"
    ]


def _set_value(model: Any, keys: list[str]) -> Any:
    """The value at `keys` when the file sets every key on the way (pydantic's
    model_fields_set), else None: a default is no setting."""
    for key in keys:
        name = next((n for n, f in type(model).model_fields.items() if key in (n, f.alias)), key)
        if name not in model.model_fields_set:
            return None
        model = getattr(model, name)
    return model
