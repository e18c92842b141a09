"""Distributed tuning on PostgreSQL: the server `GITML_TEST_PG_URL` names, or the session's own
temporary one (the `postgres_url` fixture, tests/pg.py).

These tests FAIL, never skip, when no server can be had: distributed tuning is a feature,
and a suite that silently skips it would claim coverage it does not have. Each test uses its own
study name and deletes the study afterwards.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest
import yaml

from gitml.config import DataConfig, SplitConfig, TuneConfig
from gitml.core import features
from gitml.errors import ConfigError
from gitml.io import dburl
from gitml.io.files import write_parquet
from gitml.pipeline import tune
from tests.helpers import default_params, run, tool_env
from tests.pg import url_with

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("scaling")]

State = optuna.trial.TrialState
# Trials of about a second each: long enough to kill a worker in the middle of one.
SPACE: dict[str, Any] = {
    "hist_gradient_boosting": {
        "max_iter": {"type": "int", "low": 20, "high": 40},
        "learning_rate": {"type": "float", "low": 0.05, "high": 0.3, "log": True},
        "max_leaf_nodes": {"type": "int", "low": 4, "high": 16},
    }
}

# Slower trials (a few seconds each) for the kill test: a worker must die in the middle of one.
SLOW_SPACE: dict[str, Any] = {
    "hist_gradient_boosting": {
        "max_iter": {"type": "int", "low": 150, "high": 250},
        "learning_rate": {"type": "float", "low": 0.01, "high": 0.05, "log": True},
        "max_leaf_nodes": {"type": "int", "low": 24, "high": 48},
    }
}


@pytest.fixture
def pg(postgres_url: str) -> str:
    """The storage URL as a user writes it in params.yaml (`postgresql://...`); `dburl`
    gives SQLAlchemy the installed driver."""
    return postgres_url


@pytest.fixture
def study_name(pg: str) -> Iterator[str]:
    name = f"gitml-test-{uuid.uuid4().hex[:10]}"
    yield name
    with contextlib.suppress(KeyError):  # the test failed before creating it
        optuna.delete_study(study_name=name, storage=dburl.normalise_url(pg))


@pytest.fixture(scope="module")
def train(adult_sample: pd.DataFrame) -> pd.DataFrame:
    return features.apply(adult_sample.head(1500), ["net_capital"])


def cfg(**kw: Any) -> TuneConfig:
    base: dict[str, Any] = {
        "n_trials": 8,
        "cv_folds": 2,
        "search_space": SPACE,
        "heartbeat_interval": 1,
        "grace_period": 3,
    }
    return TuneConfig.model_validate({**base, **kw})


def trials_of(pg: str, name: str) -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name=name, storage=dburl.normalise_url(pg))
    return study.get_trials(deepcopy=False)


def sampled_params(trials: list[optuna.trial.FrozenTrial]) -> list[tuple[Any, ...]]:
    """Params of the trials that were sampled (not an enqueued default, not a retry)."""
    return [
        tuple(sorted(t.params.items()))
        for t in trials
        if "fixed_params" not in t.system_attrs and "failed_trial" not in t.system_attrs
    ]


def test_two_workers_finish_the_budget_without_gaps_or_duplicates(
    train: pd.DataFrame, pg: str, study_name: str, tmp_path: Path
) -> None:
    # Trials of a second or more: the spawned worker needs a few seconds to start.
    config = cfg(storage=pg, study_name=study_name, workers=2, n_trials=10).model_copy(
        update={
            "search_space": TuneConfig.model_validate({"search_space": SLOW_SPACE}).search_space
        }
    )
    result = tune.run(
        config, DataConfig(), SplitConfig(), train, "h", tmp_path, show_progress=False
    )
    trials = trials_of(pg, study_name)
    numbers = sorted(t.number for t in trials)
    assert numbers == list(range(len(trials)))  # no missing, no duplicate trial number
    finished = [t for t in trials if t.state in (State.COMPLETE, State.PRUNED)]
    # Two workers deciding in the same instant may run one trial more (documented in tune.work).
    assert config.n_trials <= len(finished) <= config.n_trials + 1
    assert not [t for t in trials if t.state in (State.RUNNING, State.WAITING, State.FAIL)]
    sampled = sampled_params(trials)
    assert len(set(sampled)) == len(sampled), "two workers evaluated the same params"
    # Both processes did work (each trial records the host:pid that ran it).
    assert len({t.user_attrs[tune.WORKER_ATTR] for t in trials}) == 2
    summary = pd.read_csv(tmp_path / "trials.csv")
    assert sorted(summary["trial"]) == numbers
    assert result.summary["n_trials"] == len(trials)
    assert result.summary["study_name"] == study_name


def _checkout(
    tmp_path: Path, train: pd.DataFrame, config: dict[str, Any], space: dict[str, Any] = SPACE
) -> Path:
    """A directory `gitml tune` / `gitml tune worker` can run in: params.yaml + train features."""
    repo = tmp_path / "checkout"
    params = default_params()
    params["tune"] = {**params["tune"], **config}
    params["tune"]["search_space"] = space
    (repo / "data" / "features").mkdir(parents=True)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    write_parquet(repo / "data" / "features" / "train.parquet", train)
    return repo


def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_kill_9_of_a_worker_retries_its_trial_and_the_other_completes_the_budget(
    train: pd.DataFrame, pg: str, study_name: str, tmp_path: Path
) -> None:
    n = 6
    repo = _checkout(
        tmp_path,
        train,
        {
            "storage": pg,
            "study_name": study_name,
            "n_trials": n,
            "cv_folds": 2,
            "heartbeat_interval": 1,
            "grace_period": 3,
            "enqueue_defaults": False,
        },
        SLOW_SPACE,
    )
    env = {**tool_env(), "OMP_NUM_THREADS": "1"}
    # The first process creates the study (budget, fingerprint) and works on it ...
    log = (tmp_path / "first.log").open("w")
    first = subprocess.Popen(
        ["gitml", "tune", "--no-progress"],
        cwd=repo,
        env=env,
        start_new_session=True,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    mine = f":{first.pid}"  # the host:pid suffix of the first process's trials

    def first_frozen_in_a_trial() -> bool:
        """Freeze the first process mid-study; keep it frozen only if it is inside a trial.

        Polling the states and then killing races with the trial finishing in between (seen
        in CI: the kill landed between two trials). A stopped process cannot finish its trial.
        """
        if not _exists(pg, study_name) or not any(
            t.state == State.COMPLETE for t in trials_of(pg, study_name)
        ):
            return False
        os.killpg(first.pid, signal.SIGSTOP)
        if not _open_transactions(pg) and any(
            t.state == State.RUNNING and str(t.user_attrs.get(tune.WORKER_ATTR)).endswith(mine)
            for t in trials_of(pg, study_name)
        ):
            return True
        os.killpg(first.pid, signal.SIGCONT)
        return False

    def worker_started_a_trial() -> bool:
        return any(
            t.user_attrs.get(tune.WORKER_ATTR) and not t.user_attrs[tune.WORKER_ATTR].endswith(mine)
            for t in trials_of(pg, study_name)
        )

    worker: subprocess.Popen[str] | None = None
    try:
        _wait_for(first_frozen_in_a_trial, 180, "the first process inside its second trial")
        # ... a second one joins it, as `gitml tune worker` would from another machine. The
        # first stays frozen meanwhile, so it cannot finish the budget alone while the worker
        # starts (seen in CI under load). To the worker, frozen and dead look the same: the
        # heartbeat stops.
        worker = subprocess.Popen(
            ["gitml", "tune", "worker"],
            cwd=repo,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_for(worker_started_a_trial, 180, "the worker to start a trial")
        except AssertionError:
            raise AssertionError(
                f"{Counter(t.state for t in trials_of(pg, study_name))}; first process: "
                f"{(tmp_path / 'first.log').read_text()}"
            ) from None
        os.killpg(first.pid, signal.SIGKILL)  # kill -9, in the middle of a trial
        first.wait()
        stdout, stderr = worker.communicate(timeout=300)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        if worker is not None and worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, f"stdout:\n{stdout}\nstderr:\n{stderr}"

    trials = trials_of(pg, study_name)
    numbers = sorted(t.number for t in trials)
    assert numbers == list(range(len(trials)))
    failed = [t for t in trials if t.state == State.FAIL]
    assert len(failed) == 1, (
        f"the killed worker's trial is failed once (stale heartbeat): "
        f"{[(t.number, t.state.name) for t in trials]}\nworker: {stdout}{stderr}"
    )
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == failed[0].number]
    assert len(retries) == 1 and retries[0].state in (State.COMPLETE, State.PRUNED)
    # The same trial, run again: every param the killed trial had drawn is reused (one killed
    # before drawing them all gets the rest drawn by the retry).
    assert failed[0].params.items() <= retries[0].params.items()
    finished = [t for t in trials if t.state in (State.COMPLETE, State.PRUNED)]
    assert n <= len(finished) <= n + 1  # the budget is met, the failed one not counted
    assert not [t for t in trials if t.state in (State.RUNNING, State.WAITING)]

    # Rerunning the stage resumes the finished study: no new trial, outputs written.
    rerun = run(["gitml", "tune", "--no-progress"], repo)
    assert len(trials_of(pg, study_name)) == len(trials), rerun.stdout
    summary = yaml.safe_load((repo / "reports" / "tune" / "summary.json").read_text())
    assert summary["n_failed"] == 1 and summary["n_trials"] == len(trials)


def _open_transactions(pg: str) -> int:
    """Sessions inside a transaction: one frozen there would hold its row locks and block the
    other worker until the kill, so the test freezes the first process only outside one."""
    from sqlalchemy import create_engine, text

    engine = create_engine(dburl.normalise_url(pg))
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "select count(*) from pg_stat_activity where datname = current_database()"
                        " and state like 'idle in transaction%' and pid <> pg_backend_pid()"
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


def _exists(pg: str, name: str) -> bool:
    return name in optuna.get_all_study_names(dburl.normalise_url(pg))


def no_such_database(pg: str) -> str:
    """The test server, a database it does not have, and a password to mask."""
    return url_with(pg, password="s3cr3t-pw", database="no_such_database_gitml")


@pytest.mark.parametrize(
    "url",
    [
        no_such_database,
        "postgresql://gitml:s3cr3t-pw@127.0.0.1:1/test",  # nothing listens on port 1
        "postgresql+nosuchdriver://gitml:s3cr3t-pw@db.invalid:5432/test",
    ],
    ids=["no-such-database", "nothing-listens", "no-such-driver"],
)
def test_bad_url_names_the_url_with_the_password_masked(
    url: str | Callable[[str], str],
    train: pd.DataFrame,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    if callable(url):  # built from the session's server, known only at run time
        url = url(request.getfixturevalue("postgres_url"))
    config = cfg(storage=url, workers=2)
    with pytest.raises(ConfigError) as info:
        tune.run(config, DataConfig(), SplitConfig(), train, "h", tmp_path, show_progress=False)
    message = str(info.value)
    assert "s3cr3t-pw" not in message
    assert url.replace("s3cr3t-pw", "***") in message
    assert not (tmp_path / "summary.json").exists()


def test_bad_url_from_the_command_line_exits_2_without_traceback(
    train: pd.DataFrame, pg: str, tmp_path: Path
) -> None:
    url = no_such_database(pg)
    repo = _checkout(tmp_path, train, {"n_trials": 2})
    proc = run(["gitml", "tune", "worker", "--storage", url, "--study", "x"], repo, check=False)
    assert proc.returncode == 2
    assert url.replace("s3cr3t-pw", "***") in proc.stderr
    assert "s3cr3t-pw" not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


def test_worker_refuses_a_study_made_from_other_inputs(
    train: pd.DataFrame, pg: str, study_name: str, tmp_path: Path
) -> None:
    tune.run(
        cfg(storage=pg, study_name=study_name, n_trials=2),
        DataConfig(),
        SplitConfig(),
        train,
        "h",
        tmp_path / "out",
        show_progress=False,
    )
    repo = _checkout(tmp_path, train.head(1000), {"n_trials": 2})  # other data
    proc = run(
        ["gitml", "tune", "worker", "--storage", pg, "--study", study_name], repo, check=False
    )
    assert proc.returncode == 2
    assert "other tune inputs" in proc.stderr and study_name in proc.stderr
    missing = run(
        ["gitml", "tune", "worker", "--storage", pg, "--study", study_name + "-nope"],
        repo,
        check=False,
    )
    assert missing.returncode == 1 and "no study" in missing.stderr
