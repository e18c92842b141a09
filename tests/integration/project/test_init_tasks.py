"""`gitml init` then `dvc repro train` on a regression and a multiclass table, with no hand edit:
the task is proposed from the target, every stage up to train follows it, and model.json says
which task and classes the model has. Then, per task, the whole own-data walk: init → repro →
report → promote → serve → predict → monitor with a shift → harvest → the next repro."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import yaml

from gitml.core.model_io import load_model
from gitml.core.model_meta import ModelMeta
from gitml.core.tasks import Task
from tests.integration.project.test_init import init_repo, metrics, repro, run
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


def test_init_then_repro_train_multiclass(tmp_path: Path) -> None:
    """init proposes the task, `dvc repro train` follows it. The regression table's init and
    repro are the regression walk's (below), checked there by `trained`: one cold run for both."""
    repo, table = init_repo(tmp_path, animals, "--target", "animal")
    out = run(["dvc", "repro", "-q", "train"], repo).stdout
    trained(repo, table, out, Task.MULTICLASS, ["bird", "dog", "fish"])


def trained(repo: Path, table: str, out: str, task: Task, classes: list[str]) -> None:
    """What init proposed and what `dvc repro` (its output `out`) trained: the task all along."""
    assert "data.task" in table and str(task) in table
    params = yaml.safe_load((repo / "params.yaml").read_text())
    assert params["data"]["task"] == str(task) and params["data"]["positive_class"] is None
    assert "train: " in out and f"({task}" in out
    validation = json.loads((repo / "reports" / "validation.json").read_text())
    assert validation["passed"] and validation["leakage"]["flagged"] == []
    meta = ModelMeta.read(repo / "models" / "model.json")
    assert meta.task is task and meta.threshold is None
    model = load_model(repo / "models" / "model.skops", meta.model_sha256)
    if task is Task.MULTICLASS:
        assert meta.classes == classes
        assert model.classes_.tolist() == list(range(len(classes)))
    else:
        assert meta.classes == [] and not hasattr(model, "predict_proba")
        summary = json.loads((repo / "reports" / "tune" / "summary.json").read_text())
        assert summary["metric"] == "neg_root_mean_squared_error"
        assert -65 < summary["cv_score"] < -45  # diabetes: RMSE ≈ 54 (target std 77)


def wine(folder: Path) -> Path:
    path = folder / "wine.csv"
    tasks_data.wine().to_csv(path, index=False)  # cultivar: barolo, grignolino, barbera
    return path


@dataclass(frozen=True)
class Walk:
    """One task's own-data walk: the table, its target, the gate's primary metric, the truth
    /feedback takes for a target value, the columns predict adds, and a real sub-population
    for the monitor's shift (the rows whose `column` is above `above`), and the classes
    model.json names (none for a regression)."""

    write: Callable[[Path], Path]
    target: str
    task: Task
    primary: str
    truth: Callable[[Any], Any]
    scored: list[str]
    column: str
    above: float
    classes: list[str]


WALKS = {
    "regression": Walk(diabetes, "progression", Task.REGRESSION, "rmse", float, ["prediction"],
                       "bmi", 30, []),
    "multiclass": Walk(wine, "cultivar", Task.MULTICLASS, "roc_auc_ovr", str,
                       ["label", "probability_barbera", "probability_barolo",
                        "probability_grignolino"], "alcohol", 13.5,
                       ["barbera", "barolo", "grignolino"]),
}  # fmt: skip


