"""Stage 5 — tune: Optuna search over the model families and spaces declared in params.yaml.

Seeded TPE sampler, stratified k-fold CV on train, pruning between folds (median pruner),
progress on stderr (gitml.io.progress). With one process and a fixed seed the best params are
reproducible; `timeout` trades that for a time budget. The study name defaults to a hash of the
tune inputs, so with a persistent storage a rerun resumes the same study instead of starting a
duplicate.

Scaling out is Optuna's own machinery, not ours: `tune.storage` is any SQLAlchemy URL Optuna's
RDBStorage accepts (postgresql://, mysql://, sqlite://); `tune.workers` runs that many local
processes on it, and `gitml tune worker` joins the same study from any machine that reaches the
database. On a relational storage every worker sends Optuna heartbeats; a trial whose worker
died (kill -9, lost machine) is failed after `grace_period` and re-queued with the same params by
`RetryHeartbeatStaleTrialCallback` (Optuna's new name for `RetryFailedTrialCallback`), so it is
retried, not lost, and not counted twice. `tune.subsample` tunes on a stratified sample of the
train rows; the train stage still fits the chosen model on all of them.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from gitml.config import DataConfig, SplitConfig, TuneConfig
from gitml.errors import ConfigError
from gitml.io.files import write_csv, write_json
from gitml.io.progress import Progress
from gitml.pipeline.dataset import folds
from gitml.pipeline.tune.search import (
    FINISHED,
    WORKER_ATTR,
    defaults_in_space,
    fingerprint,
    objective_factory,
    prepare,
    study_name,
    subsample_index,
)
from gitml.pipeline.tune.storage import create_study, journal_storage, mask_url, open_storage
from gitml.pipeline.tune.workers import (
    WorkerResult,
    best_or_none,
    join,
    run_local_workers,
    work,
)

# The stage's API (the CLI, train and the tests use these names from here).
__all__ = [
    "FINISHED", "WORKER_ATTR", "TuneResult", "WorkerResult", "defaults_in_space", "fingerprint",
    "folds", "join", "mask_url", "objective_factory", "open_storage", "run", "study_name",
    "subsample_index", "work",
]  # fmt: skip


@dataclass(frozen=True)
class TuneResult:
    family: str
    params: dict[str, Any]
    cv_score: float
    summary: dict[str, Any]


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
    search = prepare(cfg, data_cfg, split_cfg, train, data_hash, increasing)
    with tempfile.TemporaryDirectory(prefix="gitml-tune-") as tmp:
        journal = Path(tmp) / "journal.log" if cfg.workers > 1 and not cfg.storage else None
        storage = journal_storage(journal) if journal else open_storage(cfg)
        study = create_study(cfg, search, storage)
        done = len(study.get_trials(deepcopy=False, states=FINISHED))
        objective = objective_factory(
            cfg, search.X, search.y, search.cols, search.cv, search.increasing, search.task
        )
        total = max(0, cfg.n_trials - done)
        with Progress("tuning", total, unit="trials", enabled=show_progress) as progress:

            def on_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
                best = best_or_none(study)
                finished = len(study.get_trials(deepcopy=False, states=FINISHED))
                progress.update(
                    finished - done, "best -" if best is None else f"best {best.value:.4f}"
                )

            if storage is None:  # one process, in memory: Optuna's plain loop, as always
                if cfg.n_trials > done:
                    study.optimize(
                        objective,
                        n_trials=cfg.n_trials - done,
                        timeout=cfg.timeout,
                        callbacks=[on_trial],
                    )
            else:
                run_local_workers(cfg, search, study, objective, journal, on_trial)
        best = best_or_none(study)
        if best is None:
            raise ConfigError("tune: no trial completed; raise tune.n_trials or tune.timeout")
        return _write_outputs(study, best, cfg, search.name, out_dir, search.rows)


def _write_outputs(
    study: optuna.Study,
    best: optuna.trial.FrozenTrial,
    cfg: TuneConfig,
    name: str,
    out_dir: Path,
    tune_rows: int,
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
        "tune_rows": tune_rows,
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
