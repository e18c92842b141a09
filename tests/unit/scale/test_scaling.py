"""Scaling helpers: synthetic data, tuning on a subsample, study names, the S3 remote wrapper."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gitml.config import DataConfig, SplitConfig, TuneConfig
from gitml.errors import ConfigError, GitmlError
from gitml.pipeline import tune
from gitml.scale import remote, synth

pytestmark = pytest.mark.xdist_group("scaling")


def test_synth_resamples_with_noise_inside_the_observed_ranges(adult_sample: pd.DataFrame) -> None:
    big = synth.synthesize(adult_sample, 5000, seed=1)
    assert len(big) == 5000 and list(big.columns) == list(adult_sample.columns)
    assert big.dtypes.equals(adult_sample.dtypes)
    for col in ("age", "hours_per_week", "capital_gain"):
        src = adult_sample[col]
        assert big[col].min() >= src.min() and big[col].max() <= src.max()
    # The same draw without noise picks the same rows: noise moved numbers, but never zeros.
    exact = synth.synthesize(adult_sample, 5000, seed=1, noise=0.0)
    assert (big["age"] != exact["age"]).mean() > 0.2
    assert ((exact["capital_gain"] == 0) == (big["capital_gain"] == 0)).all()
    moved = exact["capital_gain"] > 0
    assert (big.loc[moved, "capital_gain"] != exact.loc[moved, "capital_gain"]).mean() > 0.5
    # Few exact duplicates: the noise is not rounded away (validate's duplicate rule holds).
    assert big.duplicated().mean() < 0.05
    # Text columns and the label are resampled, never invented.
    assert set(big["education"].dropna()) <= set(adult_sample["education"].dropna())
    assert big["income"].value_counts(normalize=True)[">50K"] == pytest.approx(
        (adult_sample["income"] == ">50K").mean(), abs=0.03
    )


def test_synth_is_seeded(adult_sample: pd.DataFrame) -> None:
    a = synth.synthesize(adult_sample, 300, seed=3)
    assert a.equals(synth.synthesize(adult_sample, 300, seed=3))
    assert not a.equals(synth.synthesize(adult_sample, 300, seed=4))


def test_synth_writes_parquet_or_csv_and_refuses_other_suffixes(
    adult_sample: pd.DataFrame, tmp_path: Path
) -> None:
    src = tmp_path / "src.csv"
    adult_sample.to_csv(src, index=False)
    cfg = DataConfig(source=str(src))
    result = synth.run(cfg, 700, tmp_path / "big.parquet")
    assert len(pd.read_parquet(result.path)) == 700 and result.source_rows == len(adult_sample)
    assert len(pd.read_csv(synth.run(cfg, 50, tmp_path / "small.csv").path)) == 50
    with pytest.raises(GitmlError, match=r"\.parquet or \.csv"):
        synth.run(cfg, 10, tmp_path / "big.xlsx")


def test_subsample_is_stratified_sorted_and_seeded() -> None:
    y = np.array([1] * 250 + [0] * 750)
    keep = tune.subsample_index(y, 200, seed=0)
    assert len(keep) == 200 and list(keep) == sorted(keep)
    assert y[keep].mean() == pytest.approx(0.25, abs=0.01)
    assert np.array_equal(keep, tune.subsample_index(y, 200, seed=0))
    assert len(tune.subsample_index(y, 5000, seed=0)) == len(y)


def test_tune_subsample_tunes_on_fewer_rows(adult_sample: pd.DataFrame, tmp_path: Path) -> None:
    space = {"logistic_regression": {"C": {"type": "float", "low": 0.1, "high": 10, "log": True}}}
    cfg = TuneConfig.model_validate(
        {"n_trials": 2, "cv_folds": 2, "subsample": 500, "search_space": space}
    )
    result = tune.run(
        cfg, DataConfig(), SplitConfig(), adult_sample, "h", tmp_path, show_progress=False
    )
    assert result.summary["tune_rows"] == 500


def test_execution_settings_do_not_change_the_study_name() -> None:
    base = TuneConfig()
    same = base.model_copy(
        update={"workers": 4, "storage": "sqlite:///x.db", "heartbeat_interval": 5}
    )
    assert tune.study_name(base, "h") == tune.study_name(same, "h")
    assert tune.study_name(base, "h") != tune.study_name(
        base.model_copy(update={"subsample": 1000}), "h"
    )
    assert tune.study_name(base, "h") != tune.study_name(base, "other data")


def test_local_workers_without_a_database_share_a_journal(
    adult_sample: pd.DataFrame, tmp_path: Path
) -> None:
    space = {"logistic_regression": {"C": {"type": "float", "low": 0.1, "high": 10, "log": True}}}
    cfg = TuneConfig.model_validate(
        {"n_trials": 4, "cv_folds": 2, "workers": 2, "search_space": space}
    )
    result = tune.run(
        cfg, DataConfig(), SplitConfig(), adult_sample.head(600), "h", tmp_path, show_progress=False
    )
    trials = pd.read_csv(tmp_path / "trials.csv")
    assert sorted(trials["trial"]) == list(range(len(trials)))
    assert 4 <= result.summary["n_complete"] + result.summary["n_pruned"] <= 5


def test_unknown_storage_scheme_is_a_config_error_with_the_password_masked() -> None:
    cfg = TuneConfig(storage="nosuchdb://me:hunter2@host/db")
    with pytest.raises(ConfigError) as info:
        tune.open_storage(cfg)
    assert "hunter2" not in str(info.value) and "nosuchdb://me:***@host/db" in str(info.value)


def test_remote_setup_commands() -> None:
    cmds = remote.commands("s3://my-bucket/gitml", endpoint_url="http://127.0.0.1:9000")
    assert cmds == [
        ["dvc", "remote", "add", "--default", "--force", "storage", "s3://my-bucket/gitml"],
        ["dvc", "remote", "modify", "storage", "endpointurl", "http://127.0.0.1:9000"],
    ]
    assert remote.commands("s3://b-1", name="team", default=False) == [
        ["dvc", "remote", "add", "--force", "team", "s3://b-1"]
    ]


@pytest.mark.parametrize(
    ("url", "kw", "match"),
    [
        ("gs://bucket/x", {}, "expected s3://bucket or"),
        ("s3://Bad_Bucket", {}, "expected s3://bucket"),
        ("s3://bucket", {"name": "a b"}, "remote name"),
        ("s3://bucket", {"endpoint_url": "127.0.0.1:9000"}, "--endpoint-url"),
    ],
)
def test_remote_setup_refuses_bad_input(url: str, kw: dict[str, str], match: str) -> None:
    with pytest.raises(GitmlError, match=match):
        remote.commands(url, **kw)


def test_one_worker_on_a_database_gives_the_in_memory_result(
    adult_sample: pd.DataFrame, tmp_path: Path
) -> None:
    """docs/scaling.md: exact reproduction = one worker, fixed seed, whatever the storage."""
    space = {
        "hist_gradient_boosting": {
            "max_iter": {"type": "int", "low": 5, "high": 10},
            "learning_rate": {"type": "float", "low": 0.05, "high": 0.3, "log": True},
        }
    }
    base = {"n_trials": 4, "cv_folds": 2, "seed": 3, "search_space": space}
    train = adult_sample.head(800)
    for name, extra in {
        "memory": {},
        "sqlite": {"storage": f"sqlite:///{tmp_path / 'optuna.db'}"},
    }.items():
        cfg = TuneConfig.model_validate({**base, **extra})
        tune.run(cfg, DataConfig(), SplitConfig(), train, "h", tmp_path / name, show_progress=False)
    for file in ("trials.csv", "summary.json", "history.csv"):
        assert (tmp_path / "memory" / file).read_bytes() == (
            tmp_path / "sqlite" / file
        ).read_bytes()


def test_grace_period_must_outlast_the_heartbeat() -> None:
    with pytest.raises(ValueError, match="grace_period"):
        TuneConfig(heartbeat_interval=10, grace_period=10)
    assert TuneConfig(heartbeat_interval=1, grace_period=3).grace_period == 3
