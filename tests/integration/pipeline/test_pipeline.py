"""The whole pipeline under `dvc repro`, in throw-away git repos, on a 2,000-row sample."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
import yaml

from gitml.config import load_params
from gitml.core import features
from gitml.core.model_io import load_model
from gitml.pipeline import dataset
from tests.helpers import copy_repo, make_repo, prepared_repo, run, tool_env

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("pipeline")]


def stages_run(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


def lock_hashes(repo: Path) -> dict[str, str]:
    """Every path recorded in dvc.lock (deps and outs) with its md5."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return {
        f"{stage}:{entry['path']}": entry["md5"]
        for stage, body in lock["stages"].items()
        for kind in ("deps", "outs")
        for entry in body.get(kind, [])
    }


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, adult_sample: pd.DataFrame) -> Path:
    """A copy of the run's cold pipeline on the sample (tests/helpers.py `prepared_repo`, also
    what tests/e2e/review starts from), committed; the cold run ran every stage."""
    prepared = prepared_repo(tmp_path_factory, adult_sample)
    assert stages_run(prepared.cold_stdout) == [
        "check_params",
        "ingest",
        "validate",
        "split",
        "featurize",
        "tune",
        "train",
        "evaluate",
    ]
    return copy_repo(prepared.repo, tmp_path_factory.mktemp("pipeline") / "repo")


def copy_of(repo: Path, tmp_path: Path) -> Path:
    return copy_repo(repo, tmp_path / "copy")


def test_outputs_and_metrics(pipeline: Path) -> None:
    metrics = json.loads((pipeline / "reports/evaluate/metrics.json").read_text())
    assert 0.8 < metrics["roc_auc"] <= 1.0
    assert metrics["rows"] == 400  # 20% of 2,000
    slices = json.loads((pipeline / "reports/evaluate/slices.json").read_text())
    assert set(slices["columns"]) == {"gender", "race"}
    validation = json.loads((pipeline / "reports/validation.json").read_text())
    assert validation["passed"] is True and validation["rows"] == 2000
    meta = json.loads((pipeline / "models/model.json").read_text())
    assert 0 < meta["threshold"] < 1
    assert (pipeline / "reports/evaluate/evaluation.md").read_text().startswith("# Evaluation")
    # `dvc metrics show` and `dvc plots show` understand what the stages wrote
    shown = run(["dvc", "metrics", "show", "--json"], pipeline).stdout
    assert "roc_auc" in shown
    run(["dvc", "plots", "show", "--json"], pipeline)


def test_noop_repro_runs_nothing(pipeline: Path) -> None:
    proc = run(["dvc", "repro"], pipeline)
    assert stages_run(proc.stdout) == []
    assert run(["git", "status", "--porcelain"], pipeline).stdout == ""


def test_evaluate_param_reruns_only_evaluate(pipeline: Path, tmp_path: Path) -> None:
    repo = copy_of(pipeline, tmp_path)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["evaluate"]["top_features"] = 5
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    proc = run(["dvc", "repro"], repo)
    assert stages_run(proc.stdout) == ["check_params", "evaluate"]
    assert len(pd.read_csv(repo / "reports/evaluate/importance.csv")) == 5


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        ({"tune": {"n_trails": 10}}, "tune.n_trails"),  # a key inside a tracked section
        ({"tunning": {"n_trials": 10}}, "tunning"),  # a section no stage tracks
        ({"evaluate": {"slices": ["gender", "nope"]}}, "evaluate.slices"),  # a data error
    ],
)
def test_bad_param_fails_the_next_repro(
    pipeline: Path, tmp_path: Path, edit: dict[str, object], named: str
) -> None:
    repo = copy_of(pipeline, tmp_path)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for section, values in edit.items():
        params.setdefault(section, {}).update(values)  # type: ignore[union-attr]
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    proc = run(["dvc", "repro"], repo, check=False)
    assert proc.returncode != 0
    assert named in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_two_cold_runs_are_identical(
    pipeline: Path, tmp_path: Path, adult_sample: pd.DataFrame
) -> None:
    other = make_repo(tmp_path / "other", adult_sample)
    run(["dvc", "repro"], other)
    assert lock_hashes(other) == lock_hashes(pipeline)
    for name in ("reports/evaluate/metrics.json", "reports/tune/summary.json"):
        assert (other / name).read_bytes() == (pipeline / name).read_bytes()