@pytest.mark.parametrize("name", list(WALKS))
def test_own_data_path_end_to_end_per_task(tmp_path: Path, name: str) -> None:
    """docs/your-own-data.md's two commands, then the README's chain, with no hand edit:
    init → commit → dvc repro → report → promote → serve (predict, feedback, metadata) →
    predict → monitor on a real sub-population (an alarm) → harvest → the next repro joins it."""
    walk = WALKS[name]
    repo, table = init_repo(tmp_path, walk.write, "--target", walk.target)
    print(table)
    base = run(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    params = yaml.safe_load((repo / "params.yaml").read_text())
    assert params["data"]["task"] == str(walk.task)
    assert params["promotion"]["primary_metric"] == walk.primary
    trained(repo, table, repro(repo), walk.task, walk.classes)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "repro"], repo)
    shown = run(["gitml", "metrics"], repo).stdout
    print(shown)
    assert walk.primary in shown
    report = run(["gitml", "report", "--base", base, "--format", "markdown"], repo).stdout
    assert walk.primary in report, report
    print(report[:3000])
    first = metrics(repo)[walk.primary]
    promoted = run(["gitml", "promote"], repo).stdout
    print(promoted)
    assert "tags: model@v0.1.0, model#prod#1" in promoted, promoted

    raw = pd.read_csv(walk.write(tmp_path))
    _serve(repo, walk, raw)

    predicted = run(["gitml", "predict", f"data/raw/{walk.write(tmp_path).name}", "--out",
                     "scored.csv", "--stage", "prod"], repo)  # fmt: skip
    print(predicted.stdout, predicted.stderr)
    scored = pd.read_csv(repo / "scored.csv")
    assert len(scored) == len(raw) and list(scored.columns[-len(walk.scored) :]) == walk.scored
    # traffic from one real sub-population only: its rows, drawn with replacement up to
    # monitor.min_rows and beyond (these tables are small)
    shifted = scored.loc[raw[walk.column] > walk.above]
    shifted.sample(300, replace=True, random_state=0).to_csv(repo / "shifted.csv", index=False)
    proc = run(["gitml", "monitor", "--current", "shifted.csv"], repo, check=False)
    print(proc.stdout, proc.stderr)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # an alarm
    assert f"alarm: {walk.column}: distribution" in proc.stderr, proc.stderr
    monitoring = json.loads((repo / "reports/monitoring/monitoring.json").read_text())
    assert monitoring["status"] == "alarm"

    harvested = run(["gitml", "harvest", "--log-db", f"sqlite:///{repo}/log.db", "--since",
                     "all"], repo).stdout  # fmt: skip
    print(harvested)
    rows = pd.concat(pd.read_parquet(p) for p in (repo / "data/raw/production").glob("*.parquet"))
    assert len(rows) == 5
    truth = raw[walk.target].head(5).map(walk.truth).tolist()
    assert sorted(rows[walk.target].map(walk.truth).tolist()) == sorted(truth)
    params["data"]["extra_sources"] = ["data/raw/production/"]
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = repro(repo)
    print(out)
    # split: "+N production rows in train, M held out as recent traffic, K left out: equal to
    # a test row": the five labelled rows, all accounted for
    joined = re.search(r"\+(\d+) production rows in train, (\d+) held out as recent traffic, "
                       r"(\d+) left out", " ".join(out.split()))  # fmt: skip
    assert joined and sum(map(int, joined.groups())) == 5, out
    # the retrained model against prod, in the primary metric's direction (rmse: lower wins)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "retrain on the harvested rows"], repo)
    again = run(["gitml", "promote"], repo, check=False)
    print(again.stdout)
    now = metrics(repo)[walk.primary]
    # the direction written out, not read from core.metrics (the gate's own list)
    worse = now > first if walk.primary == "rmse" else now < first  # type: ignore[operator]
    assert ("REFUSE: " if worse else "PROMOTE: ") in again.stdout, again.stdout + again.stderr
    assert "vs prod v0.1.0" in again.stdout


def _serve(repo: Path, walk: Walk, raw: pd.DataFrame) -> None:
    """`gitml serve --stage prod` over HTTP: five rows predicted, each labelled with its truth;
    /metadata names the task."""
    from tests.integration.serve.test_serve import start, wait_ready

    server = start(repo, "serve", "--stage", "prod", "--log-db", f"sqlite:///{repo}/log.db")
    try:
        wait_ready(server)
        meta = httpx.get(f"{server.url}/metadata", timeout=10).json()
        assert meta["task"] == str(walk.task)
        rows = json.loads(raw.drop(columns=[walk.target]).head(5).to_json(orient="records"))
        answers = httpx.post(f"{server.url}/predict", json=rows, timeout=30)
        assert answers.status_code == 200, answers.text
        print(answers.json()[0])
        for answer, truth in zip(answers.json(), raw[walk.target].head(5), strict=True):
            assert answer["model_version"] == "v0.1.0"
            if walk.task is Task.REGRESSION:
                assert isinstance(answer["prediction"], float), answer
            else:
                assert set(answer["probabilities"]) == {"barbera", "barolo", "grignolino"}
                assert answer["label"] == max(
                    answer["probabilities"], key=answer["probabilities"].get
                )
            sent = httpx.post(
                f"{server.url}/feedback",
                json={"prediction_id": answer["prediction_id"], "label": walk.truth(truth)},
                timeout=10,
            )
            assert sent.status_code == 202, sent.text
    finally:
        print(server.stop())
