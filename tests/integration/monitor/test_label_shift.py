"""`gitml predict` → `gitml monitor --current` on a calibrated model: the output of predict is read
as it is, and a shift to 10% positives alarms as a label shift before any label arrives.

The model is fitted in-process (tests/served_model) on real Adult rows, with sigmoid calibration
as the train stage fits it; the files the monitor reads are laid out as `dvc repro` leaves them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gitml.core import features
from gitml.core.models import columns_of
from gitml.monitor import estimate
from tests.integration.monitor.test_monitor import gitml
from tests.served_model import DERIVED, model_repo

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("monitor")]
TARGET, POSITIVE = "income", ">50K"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, adult: pd.DataFrame) -> Path:
    order = np.random.default_rng(7).permutation(len(adult))
    path = model_repo(
        tmp_path_factory.mktemp("shift") / "ws",
        adult.iloc[order[:16_000]].reset_index(drop=True),
        calibration="sigmoid",
    )
    adult.iloc[order[16_000:]].reset_index(drop=True).to_parquet(path / "held_out.parquet")
    train = features.apply(pd.read_parquet(path / "data/split/train.parquet"), DERIVED)
    (path / "data/features").mkdir(parents=True)
    train.to_parquet(path / "data/features/train.parquet", index=False)
    cols = columns_of(train.drop(columns=[TARGET]))
    meta = json.loads((path / "models/model.json").read_text())
    meta["features"] = {"numeric": cols.numeric, "categorical": cols.categorical}
    meta["calibration"] = {"method": "sigmoid"}
    (path / "models/model.json").write_text(json.dumps(meta, indent=2))
    # evaluate's outputs: the test split's scores and labels, and its metrics
    proc = gitml(path, "predict", "data/split/test.parquet", "--out", "test_scored.parquet")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    scored = pd.read_parquet(path / "test_scored.parquet")
    y = (pd.read_parquet(path / "data/split/test.parquet")[TARGET] == POSITIVE).astype("int64")
    (path / "data/predictions").mkdir(parents=True)
    pd.DataFrame({"y_true": y.to_numpy(), "score": scored["probability"]}).to_parquet(
        path / "data/predictions/test.parquet", index=False
    )
    metrics = estimate.realized(y.to_numpy(), scored["probability"].to_numpy(), meta["threshold"])
    (path / "reports/evaluate").mkdir(parents=True)
    (path / "reports/evaluate/metrics.json").write_text(json.dumps(metrics))
    return path


def _rows(workspace: Path, share: float, n: int, seed: int) -> pd.DataFrame:
    held = pd.read_parquet(workspace / "held_out.parquet")
    rng = np.random.default_rng(seed)
    pos = held.index[held[TARGET] == POSITIVE].to_numpy()
    neg = held.index[held[TARGET] != POSITIVE].to_numpy()
    k = round(share * n)
    idx = np.concatenate([rng.choice(pos, k, replace=False), rng.choice(neg, n - k, replace=False)])
    return held.loc[rng.permutation(idx)].reset_index(drop=True)


def _predict_then_monitor(workspace: Path, rows: pd.DataFrame, name: str) -> tuple[int, str]:
    rows.drop(columns=[TARGET]).to_parquet(workspace / f"{name}.parquet", index=False)
    proc = gitml(workspace, "predict", f"{name}.parquet", "--out", f"{name}_scored.parquet")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = gitml(workspace, "monitor", "--current", f"{name}_scored.parquet", "--out", name)
    return proc.returncode, proc.stdout + proc.stderr


def test_a_shift_to_ten_percent_positives_alarms_as_a_label_shift(workspace: Path) -> None:
    code, output = _predict_then_monitor(workspace, _rows(workspace, 0.10, 1_500, 1), "prior")
    assert code == 1, output
    assert "cause: label shift" in output, output
    assert "alarm: estimated performance: label shift: the share of positives" in output
    report = json.loads((workspace / "prior/monitoring.json").read_text())
    assert report["estimate"]["prior"]["estimated"] == pytest.approx(0.10, abs=0.04)
    assert "concept drift" not in report["causes"]


def test_unshifted_predictions_are_estimated_without_an_alarm(workspace: Path) -> None:
    held = pd.read_parquet(workspace / "held_out.parquet")
    share = float((held[TARGET] == POSITIVE).mean())
    code, output = _predict_then_monitor(workspace, _rows(workspace, share, 1_500, 2), "calm")
    assert code == 0, output
    report = json.loads((workspace / "calm/monitoring.json").read_text())
    e = report["estimate"]  # once skipped: predict's `probability` was not read
    assert e is not None and e["rows"] == 1_500 and e["prior"]["label_shift"] is False