def _wait_for_process(root: int, word: str, cpu_seconds: float) -> psutil.Process:
    """The descendant of `root` whose command line has `word`, once it has used `cpu_seconds`."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for child in psutil.Process(root).children(recursive=True):
            try:
                if word in child.cmdline() and sum(child.cpu_times()[:2]) >= cpu_seconds:
                    return child
            except psutil.NoSuchProcess:
                continue
        time.sleep(0.05)
    raise AssertionError(f"no process running {word!r} under {root} within 120 s")


def test_kill_9_then_rerun_gives_the_uninterrupted_result(
    pipeline: Path, tmp_path: Path, adult_sample: pd.DataFrame
) -> None:
    repo = make_repo(tmp_path / "killed", adult_sample)
    proc = subprocess.Popen(
        ["dvc", "repro"],
        cwd=repo,
        env=tool_env(),
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "Running stage 'tune'" in line:
            break
    # kill the whole process group in the middle of tuning: once the stage's process has done
    # half a second of work (CPU time, not a wall-clock guess: a busy machine slows both alike)
    tuner = _wait_for_process(proc.pid, "tune", cpu_seconds=0.5)
    assert tuner.is_running(), "tune ended before the kill: the test no longer kills mid-tune"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    rerun = run(["dvc", "repro"], repo)
    assert "tune" in stages_run(rerun.stdout)
    assert lock_hashes(repo) == lock_hashes(pipeline)
    leftovers = [p for p in repo.rglob(".*.tmp")]
    assert leftovers == []


# --------------------------------------------------------------------------- behaviour of the model


@pytest.fixture(scope="module")
def trained(pipeline: Path) -> tuple[object, pd.DataFrame, object]:
    params = load_params(pipeline / "params.yaml")
    meta = json.loads((pipeline / "models/model.json").read_text())
    model = load_model(pipeline / "models/model.skops", expected_sha256=meta["model_sha256"])
    return model, pd.read_parquet(pipeline / "data/split/test.parquet"), params


def _score(trained: tuple[object, pd.DataFrame, object], raw: pd.DataFrame) -> np.ndarray:
    model, _, params = trained
    X, _, _ = dataset.split_xy(
        features.apply(raw, params.features.derived), params.data, params.split
    )  # type: ignore[attr-defined]
    return model.predict_proba(X)[:, 1]  # type: ignore[attr-defined]


def test_predictions_equal_those_evaluate_used(pipeline: Path, trained: tuple) -> None:
    logged = pd.read_parquet(pipeline / "data/predictions/test.parquet")
    assert np.array_equal(_score(trained, trained[1]), logged["score"].to_numpy())


def test_row_order_does_not_change_predictions(trained: tuple) -> None:
    test = trained[1]
    order = np.random.default_rng(0).permutation(len(test))
    shuffled = _score(trained, test.iloc[order].reset_index(drop=True))
    assert np.array_equal(shuffled, _score(trained, test)[order])


@pytest.mark.parametrize("gain", [20_000, 50_000, 99_999])
def test_a_sharp_capital_gain_never_lowers_the_probability(trained: tuple, gain: int) -> None:
    """A person with no capital income, given a large capital gain, is never judged less likely
    to earn >50K. (Small gains may lower it: in Adult, gains of 3-7k go with lower incomes.)"""
    test = trained[1]
    none = test[(test["capital_gain"] == 0) & (test["capital_loss"] == 0)].reset_index(drop=True)
    assert len(none) > 100
    drop = _score(trained, none) - _score(trained, none.assign(capital_gain=float(gain)))
    assert drop.max() <= 1e-12, f"{(drop > 1e-12).sum()} of {len(none)} rows got a lower P(>50K)"
