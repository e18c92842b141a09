"""Stage 5 — tune: Optuna search over the model families and spaces declared in params.yaml.

Seeded TPE sampler, stratified k-fold CV on train, pruning between folds (median pruner), a rich
progress bar. With one process and a fixed seed the best params are reproducible; `timeout`
trades that for a time budget. The study name defaults to a hash of the tune inputs, so with a
persistent storage a rerun resumes the same study instead of starting a duplicate.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sklearn.metrics import get_scorer
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from gitml import models
from gitml.config import CategoricalParam, DataConfig, FloatParam, IntParam, SplitConfig, TuneConfig
from gitml.errors import ConfigError
from gitml.io import write_csv, write_json


@dataclass(frozen=True)
class TuneResult:
    family: str
    params: dict[str, Any]
    cv_score: float
    summary: dict[str, Any]


def study_name(cfg: TuneConfig, data_hash: str, context: dict[str, Any] | None = None) -> str:
    """The given name, or one derived from everything that defines the search (not where it is
    stored, nor its time budget), so that only an identical search resumes a stored study."""
    if cfg.study_name:
        return cfg.study_name
    key = json.dumps(
        {
            "tune": cfg.model_dump(exclude={"storage", "timeout"}),
            "data": data_hash,
            "context": context or {},
        },
        sort_keys=True,
        default=str,
    )
    return "gitml-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def folds(
    X: pd.DataFrame, y: np.ndarray, n_folds: int, seed: int, groups: pd.Series | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    if groups is not None:
        cv = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        return list(cv.split(X, y, groups=groups.astype(str)))
    return list(StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed).split(X, y))


def _suggest(trial: optuna.Trial, name: str, spec: Any) -> Any:
    if isinstance(spec, FloatParam):
        return trial.suggest_float(name, spec.low, spec.high, log=spec.log)
    if isinstance(spec, IntParam):
        return trial.suggest_int(name, spec.low, spec.high, log=spec.log)
    if isinstance(spec, CategoricalParam):
        return trial.suggest_categorical(name, spec.choices)
    raise TypeError(spec)


def _defaults_in_space(family: str, space: dict[str, Any]) -> dict[str, Any]:
    """The estimator's defaults, clipped into the declared ranges, as an enqueued first trial."""
    defaults = models.FAMILIES[family].defaults()
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
) -> Any:
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
            model = models.build(family, params, cols, cfg.seed, increasing)
            model.fit(X.iloc[train_idx], y[train_idx])
            scores.append(float(scorer(model, X.iloc[valid_idx], y[valid_idx])))
            trial.report(float(np.mean(scores)), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(np.mean(scores))

    return objective


def run(
    cfg: TuneConfig,
    data_cfg: DataConfig,
    split_cfg: SplitConfig,
    train: pd.DataFrame,
    data_hash: str,
    out_dir: Path,
    increasing: list[str] | None = None,
    show_progress: bool = True,
) -> TuneResult:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    X, y, cols = models.split_xy(train, data_cfg, split_cfg)
    groups = train[split_cfg.group_column] if split_cfg.group_column else None
    cv = folds(X, y, cfg.cv_folds, cfg.seed, groups)
    context = {
        "target": data_cfg.target,
        "positive_class": data_cfg.positive_class,
        "group_column": split_cfg.group_column,
        "time_column": split_cfg.time_column,
        "increasing": sorted(increasing or []),
    }
    name = study_name(cfg, data_hash, context)
    try:
        study = optuna.create_study(
            study_name=name,
            storage=cfg.storage,
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=cfg.seed),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
            load_if_exists=True,
        )
    except Exception as exc:  # bad URL / unreachable database: name it, never the password
        raise ConfigError(
            f"tune.storage {mask_url(cfg.storage)}: cannot open study: {exc}"
        ) from None
    done = [t for t in study.trials if t.state.is_finished()]
    if cfg.enqueue_defaults and not study.trials:
        for family in sorted(cfg.search_space):
            study.enqueue_trial(_defaults_in_space(family, cfg.search_space[family]))
    remaining = max(0, cfg.n_trials - len(done))
    objective = objective_factory(cfg, X, y, cols, cv, list(increasing or []))
    with _progress(show_progress) as progress:
        task = progress.add_task("tuning", total=remaining, best="-")

        def on_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            best = _best_or_none(study)
            progress.update(task, advance=1, best="-" if best is None else f"{best.value:.4f}")

        if remaining:
            study.optimize(objective, n_trials=remaining, timeout=cfg.timeout, callbacks=[on_trial])
    best = _best_or_none(study)
    if best is None:
        raise ConfigError("tune: no trial completed; raise tune.n_trials or tune.timeout")
    return _write_outputs(study, best, cfg, name, out_dir)


def _best_or_none(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return max(complete, key=lambda t: (t.value, -t.number)) if complete else None


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("best {task.fields[best]}"),
        TimeElapsedColumn(),
        disable=not enabled,
        transient=False,
    )


def mask_url(url: str | None) -> str:
    if not url:
        return "(in memory)"
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1] if "@" in url else url


def _write_outputs(
    study: optuna.Study,
    best: optuna.trial.FrozenTrial,
    cfg: TuneConfig,
    name: str,
    out_dir: Path,
) -> TuneResult:
    assert best.value is not None  # only COMPLETE trials are passed in
    family = best.params["family"]
    prefix = f"{family}."
    params = {k.removeprefix(prefix): v for k, v in best.params.items() if k.startswith(prefix)}
    rows = []
    running = -math.inf
    for t in sorted(study.trials, key=lambda t: t.number):
        if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None:
            running = max(running, t.value)
        rows.append(
            {
                "trial": t.number,
                "state": t.state.name.lower(),
                "value": t.value,
                "best_so_far": None if running == -math.inf else running,
                "family": t.params.get("family"),
                "params": json.dumps(
                    {k.split(".", 1)[1]: v for k, v in t.params.items() if "." in k},
                    sort_keys=True,
                ),
            }
        )
    trials = pd.DataFrame(rows)
    baseline = {
        fam: float(t.value)
        for t in study.trials
        if t.system_attrs.get("fixed_params") and t.value is not None
        for fam in [t.params["family"]]
    }
    states = trials["state"].value_counts().to_dict()
    summary = {
        "metric": cfg.metric,
        "cv_score": round(float(best.value), 6),
        "family": family,
        "params": params,
        "best_trial": best.number,
        "study_name": name,
        "n_trials": len(trials),
        "n_complete": int(states.get("complete", 0)),
        "n_pruned": int(states.get("pruned", 0)),
        "n_failed": int(states.get("fail", 0)),
        "defaults_cv_score": {k: round(v, 6) for k, v in sorted(baseline.items())},
    }
    write_csv(out_dir / "trials.csv", trials)
    history = trials.loc[trials["state"] == "complete", ["trial", "value", "best_so_far"]]
    write_csv(out_dir / "history.csv", history.round(6))
    write_json(out_dir / "summary.json", summary)
    return TuneResult(family, params, float(best.value), summary)
