"""Where studies live: Optuna storages (journal file or any RDB URL), study creation with its
sampler and pruner, and URLs shown without their passwords."""

from __future__ import annotations

import warnings
from pathlib import Path

import optuna

from gitml.config import TuneConfig
from gitml.errors import ConfigError
from gitml.io import dburl
from gitml.pipeline.tune.search import (
    BUDGET_ATTR,
    FINGERPRINT_ATTR,
    Search,
    defaults_in_space,
)


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


def journal_storage(path: Path) -> optuna.storages.BaseStorage:
    # Local workers without a database share a journal file (Optuna's multi-process storage).
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


def create_study(
    cfg: TuneConfig, search: Search, storage: optuna.storages.BaseStorage | None
) -> optuna.Study:
    try:
        study = optuna.create_study(
            study_name=search.name,
            storage=storage,
            direction="maximize",
            sampler=make_sampler(cfg),
            pruner=make_pruner(),
            load_if_exists=True,
        )
    except Exception as exc:  # a storage that opened but cannot hold the study
        raise ConfigError(
            f"tune.storage {mask_url(cfg.storage)}: cannot open study {search.name}: "
            f"{_scrub(exc, cfg.storage or '')}"
        ) from None
    attrs = study.user_attrs
    if FINGERPRINT_ATTR in attrs and attrs[FINGERPRINT_ATTR] != search.fingerprint:
        raise ConfigError(mismatch_message(search.name, cfg.storage))
    if not study.trials:
        study.set_user_attr(FINGERPRINT_ATTR, search.fingerprint)
        study.set_user_attr(BUDGET_ATTR, cfg.n_trials)
        if cfg.enqueue_defaults:
            for family in sorted(cfg.search_space):
                space = cfg.search_space[family]
                study.enqueue_trial(defaults_in_space(family, space, search.task))
    return study


def make_sampler(cfg: TuneConfig, worker: int | None = 0) -> optuna.samplers.BaseSampler:
    """TPE seeded with `tune.seed` in the first process. Other workers must not share its seed:
    they would draw the same startup trials. Local worker k uses seed + k (still not
    bit-reproducible: which trial a worker gets depends on timing); a remote worker (None) is
    unseeded."""
    seed = None if worker is None else cfg.seed + worker
    return optuna.samplers.TPESampler(seed=seed)


def make_pruner() -> optuna.pruners.BasePruner:
    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)


def mismatch_message(name: str, url: str | None) -> str:
    return (
        f"study {name} in {mask_url(url)} was created from other tune inputs (params.yaml tune "
        "section, training data or columns) than this checkout's; run the worker from the same "
        "commit with the same data (git checkout; dvc pull), or pick another study name"
    )


def mask_url(url: str | None) -> str:
    return dburl.mask_url(url) if url else "(in memory)"
