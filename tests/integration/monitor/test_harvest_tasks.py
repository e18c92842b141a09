"""`gitml harvest` for a regression and a multiclass model: the truth /feedback stored (the
number in `feedback.value`, the class name in `feedback.class_name`) becomes the target of the
harvested row, as ingest stores a target (text), and the rows join training."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from gitml.core import schema
from gitml.core.names import normalise_name
from gitml.core.tasks import Task
from gitml.logstore import logdb
from gitml.monitor import harvest
from gitml.pipeline import production
from gitml.serve.answers import feedback_fields
from tests.helpers import run
from tests.unit.pipeline import tasks_data

CASES = {
    "regression": (tasks_data.diabetes, "progression", Task.REGRESSION),
    "multiclass": (tasks_data.wine, "cultivar", Task.MULTICLASS),
}


@pytest.mark.parametrize("name", list(CASES))
def test_harvest_writes_each_tasks_truth_as_the_target(tmp_path: Path, name: str) -> None:
    make, target, task = CASES[name]
    table = make().rename(columns=normalise_name)
    contract, _ = schema.infer(table, target, 50)
    schema.write(contract, tmp_path / "schema.yaml")
    classes = sorted(table[target].unique())
    truth: list = (
        table[target].astype(float).tolist() if task is Task.REGRESSION
        else table[target].tolist()
    )  # fmt: skip
    now = datetime.now(UTC)
    predictions, feedback = [], []
    for i, features in enumerate(table.drop(columns=[target]).head(12).to_dict("records")):
        pid = f"00000000-0000-0000-0000-{i:012d}"
        predictions.append({"id": pid, "created_at": now - timedelta(minutes=20 - i),
                            "model_version": "v1", "features": features, "score": 0.5,
                            "label": 0, "threshold": 0.0, "unseen": [],
                            "task": task.value})  # fmt: skip
        if i < 10:  # two still without a label
            fields = feedback_fields(task, classes, truth[i])  # what POST /feedback logs
            feedback.append({"prediction_id": pid, "created_at": now, **fields})
    url = f"sqlite:///{tmp_path / 'log.db'}"
    engine = logdb.engine_for(url)
    with engine.begin() as conn:
        conn.execute(logdb.predictions.insert(), predictions)
        conn.execute(logdb.feedback.insert(), feedback)
    engine.dispose()

    result = harvest.run(url, None, Path("schema.yaml"), target, None, date="d",
                         dvc_add=False, repo=tmp_path, task=task)  # fmt: skip
    assert result.counts["unlabelled"] == 2 and result.counts["contract"] == 0
    assert result.written == 10
    rows = pd.read_parquet(tmp_path / "data/raw/production/d.parquet")
    assert rows[target].tolist() == table[target].head(10).tolist()  # as ingest stores it
    if task is Task.REGRESSION:
        assert [float(v) for v in rows[target]] == truth[:10]

    # the rows join training (the split stage's rule), the target in the train split's dtype
    train = table.iloc[100:110]
    joined = production.join(
        train, table.iloc[150:160], ["data/raw/production"], 0.25, target, root=tmp_path
    )
    assert len(joined.train) == 10 + 7 and len(joined.recent) == 3
    assert joined.train[target].tail(7).tolist() == table[target].iloc[:7].tolist()


def test_the_cli_harvests_a_regression_log(tmp_path: Path) -> None:
    """`gitml harvest` on a regression project: no data.positive_class to ask for."""
    table = tasks_data.diabetes()
    contract, _ = schema.infer(table, "progression", 50)
    schema.write(contract, tmp_path / "schema.yaml")
    pid = "00000000-0000-0000-0000-000000000001"
    features = table.drop(columns=["progression"]).iloc[0].to_dict()
    url = f"sqlite:///{tmp_path / 'log.db'}"
    engine = logdb.engine_for(url)
    with engine.begin() as conn:
        conn.execute(logdb.predictions.insert(), [{"id": pid, "created_at": datetime.now(UTC),
                     "model_version": "v1", "features": features, "score": 150.0, "label": 0,
                     "threshold": 0.0, "unseen": [], "task": "regression"}])  # fmt: skip
        fields = feedback_fields(Task.REGRESSION, [], 151.5)
        conn.execute(logdb.feedback.insert(), [{"prediction_id": pid, **fields,
                                                "created_at": datetime.now(UTC)}])  # fmt: skip
    engine.dispose()
    params = tmp_path / "params.yaml"
    data = {
        "source": "d.csv",
        "target": "progression",
        "task": "regression",
        "positive_class": None,
    }
    params.write_text(json.dumps({"data": data, "validate": {"schema_file": "schema.yaml"}}))
    run(["gitml", "harvest", "--log-db", url, "--since", "all", "--all-versions", "--no-dvc",
         "--date", "d"], tmp_path)  # fmt: skip
    rows = pd.read_parquet(tmp_path / "data/raw/production/d.parquet")
    assert rows["progression"].tolist() == ["151.5"]


def test_a_regression_label_the_training_target_could_not_hold_is_left_out(
    tmp_path: Path,
) -> None:
    """POST /feedback takes any finite number: a label of 1e308 or a negative price must not
    become training data (one such row ruins a linear model). Labels beyond the training
    target's range (reports/validation.json) by more than its span, or below 0 for a target
    never negative, are left out and counted; without the report nothing is checked."""
    table = tasks_data.diabetes()
    contract, _ = schema.infer(table, "progression", 50)
    schema.write(contract, tmp_path / "schema.yaml")
    labels = [151.5, 1e308, -5.0, 0.0, 700.0, 25.0]  # the training targets span 25..346
    now = datetime.now(UTC)
    url = f"sqlite:///{tmp_path / 'log.db'}"
    engine = logdb.engine_for(url)
    with engine.begin() as conn:
        for i, label in enumerate(labels):
            pid = f"00000000-0000-0000-0000-{i:012d}"
            features = table.drop(columns=["progression"]).iloc[i].to_dict()
            conn.execute(logdb.predictions.insert(), [{"id": pid, "created_at": now,
                         "model_version": "v1", "features": features, "score": 150.0,
                         "label": 0, "threshold": 0.0, "unseen": [],
                         "task": "regression"}])  # fmt: skip
            fields = feedback_fields(Task.REGRESSION, [], label)
            conn.execute(logdb.feedback.insert(),
                         [{"prediction_id": pid, **fields, "created_at": now}])  # fmt: skip
    engine.dispose()
    args = (url, None, Path("schema.yaml"), "progression", None)
    unchecked = harvest.run(*args, date="a", dvc_add=False, repo=tmp_path,
                            out_dir=Path("unchecked"), task=Task.REGRESSION)  # fmt: skip
    assert unchecked.written == 6 and unchecked.counts["target_range"] == 0
    assert unchecked.label_range is None

    progression = table["progression"].astype(float)
    report = {"quality": {"target": {"min": progression.min(), "max": progression.max()}}}
    (tmp_path / "reports").mkdir(exist_ok=True)
    (tmp_path / "reports/validation.json").write_text(json.dumps(report))
    result = harvest.run(*args, date="d", dvc_add=False, repo=tmp_path, task=Task.REGRESSION)
    assert result.label_range == (0.0, 667.0)  # 25..346 widened by its span, not below 0
    assert result.counts["target_range"] == 3 and result.written == 3
    rows = pd.read_parquet(tmp_path / "data/raw/production/d.parquet")
    assert [float(v) for v in rows["progression"]] == [151.5, 0.0, 25.0]
    saved = json.loads((tmp_path / "reports/harvest/d.json").read_text())
    assert saved["label_range"] == [0.0, 667.0] and saved["counts"]["target_range"] == 3
