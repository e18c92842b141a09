"""`gitml init` then `dvc repro train` on a regression and a multiclass table, with no hand edit:
the task is proposed from the target, every stage up to train follows it, and model.json says
which task and classes the model has. (evaluate per task is another branch's: this test stops
at train until it lands.)"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from gitml.core.model_io import load_model
from gitml.core.model_meta import ModelMeta
from gitml.core.tasks import Task
from tests.integration.project.test_init import init_repo, run
from tests.unit.pipeline import tasks_data

pytestmark = pytest.mark.slow


def diabetes(folder: Path) -> Path:
    path = folder / "diabetes.csv"
    frame = tasks_data.diabetes()
    frame["progression"] = frame["progression"].astype(float)  # a number in the file
    frame.to_csv(path, index=False)
    return path


def animals(folder: Path) -> Path:
    path = folder / "animals.csv"
    tasks_data.animals(n=1500).to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("write", "target", "task"),
    [(diabetes, "progression", Task.REGRESSION), (animals, "animal", Task.MULTICLASS)],
    ids=["regression", "multiclass"],
)
def test_init_then_repro_train_per_task(
    tmp_path: Path, write: Callable[[Path], Path], target: str, task: Task
) -> None:
    repo, table = init_repo(tmp_path, write, "--target", target)
    assert "data.task" in table and str(task) in table
    params = yaml.safe_load((repo / "params.yaml").read_text())
    assert params["data"]["task"] == str(task) and params["data"]["positive_class"] is None
    proc = run(["dvc", "repro", "-q", "train"], repo)
    assert "train: " in proc.stdout and f"({task}" in proc.stdout
    validation = json.loads((repo / "reports" / "validation.json").read_text())
    assert validation["passed"] and validation["leakage"]["flagged"] == []
    meta = ModelMeta.read(repo / "models" / "model.json")
    assert meta.task is task and meta.threshold is None
    model = load_model(repo / "models" / "model.skops", meta.model_sha256)
    if task is Task.MULTICLASS:
        assert meta.classes == ["bird", "dog", "fish"]
        assert model.classes_.tolist() == [0, 1, 2]
    else:
        assert meta.classes == [] and not hasattr(model, "predict_proba")
        summary = json.loads((repo / "reports" / "tune" / "summary.json").read_text())
        assert summary["metric"] == "neg_root_mean_squared_error"
        assert -65 < summary["cv_score"] < -45  # diabetes: RMSE ≈ 54 (target std 77)
