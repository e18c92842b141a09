"""The search itself: the study's name and fingerprint, CV folds, the objective, and the
sample of train rows that tuning sees."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.metrics import get_scorer
from sklearn.model_selection import train_test_split

from gitml.config import CategoricalParam, DataConfig, FloatParam, IntParam, SplitConfig, TuneConfig
from gitml.core import models
from gitml.core.tasks import Task
from gitml.pipeline import dataset
from gitml.pipeline.dataset import folds
from gitml.pipeline.split import strata

# Settings of *how* a search runs, not *what* it searches: they never change the study name,
# so a rerun with more workers (or another heartbeat) resumes the same study.
_EXECUTION_KEYS = {
    "storage",
    "timeout",
    "workers",
    "heartbeat_interval",
    "grace_period",
    "max_retries",
}
# Study user attributes written by the process that creates a study; workers check them.
FINGERPRINT_ATTR = "gitml_fingerprint"
BUDGET_ATTR = "gitml_n_trials"
WORKER_ATTR = "gitml_worker"  # trial user attribute: host:pid of the worker that ran it
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def study_name(cfg: TuneConfig, data_hash: str, context: dict[str, Any] | None = None) -> str:
    """The given name, or one derived from everything that defines the search (not where it is
    stored, nor its time budget, nor how many workers run it), so that only an identical search
    resumes a stored study."""
    if cfg.study_name:
        return cfg.study_name
    return "gitml-" + fingerprint(cfg, data_hash, context)


def fingerprint(cfg: TuneConfig, data_hash: str, context: dict[str, Any] | None = None) -> str:
    """A hash of the search itself: space, metric, folds, seed, budget, data and context."""
    exclude = set(_EXECUTION_KEYS)
    if cfg.subsample is None:  # unset keeps the names of studies made before the key existed
        exclude.add("subsample")
    key = json.dumps(
        {
            "tune": cfg.model_copy(update={"study_name": None}).model_dump(exclude=exclude),
            "data": data_hash,
            "context": context or {},
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def _suggest(trial: optuna.Trial, name: str, spec: Any) -> Any:
    if isinstance(spec, FloatParam):
        return trial.suggest_float(name, spec.low, spec.high, log=spec.log)
    if isinstance(spec, IntParam):
        return trial.suggest_int(name, spec.low, spec.high, log=spec.log)
    if isinstance(spec, CategoricalParam):
        return trial.suggest_categorical(name, spec.choices)
    raise TypeError(spec)


def defaults_in_space(
    family: str, space: dict[str, Any], task: Task = Task.BINARY
) -> dict[str, Any]:
    """The estimator's defaults, clipped into the declared ranges, as an enqueued first trial."""
    defaults = models.FAMILIES[family].defaults(task)
    fixed: dict[str, Any] = {"family": family}
    for name, spec in space.items():
        value = defaults.get(name)
        key = f"{family}.{name}"
        if isinstance(spec, FloatParam | IntParam) and isinstance(value, int | float):
            fixed[key] = type(spec.low)(min(max(value, spec.low), spec.high))
        elif isinstance(spec, CategoricalParam) and value in spec.choices:
            fixed[key] = value
    return fixed


def objective_factory(
    cfg: TuneConfig,
    X: pd.DataFrame,
    y: np.ndarray,
    cols: models.Columns,
    cv: list[tuple[np.ndarray, np.ndarray]],
    increasing: list[str],
    task: Task = Task.BINARY,
) -> Any:
    """The trial's score: the mean of `tune.metric` (a scikit-learn scorer: greater is better,
    so an error is negated) over the folds, for a model of `task`."""
    scorer = get_scorer(cfg.metric)
    space: dict[str, dict[str, Any]] = {str(k): v for k, v in cfg.search_space.items()}
    families = sorted(space)

    def objective(trial: optuna.Trial) -> float:
        family = trial.suggest_categorical("family", families)
        params = {
            name: _suggest(trial, f"{family}.{name}", spec)
            for name, spec in sorted(space[family].items())
        }
        scores: list[float] = []
        for step, (train_idx, valid_idx) in enumerate(cv):
            model = models.build(family, params, cols, cfg.seed, increasing, task)
            model.fit(X.iloc[train_idx], y[train_idx])
            scores.append(float(scorer(model, X.iloc[valid_idx], y[valid_idx])))
            trial.report(float(np.mean(scores)), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(np.mean(scores))

    return objective


@dataclass(frozen=True)
class Search:
    """Everything a worker needs to evaluate trials: the (sub)sampled data, folds and names."""

    X: pd.DataFrame
    y: np.ndarray
    cols: models.Columns
    cv: list[tuple[np.ndarray, np.ndarray]]
    increasing: list[str]
    name: str
    fingerprint: str
    rows: int
    task: Task = Task.BINARY


def prepare(
    cfg: TuneConfig,
    data_cfg: DataConfig,
    split_cfg: SplitConfig,
    train: pd.DataFrame,
    data_hash: str,
    increasing: list[str] | None = None,
) -> Search:
    X, y, cols = dataset.split_xy(train, data_cfg, split_cfg)
    groups = train[split_cfg.group_column] if split_cfg.group_column else None
    task = data_cfg.task
    if cfg.subsample is not None and cfg.subsample < len(X):
        keep = subsample_index(y, cfg.subsample, cfg.seed, task)
        X, y = X.iloc[keep].reset_index(drop=True), y[keep]
        groups = None if groups is None else groups.iloc[keep].reset_index(drop=True)
    cv = folds(X, y, cfg.cv_folds, cfg.seed, groups, task)
    context: dict[str, Any] = {
        "target": data_cfg.target,
        "positive_class": data_cfg.positive_class,
        "group_column": split_cfg.group_column,
        "time_column": split_cfg.time_column,
        "increasing": sorted(increasing or []),
    }
    if task is not Task.BINARY:  # a binary study keeps the name it had before tasks existed
        context["task"] = str(task)
    return Search(
        X,
        y,
        cols,
        cv,
        list(increasing or []),
        study_name(cfg, data_hash, context),
        fingerprint(cfg, data_hash, context),
        len(X),
        task,
    )


def subsample_index(y: np.ndarray, n: int, seed: int, task: Task = Task.BINARY) -> np.ndarray:
    """Sorted positions of a seeded sample of `n` rows with the label balance of `y` (a
    regression target: the balance of its quantile bins, as the split)."""
    if n >= len(y):
        return np.arange(len(y))
    by = y if task.is_classification else strata(pd.Series(y), task, 1 - n / len(y))
    keep, _ = train_test_split(np.arange(len(y)), train_size=n, stratify=by, random_state=seed)
    return np.sort(keep)
