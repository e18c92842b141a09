"""Stage 5 — tune: Optuna search over the model families and spaces declared in params.yaml.

Seeded TPE sampler, stratified k-fold CV on train, pruning between folds (median pruner), a rich
progress bar. With one process and a fixed seed the best params are reproducible; `timeout`
trades that for a time budget. The study name defaults to a hash of the tune inputs, so with a
persistent storage a rerun resumes the same study instead of starting a duplicate.

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

import contextlib
import hashlib
import json
import math
import multiprocessing
import os
import socket
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sklearn.metrics import get_scorer
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, train_test_split

from gitml.config import CategoricalParam, DataConfig, FloatParam, IntParam, SplitConfig, TuneConfig
from gitml.core import models
from gitml.errors import ConfigError, GitmlError
from gitml.io import dburl
from gitml.io.files import write_csv, write_json
from gitml.pipeline import dataset

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


@dataclass(frozen=True)
class TuneResult:
    family: str
    params: dict[str, Any]
    cv_score: float
    summary: dict[str, Any]


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
    if cfg.subsample is not None and cfg.subsample < len(X):
        keep = subsample_index(y, cfg.subsample, cfg.seed)
        X, y = X.iloc[keep].reset_index(drop=True), y[keep]
        groups = None if groups is None else groups.iloc[keep].reset_index(drop=True)
    cv = folds(X, y, cfg.cv_folds, cfg.seed, groups)
    context = {
        "target": data_cfg.target,
        "positive_class": data_cfg.positive_class,
        "group_column": split_cfg.group_column,
        "time_column": split_cfg.time_column,
        "increasing": sorted(increasing or []),
    }
    return Search(
        X,
        y,
        cols,
        cv,
        list(increasing or []),
        study_name(cfg, data_hash, context),
        fingerprint(cfg, data_hash, context),
        len(X),
    )


def subsample_index(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted positions of a seeded sample of `n` rows with the label balance of `y`."""
    if n >= len(y):
        return np.arange(len(y))
    keep, _ = train_test_split(np.arange(len(y)), train_size=n, stratify=y, random_state=seed)
    return np.sort(keep)


def open_storage(cfg: TuneConfig, url: str | None = None) -> optuna.storages.BaseStorage | None:
    """Optuna's RDBStorage for a URL, with heartbeats and retry of dead workers' trials.

    None (no URL) means in memory. Any error (bad URL, unknown driver, unreachable server, bad
    credentials) becomes a ConfigError that names the URL with its password masked.
    """
    url = url if url is not None else cfg.storage
    if not url:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                dburl.normalise_url(url),
                heartbeat_interval=cfg.heartbeat_interval,
                grace_period=cfg.grace_period,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                    max_retry=cfg.max_retries
                ),
            )
    except Exception as exc:  # SQLAlchemy, the DB driver and Optuna each raise their own types
        raise ConfigError(
            f"tune.storage {mask_url(url)}: cannot open the Optuna storage: "
            f"{_scrub(exc, url)}. Check the URL (e.g. postgresql://user:password@host:5432/db), "
            "that the server is reachable from this machine and that the database exists"
        ) from None


