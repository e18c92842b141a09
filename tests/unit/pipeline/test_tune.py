"""tune: seeded Optuna search; reproducible best params; storage URLs never leak passwords."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gitml.cli.app import exit_code
from gitml.config import DataConfig, SplitConfig, TuneConfig
from gitml.errors import ConfigError
from gitml.io.files import read_json
from gitml.pipeline import tune

DATA = DataConfig()
# Small ranges and tiny models: the search logic is under test, not the models.
SPACE: dict[str, Any] = {
    "hist_gradient_boosting": {
        "max_iter": {"type": "int", "low": 5, "high": 10},
        "learning_rate": {"type": "float", "low": 0.05, "high": 0.3, "log": True},
        "max_leaf_nodes": {"type": "int", "low": 4, "high": 16},
    }
}


def fast(**kw: Any) -> TuneConfig:
    base: dict[str, Any] = {"n_trials": 3, "cv_folds": 2, "search_space": SPACE}
    return TuneConfig.model_validate({**base, **kw})


def run(cfg: TuneConfig, train: pd.DataFrame, out: Path, **kw: Any) -> tune.TuneResult:
    return tune.run(cfg, DATA, SplitConfig(), train, "datahash", out, show_progress=False, **kw)


@pytest.fixture(scope="module")
def train(adult_sample: pd.DataFrame) -> pd.DataFrame:
    return adult_sample.head(800)


# --------------------------------------------------------------------------- reproducibility


def test_same_seed_same_best_params_and_trials(train: pd.DataFrame, tmp_path: Path) -> None:
    # No enqueued defaults: every trial is sampled, so only the seed can make runs agree.
    cfg = fast(seed=7, enqueue_defaults=False)
    a = run(cfg, train, tmp_path / "a")
    b = run(cfg, train, tmp_path / "b")
    assert (a.family, a.params, a.cv_score) == (b.family, b.params, b.cv_score)
    for name in ("trials.csv", "history.csv", "summary.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()

    other = run(fast(seed=8, enqueue_defaults=False), train, tmp_path / "c")
    trials_a = pd.read_csv(tmp_path / "a" / "trials.csv")["params"].tolist()
    trials_c = pd.read_csv(tmp_path / "c" / "trials.csv")["params"].tolist()
    assert trials_a != trials_c  # the seed is really what drives the sampler
    assert other.params.keys() == a.params.keys()


def test_outputs_agree_with_each_other(train: pd.DataFrame, tmp_path: Path) -> None:
    result = run(fast(seed=1), train, tmp_path)
    trials = pd.read_csv(tmp_path / "trials.csv")
    summary = read_json(tmp_path / "summary.json")
    assert len(trials) == summary["n_trials"] == 3
    complete = trials[trials["state"] == "complete"]
    assert summary["n_complete"] == len(complete)
    assert summary["cv_score"] == pytest.approx(complete["value"].max(), abs=1e-6)
    assert result.cv_score == pytest.approx(summary["cv_score"], abs=1e-6)
    best_row = trials[trials["trial"] == summary["best_trial"]].iloc[0]
    assert best_row["value"] == pytest.approx(result.cv_score)
    # best_so_far is the running maximum
    assert np.allclose(complete["best_so_far"], complete["value"].cummax())
    # the best params are inside the declared ranges
    p = result.params
    assert result.family == "hist_gradient_boosting"
    assert 5 <= p["max_iter"] <= 10
    assert isinstance(p["max_iter"], int)
    assert 0.05 <= p["learning_rate"] <= 0.3
    assert 4 <= p["max_leaf_nodes"] <= 16


def test_trial_zero_is_the_estimator_defaults_clipped_into_the_space(
    train: pd.DataFrame, tmp_path: Path
) -> None:
    result = run(fast(n_trials=1, enqueue_defaults=True), train, tmp_path)
    # sklearn defaults: max_iter=100 (clipped to 10), learning_rate=0.1, max_leaf_nodes=31 (→16)
    assert result.params == {"max_iter": 10, "learning_rate": 0.1, "max_leaf_nodes": 16}
    assert set(result.summary["defaults_cv_score"]) == {"hist_gradient_boosting"}


def test_defaults_in_space_clips_and_keeps_types() -> None:
    cfg = TuneConfig.model_validate(
        {
            "search_space": {
                "hist_gradient_boosting": {
                    "learning_rate": {"type": "float", "low": 0.2, "high": 0.3},
                    "max_iter": {"type": "int", "low": 10, "high": 500},
                    "loss": {"type": "categorical", "choices": ["log_loss"]},
                    "max_depth": {"type": "int", "low": 2, "high": 5},  # default None: left out
                }
            }
        }
    )
    fixed = tune.defaults_in_space(
        "hist_gradient_boosting", cfg.search_space["hist_gradient_boosting"]
    )
    assert fixed == {
        "family": "hist_gradient_boosting",
        "hist_gradient_boosting.learning_rate": 0.2,
        "hist_gradient_boosting.max_iter": 100,
        "hist_gradient_boosting.loss": "log_loss",
    }
    assert isinstance(fixed["hist_gradient_boosting.max_iter"], int)


@pytest.mark.parametrize(
    ("changed_data", "changed_increasing"),
    [
        (DATA, ["capital_gain"]),  # new monotonic constraints
        (DataConfig(positive_class="<=50K"), []),  # the other label is now "positive"
    ],
    ids=["monotonic_increasing", "positive_class"],
)
def test_changed_tune_inputs_start_a_new_study(
    train: pd.DataFrame, tmp_path: Path, changed_data: DataConfig, changed_increasing: list[str]
) -> None:
    # With a persistent storage a rerun resumes the study *of the same inputs* (the study name
    # hashes them). dvc.yaml reruns tune when data.positive_class or
    # features.monotonic_increasing change; the same file of data with other labels or other
    # constraints is another search, and must not resume the old trials and their scores.
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    cfg = fast(n_trials=1, storage=storage, enqueue_defaults=False)
    before = run(cfg, train, tmp_path / "a", increasing=[])
    after = tune.run(
        cfg,
        changed_data,
        SplitConfig(),
        train,
        "datahash",
        tmp_path / "b",
        increasing=changed_increasing,
        show_progress=False,
    )
    assert before.summary["study_name"] != after.summary["study_name"]


# --------------------------------------------------------------------------- study names


def test_study_name_is_derived_from_the_tune_inputs() -> None:
    cfg = fast()
    name = tune.study_name(cfg, "h1")
    assert name.startswith("gitml-")
    assert tune.study_name(fast(), "h1") == name  # deterministic
    assert tune.study_name(cfg, "h2") != name  # other data
    assert tune.study_name(fast(seed=3), "h1") != name  # other search
    assert tune.study_name(fast(n_trials=9), "h1") != name
    # where and how long it runs does not make it another study
    assert tune.study_name(fast(storage="sqlite:///x.db", timeout=5), "h1") == name
    assert tune.study_name(fast(study_name="mine"), "h1") == "mine"


# --------------------------------------------------------------------------- folds


@pytest.mark.parametrize("grouped", [False, True])
def test_folds_partition_rows_and_keep_groups_together(grouped: bool) -> None:
    rng = np.random.default_rng(0)
    n = 120
    X = pd.DataFrame({"x": rng.random(n)})
    y = (rng.random(n) < 0.3).astype(np.int64)
    groups = pd.Series(rng.integers(0, 30, n)) if grouped else None
    cv = tune.folds(X, y, 3, seed=0, groups=groups)
    assert len(cv) == 3
    valid = np.concatenate([v for _, v in cv])
    assert sorted(valid) == list(range(n))  # each row validated exactly once
    for train_idx, valid_idx in cv:
        assert not set(train_idx) & set(valid_idx)
        if groups is not None:
            assert not set(groups[train_idx]) & set(groups[valid_idx])
    assert [v.tolist() for _, v in tune.folds(X, y, 3, 0, groups)] == [v.tolist() for _, v in cv]


# --------------------------------------------------------------------------- storage URLs


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("postgresql://u:secret@h/db", "h/db"),
        ("postgresql+psycopg2://user:secret@127.0.0.1:5432/test", "127.0.0.1:5432/test"),
        ("mysql://root:secret@db.internal/optuna", "db.internal/optuna"),
        ("redis://u:secret@h:notaport/x", "h"),  # not even parseable: still no password
    ],
)
def test_mask_url_hides_the_password(url: str, kept: str) -> None:
    masked = tune.mask_url(url)
    assert "secret" not in masked
    assert kept in masked


def test_mask_url_without_password_or_url() -> None:
    assert tune.mask_url("sqlite:///optuna.db") == "sqlite:///optuna.db"
    assert tune.mask_url(None) == "(in memory)"


@settings(max_examples=60, deadline=None)
@given(
    password=st.text(
        alphabet=string.ascii_letters + string.digits + "!#$%&*+-.:;=?@^_~/ ", min_size=6
    ),
    user=st.from_regex(r"[a-z]{1,8}", fullmatch=True),
)
def test_mask_url_never_shows_a_percent_encoded_password(password: str, user: str) -> None:
    encoded = quote(password, safe="")
    url = f"postgresql://{user}:{encoded}@db.example:5432/optuna"
    assume(password not in url.replace(encoded, "") and encoded not in "postgresql")
    masked = tune.mask_url(url)
    assert password not in masked
    assert encoded not in masked
    assert "db.example" in masked


def test_unreachable_storage_error_names_it_without_the_password(
    train: pd.DataFrame, tmp_path: Path
) -> None:
    cfg = fast(storage="postgresql://gitml:secret@127.0.0.1:1/nodb")
    with pytest.raises(ConfigError) as info:
        run(cfg, train, tmp_path)
    assert exit_code(info.value) == 2
    assert "tune.storage" in str(info.value)
    assert "127.0.0.1:1" in str(info.value)
    assert "secret" not in str(info.value)
    assert not (tmp_path / "summary.json").exists()


def test_local_workers_share_the_cores_unless_omp_num_threads_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gitml.pipeline.tune.workers import threads_per_worker

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert threads_per_worker(1) is None  # one process: as many threads as it likes
    assert threads_per_worker(2) == 4
    assert threads_per_worker(3) == 2
    assert threads_per_worker(16) == 1  # never zero
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads_per_worker(2) is None  # the user's choice wins
