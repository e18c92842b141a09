"""Running the search: local worker processes, `gitml tune worker` joining a shared study, and
the progress bar."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import socket
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import optuna
import pandas as pd
from threadpoolctl import threadpool_limits

from gitml.config import DataConfig, SplitConfig, TuneConfig
from gitml.errors import ConfigError, GitmlError
from gitml.pipeline.tune.search import (
    BUDGET_ATTR,
    FINGERPRINT_ATTR,
    FINISHED,
    WORKER_ATTR,
    Search,
    objective_factory,
    prepare,
)
from gitml.pipeline.tune.storage import (
    journal_storage,
    make_pruner,
    make_sampler,
    mask_url,
    mismatch_message,
    open_storage,
)


def threads_per_worker(workers: int) -> int | None:
    """OpenMP/BLAS threads for each of `workers` local processes, or None to leave them alone.

    Each process's HistGradientBoosting would otherwise start one OpenMP thread per core: two
    workers on two cores ran four spinning threads, and 40 trials took 397 s instead of 38 s
    with one worker (bench row workers_postgres). An OMP_NUM_THREADS the user set wins.
    """
    if workers < 2 or os.environ.get("OMP_NUM_THREADS"):
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // workers)


def run_local_workers(
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
    threads = threads_per_worker(cfg.workers)
    with contextlib.ExitStack() as stack:
        if threads is not None:
            stack.enter_context(threadpool_limits(limits=threads))
        futures = []
        if extra:
            # spawn, not fork: forking a process holding OpenMP threads and DB connections
            # is unsafe.
            context = multiprocessing.get_context("spawn")
            pool = stack.enter_context(ProcessPoolExecutor(max_workers=extra, mp_context=context))
            futures = [
                pool.submit(
                    _worker_process,
                    cfg,
                    search,
                    str(journal) if journal else None,
                    deadline,
                    k,
                    threads,
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
    cfg: TuneConfig,
    search: Search,
    journal: str | None,
    deadline: float | None,
    worker: int,
    threads: int | None = None,
) -> int:
    if threads is not None:
        threadpool_limits(limits=threads)  # this whole process: it exits with the pool
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = journal_storage(Path(journal)) if journal else open_storage(cfg)
    assert storage is not None  # local workers run only on a journal or a database
    study = optuna.load_study(
        study_name=search.name,
        storage=storage,
        sampler=make_sampler(cfg, worker),
        pruner=make_pruner(),
    )
    objective = objective_factory(
        cfg, search.X, search.y, search.cols, search.cv, search.increasing, search.task
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
            study_name=name, storage=storage, sampler=make_sampler(cfg, None), pruner=make_pruner()
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
        raise ConfigError(mismatch_message(name, storage_url))
    budget = int(study.user_attrs.get(BUDGET_ATTR, cfg.n_trials))
    deadline = time.monotonic() + cfg.timeout if cfg.timeout else None
    objective = objective_factory(
        cfg, search.X, search.y, search.cols, search.cv, search.increasing, search.task
    )
    ran = work(study, objective, budget, heartbeat=True, deadline=deadline, max_own=n_trials)
    finished = len(study.get_trials(deepcopy=False, states=FINISHED))
    best = best_or_none(study)
    value = None if best is None or best.value is None else float(best.value)
    return WorkerResult(name, ran, finished, budget, value)


@dataclass(frozen=True)
class WorkerResult:
    study_name: str
    ran_here: int
    finished: int
    budget: int
    best_value: float | None


def best_or_none(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return max(complete, key=lambda t: (t.value, -t.number)) if complete else None