def _scrub(exc: BaseException, url: str) -> str:
    """The first line of an error, with any password from the URL masked."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    try:
        from sqlalchemy.engine import make_url

        password = make_url(url).password
    except Exception:
        password = None
    if password:
        text = text.replace(str(password), "***")
    return text.replace(url, mask_url(url))


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
        storage = _journal(journal) if journal else open_storage(cfg)
        study = _create_study(cfg, search, storage)
        done = len(study.get_trials(deepcopy=False, states=FINISHED))
        objective = objective_factory(
            cfg, search.X, search.y, search.cols, search.cv, search.increasing
        )
        with _progress(show_progress) as progress:
            task = progress.add_task("tuning", total=max(0, cfg.n_trials - done), best="-")

            def on_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
                best = _best_or_none(study)
                finished = len(study.get_trials(deepcopy=False, states=FINISHED))
                progress.update(
                    task,
                    completed=finished - done,
                    best="-" if best is None else f"{best.value:.4f}",
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
                _run_local_workers(cfg, search, study, objective, journal, on_trial)
        best = _best_or_none(study)
        if best is None:
            raise ConfigError("tune: no trial completed; raise tune.n_trials or tune.timeout")
        return _write_outputs(study, best, cfg, search.name, out_dir, search.rows)


def _journal(path: Path) -> optuna.storages.BaseStorage:
    # Local workers without a database share a journal file (Optuna's multi-process storage).
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


def _create_study(
    cfg: TuneConfig, search: Search, storage: optuna.storages.BaseStorage | None
) -> optuna.Study:
    try:
        study = optuna.create_study(
            study_name=search.name,
            storage=storage,
            direction="maximize",
            sampler=_sampler(cfg),
            pruner=_pruner(),
            load_if_exists=True,
        )
    except Exception as exc:  # a storage that opened but cannot hold the study
        raise ConfigError(
            f"tune.storage {mask_url(cfg.storage)}: cannot open study {search.name}: "
            f"{_scrub(exc, cfg.storage or '')}"
        ) from None
    attrs = study.user_attrs
    if FINGERPRINT_ATTR in attrs and attrs[FINGERPRINT_ATTR] != search.fingerprint:
        raise ConfigError(_mismatch(search.name, cfg.storage))
    if not study.trials:
        study.set_user_attr(FINGERPRINT_ATTR, search.fingerprint)
        study.set_user_attr(BUDGET_ATTR, cfg.n_trials)
        if cfg.enqueue_defaults:
            for family in sorted(cfg.search_space):
                study.enqueue_trial(_defaults_in_space(family, cfg.search_space[family]))
    return study


def _sampler(cfg: TuneConfig, worker: int | None = 0) -> optuna.samplers.BaseSampler:
    """TPE seeded with `tune.seed` in the first process. Other workers must not share its seed:
    they would draw the same startup trials. Local worker k uses seed + k (still not
    bit-reproducible: which trial a worker gets depends on timing); a remote worker (None) is
    unseeded."""
    seed = None if worker is None else cfg.seed + worker
    return optuna.samplers.TPESampler(seed=seed)


def _pruner() -> optuna.pruners.BasePruner:
    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)


def _mismatch(name: str, url: str | None) -> str:
    return (
        f"study {name} in {mask_url(url)} was created from other tune inputs (params.yaml tune "
        "section, training data or columns) than this checkout's; run the worker from the same "
        "commit with the same data (git checkout; dvc pull), or pick another study name"
    )


def _run_local_workers(
    cfg: TuneConfig,
    search: Search,
    study: optuna.Study,
    objective: Callable[[optuna.Trial], float],
    journal: Path | None,
    on_trial: Callable[[optuna.Study, optuna.trial.FrozenTrial], None],
) -> None:
    """This process plus `tune.workers - 1` spawned ones, all pulling trials from one study."""
    deadline = time.monotonic() + cfg.timeout if cfg.timeout else None
    heartbeat = journal is None  # a database storage (open_storage turns heartbeats on)
    extra = cfg.workers - 1
    with contextlib.ExitStack() as stack:
        futures = []
        if extra:
            # spawn, not fork: forking a process holding OpenMP threads and DB connections
            # is unsafe.
            context = multiprocessing.get_context("spawn")
            pool = stack.enter_context(ProcessPoolExecutor(max_workers=extra, mp_context=context))
            futures = [
                pool.submit(
                    _worker_process, cfg, search, str(journal) if journal else None, deadline, k
                )
                for k in range(1, extra + 1)
            ]
        work(
            study,
            objective,
            cfg.n_trials,
            heartbeat=heartbeat,
            deadline=deadline,
            callbacks=[on_trial],
        )
        for k, future in enumerate(futures, start=1):
            try:
                future.result()
            except BrokenProcessPool:
                # A killed worker (kill -9, OOM) breaks the pool; its trial is retried through
                # the heartbeat and the study itself says what completed, so carry on.
                warnings.warn(f"tune worker {k} died; the study continues", stacklevel=1)


def _worker_process(
    cfg: TuneConfig, search: Search, journal: str | None, deadline: float | None, worker: int
) -> int:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = _journal(Path(journal)) if journal else open_storage(cfg)
    assert storage is not None  # local workers run only on a journal or a database
    study = optuna.load_study(
        study_name=search.name, storage=storage, sampler=_sampler(cfg, worker), pruner=_pruner()
    )
    objective = objective_factory(
        cfg, search.X, search.y, search.cols, search.cv, search.increasing
    )
    return work(study, objective, cfg.n_trials, heartbeat=journal is None, deadline=deadline)


def work(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], float],
    n_trials: int,
    *,
    heartbeat: bool,
    deadline: float | None = None,
    max_own: int | None = None,
    callbacks: Sequence[Callable[[optuna.Study, optuna.trial.FrozenTrial], None]] = (),
    poll_seconds: float = 1.0,
) -> int:
    """Run trials in this process until the study holds `n_trials` complete or pruned ones.

    `heartbeat` says the study's storage is a database opened by `open_storage` (heartbeats on).

    Optuna's `MaxTrialsCallback` stops only after the trial in hand, so N workers overshoot the
    budget by up to N-1 trials; here a worker starts a trial only while complete + pruned +
    running + queued trials are under the budget (a queued one — a retry — is picked up first).
    When the rest of the budget is running elsewhere, it waits: if that worker dies, its trial's
    heartbeat goes stale, Optuna fails it and re-queues it, and a live worker runs it. Two
    workers deciding in the same instant can still overshoot by one. Returns the trials run here.
    """
    State = optuna.trial.TrialState
    own = 0
    worker = f"{socket.gethostname()}:{os.getpid()}"

    def tagged(trial: optuna.Trial) -> float:
        trial.set_user_attr(WORKER_ATTR, worker)  # which machine/process ran it, for debugging
        return objective(trial)

    while (max_own is None or own < max_own) and (deadline is None or time.monotonic() < deadline):
        if heartbeat:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)  # re-queues dead workers' trials
        counts = Counter(t.state for t in study.get_trials(deepcopy=False))
        finished = counts[State.COMPLETE] + counts[State.PRUNED]
        if finished >= n_trials:
            break
        if (
            counts[State.WAITING]
            or finished + counts[State.RUNNING] < n_trials - counts[State.WAITING]
        ):
            study.optimize(tagged, n_trials=1, callbacks=list(callbacks))
            own += 1
            continue
        if not heartbeat:
            break  # no heartbeats: running trials belong to live workers (nothing to wait for)
        time.sleep(poll_seconds)
    return own


def join(
    cfg: TuneConfig,
    data_cfg: DataConfig,
    split_cfg: SplitConfig,
    train: pd.DataFrame,
    data_hash: str,
    storage_url: str,
    name: str | None = None,
    n_trials: int | None = None,
    increasing: list[str] | None = None,
) -> WorkerResult:
    """`gitml tune worker`: join a study on a shared storage and run trials until its budget is
    spent (or `n_trials` here). The objective is built from this checkout's params and data, which
    must be the ones the study was created from (checked against the study's fingerprint)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    search = prepare(cfg, data_cfg, split_cfg, train, data_hash, increasing)
    name = name or search.name
    storage = open_storage(cfg, storage_url)
    assert storage is not None  # storage_url is required by the caller
    try:
        study = optuna.load_study(
            study_name=name, storage=storage, sampler=_sampler(cfg, None), pruner=_pruner()
        )
    except KeyError:
        names = optuna.get_all_study_names(storage)
        raise GitmlError(
            f"no study {name!r} in {mask_url(storage_url)}; start it with `gitml tune` (or "
            f"`dvc repro tune`) with tune.storage set to this URL. Studies there: "
            f"{', '.join(names) or '(none)'}"
        ) from None
    got = study.user_attrs.get(FINGERPRINT_ATTR)
    if got is not None and got != search.fingerprint:
        raise ConfigError(_mismatch(name, storage_url))
    budget = int(study.user_attrs.get(BUDGET_ATTR, cfg.n_trials))
    deadline = time.monotonic() + cfg.timeout if cfg.timeout else None
    objective = objective_factory(
        cfg, search.X, search.y, search.cols, search.cv, search.increasing
    )
    ran = work(study, objective, budget, heartbeat=True, deadline=deadline, max_own=n_trials)
    finished = len(study.get_trials(deepcopy=False, states=FINISHED))
    best = _best_or_none(study)
    value = None if best is None or best.value is None else float(best.value)
    return WorkerResult(name, ran, finished, budget, value)


@dataclass(frozen=True)
class WorkerResult:
    study_name: str
    ran_here: int
    finished: int
    budget: int
    best_value: float | None


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
    return dburl.mask_url(url) if url else "(in memory)"


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
