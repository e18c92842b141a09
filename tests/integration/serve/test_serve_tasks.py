"""Serving a regression or a multiclass model: the answer, /metadata, OpenAPI, /feedback and the
prediction log follow the task; hostile bodies still get 422s naming the problem.

Models fitted in-process (tests/task_models.py): HistGradientBoosting on a generated table with
categorical columns, missing values and string class names (one with a space), and the linear
families on load_diabetes and load_wine.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from gitml.core.tasks import Task
from gitml.logstore import logdb
from gitml.serve.answers import response_model
from gitml.serve.app import build
from gitml.serve.resolve import ResolvedModel
from tests.integration.monitor.oldlog import create_old_log
from tests.task_models import pipeline_output, rows_of, served, table

pytestmark = pytest.mark.xdist_group("serving")

CASES = [
    ("mixed-regression", "hist_gradient_boosting"),
    ("mixed-multiclass", "hist_gradient_boosting"),
    ("diabetes", "linear"),
    ("wine", "linear"),
]
Served = tuple[TestClient, ResolvedModel, str]


@pytest.fixture(scope="module", params=CASES, ids=lambda c: "-".join(c))
def app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    resolved = served(*request.param)
    url = f"sqlite:///{tmp_path_factory.mktemp('log')}/log.db"
    application, _, _ = build(resolved, url)
    assert application.state.fast_path.startswith("fast path on"), application.state.fast_path
    with TestClient(application, raise_server_exceptions=False) as client:
        yield client, resolved, url


def _rows(resolved: ResolvedModel, n: int) -> list[dict[str, Any]]:
    name = resolved.version.rsplit("-", 1)[0].replace("-hist_gradient_boosting", "")
    return rows_of(table(name), n)


def _logged(url: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        got = conn.execute(sa.select(logdb.predictions).where(logdb.predictions.c.id.in_(ids)))
        out = {r.id: dict(r._mapping) for r in got}
    engine.dispose()
    return out


def test_the_answer_follows_the_task(app: Served) -> None:
    client, resolved, url = app
    task, classes = resolved.metadata.task, resolved.metadata.classes
    rows = [*_rows(resolved, 20), {**resolved.example, **{s.name: None for s in resolved.specs}}]
    one = client.post("/predict", json=rows[0])
    many = client.post("/predict", json=rows)
    assert one.status_code == 200 and many.status_code == 200, many.text
    answers = many.json()
    Answer = response_model(task, classes)
    for body in [one.json(), *answers]:
        Answer.model_validate(body)  # the OpenAPI document's model describes the body
    expected = pipeline_output(resolved, rows)
    logged = _logged(url, [a["prediction_id"] for a in answers])
    if task is Task.REGRESSION:
        assert list(answers[0]) == ["prediction_id", "prediction", "model_version", "unseen"]
        got = np.array([a["prediction"] for a in answers])
        assert np.allclose(got, expected, rtol=1e-12, atol=1e-12)
        for a in answers:
            row = logged[a["prediction_id"]]
            assert (row["task"], row["score"], row["label"]) == ("regression", a["prediction"], 0)
            assert row["probabilities"] is None and row["class_name"] is None
        return
    assert list(answers[0]) == [
        "prediction_id",
        "probabilities",
        "label",
        "model_version",
        "unseen",
    ]
    for a, want in zip(answers, expected, strict=True):
        assert list(a["probabilities"]) == classes
        assert np.allclose(list(a["probabilities"].values()), want, rtol=0, atol=1e-12)
        assert a["label"] == classes[int(np.argmax(want))]
        row = logged[a["prediction_id"]]
        assert row["task"] == "multiclass" and row["class_name"] == a["label"]
        assert classes[row["label"]] == a["label"]
        assert row["score"] == max(a["probabilities"].values())
        assert row["probabilities"] == a["probabilities"]


def test_metadata_and_openapi_say_the_task(app: Served) -> None:
    client, resolved, _ = app
    task, classes = resolved.metadata.task, resolved.metadata.classes
    meta = client.get("/metadata").json()
    assert meta["task"] == task.value and meta["threshold"] is None
    assert meta.get("classes") == (classes or None)
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    if task is Task.REGRESSION:
        assert "prediction" in schemas["RegressionPrediction"]["properties"]
        assert "Prediction" not in schemas
    else:
        props = schemas["MulticlassPrediction"]["properties"]
        assert props["label"]["enum"] == classes
        assert list(schemas["ClassProbabilities"]["properties"]) == classes
        assert schemas["MulticlassFeedback"]["properties"]["label"]["enum"] == classes


def _feedback_cases(task: Task, classes: list[str]) -> list[tuple[Any, int, str]]:
    """(label, status, a text the answer holds)."""
    if task is Task.REGRESSION:
        return [
            (152.5, 202, "accepted"),
            (3, 202, "accepted"),
            ("152.5", 422, "Input should be a valid number"),
            (True, 422, "Input should be a valid number"),
            (None, 422, "Input should be a valid number"),
            ([1.0], 422, "Input should be a valid number"),
        ]
    allowed = " or ".join(", ".join(f"'{c}'" for c in classes).rsplit(", ", 1))
    return [
        (classes[-1], 202, "accepted"),
        ("not-a-class", 422, allowed),
        (classes[0].upper(), 422, allowed),
        (0, 422, allowed),
        (None, 422, allowed),
    ]


def test_feedback_takes_the_tasks_truth_and_names_what_is_allowed(app: Served) -> None:
    client, resolved, url = app
    task, classes = resolved.metadata.task, resolved.metadata.classes
    pid = client.post("/predict", json=resolved.example).json()["prediction_id"]
    for label, status, says in _feedback_cases(task, classes):
        resp = client.post("/feedback", json={"prediction_id": pid, "label": label})
        assert resp.status_code == status, (label, resp.text)
        assert says in resp.text, (label, resp.text)
    # NaN and infinities (a careless client's json.dumps) are refused for a number too
    for token in ("NaN", "Infinity", "-Infinity", "1e999"):
        body = f'{{"prediction_id": "{pid}", "label": {token}}}'.encode()
        resp = client.post("/feedback", content=body, headers={"content-type": "application/json"})
        assert resp.status_code == 422, (token, resp.text)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(logdb.feedback).where(logdb.feedback.c.prediction_id == pid)
        ).one()
    engine.dispose()
    if task is Task.REGRESSION:
        assert (row.label, row.value, row.class_name) == (0, 3.0, None)  # the last one wins
    else:
        assert (row.label, row.value, row.class_name) == (len(classes) - 1, None, classes[-1])


def _with(example: dict[str, Any], **change: Any) -> bytes:
    return json.dumps({**example, **change}).encode()


def test_hostile_bodies_get_a_422_naming_the_problem(app: Served) -> None:
    client, resolved, _ = app
    ex = resolved.example
    num = next(s.name for s in resolved.specs if s.numeric)
    cases: dict[str, tuple[bytes, list[str]]] = {
        "nan": (_with(ex, **{num: math.nan}), [num, "finite number"]),
        "infinity": (_with(ex, **{num: math.inf}), [num, "finite number"]),
        "text for a number": (_with(ex, **{num: "lots"}), [num, "valid number"]),
        # a field that is not an input is ignored (an id, the target); a near miss is refused
        "misspelt column": (
            json.dumps({**{k: v for k, v in ex.items() if k != num}, num + "x": 1}).encode(),
            [f"did you mean '{num}'?"],
        ),
        "empty list": (b"[]", ["the list of rows is empty"]),
        "duplicate key": (f'{{"{num}": 1, "{num}": 2}}'.encode(), [f"duplicate key '{num}'"]),
        "a number for the body": (b"42", ["model_attributes_type", "valid dictionary"]),
    }
    for name, (body, says) in cases.items():
        resp = client.post("/predict", content=body, headers={"content-type": "application/json"})
        assert resp.status_code == 422, (name, resp.text)
        for text in says:
            assert text in resp.text, (name, text, resp.text)


def test_a_binary_log_written_before_tasks_gets_the_new_columns(tmp_path: Path) -> None:
    """Old rows stay readable: the tasks' columns are added, nullable, and read as NULL."""
    url = f"sqlite:///{tmp_path}/old.db"
    old = create_old_log(url, {"task", "probabilities", "class_name", "value"})
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(old.insert(), [{
            "id": "00000000-0000-4000-8000-000000000001", "created_at": datetime.now(UTC),
            "model_version": "v0.1.0", "features": {"age": 30}, "score": 0.7, "label": 1,
            "threshold": 0.5, "unseen": [], "key_name": None, "latency_ms": 1.0,
        }])  # fmt: skip
    engine.dispose()
    inspector = sa.inspect(logdb.engine_for(url))  # what a new server does to the log
    columns = {
        t: {c["name"] for c in inspector.get_columns(t)} for t in ("predictions", "feedback")
    }
    assert {"task", "probabilities", "class_name"} <= columns["predictions"]
    assert {"value", "class_name"} <= columns["feedback"]
    from gitml.monitor.current import read_log

    frame = read_log(url, None, datetime.now(UTC), ["score", "label", "threshold", "task"])
    assert frame[["score", "label", "threshold"]].iloc[0].tolist() == [0.7, 1, 0.5]
    assert frame["task"].isna().all()


@pytest.mark.parametrize("name", ["mixed-regression", "mixed-multiclass"])
def test_the_cli_serves_and_predicts_a_task_model_from_its_files(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """model.json's task reaches `gitml predict` and the server through resolve (the skops
    allowlist, the hashes, the schema), as after `dvc repro` of a task project."""
    from typer.testing import CliRunner

    from gitml.cli import app as cli
    from gitml.serve.resolve import resolve
    from tests.task_models import task_repo

    repo = task_repo(tmp_path / "repo", name, "hist_gradient_boosting")
    resolved = resolve(repo)
    assert resolved.metadata.task.value == name.split("-")[1]
    table(name).inputs.head(30).to_csv(repo / "in.csv", index=False)
    monkeypatch.chdir(repo)
    result = CliRunner().invoke(cli, ["predict", "in.csv", "--out", "out.csv"])
    assert result.exit_code == 0, result.output
    assert f"verified; {resolved.metadata.task})" in result.output
    header = (repo / "out.csv").read_text().splitlines()[0]
    assert ('"prediction"' in header) == (name == "mixed-regression")
    application, _, _ = build(resolved, f"sqlite:///{tmp_path}/log.db")
    with TestClient(application) as client:
        body = client.post("/predict", json=resolved.example).json()
    assert ("prediction" in body) == (name == "mixed-regression")
    assert ("probabilities" in body) == (name == "mixed-multiclass")


def test_a_follower_refuses_a_version_of_another_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer's schema is fixed when the app starts: a swap to another task (or other
    classes) would answer with fields the OpenAPI document does not describe."""
    import subprocess

    from prometheus_client import CollectorRegistry

    from gitml.errors import DataError
    from gitml.serve import follow
    from gitml.serve.predictor import Predictor
    from gitml.serve.routing import Loaded, Routing

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    multiclass = served("mixed-multiclass", "hist_gradient_boosting")
    serving = Loaded.of(Predictor(multiclass))

    class Target:
        routing = Routing(serving)

    follower = follow.Follower(
        follow.FollowConfig(str(tmp_path), "prod", remote=None), Target(), CollectorRegistry()
    )
    renamed = multiclass.metadata.model_copy(update={"classes": ["a", "b", "c"]})
    for candidate in (
        served("mixed-regression", "hist_gradient_boosting"),
        ResolvedModel(**{**multiclass.__dict__, "metadata": renamed}),
    ):
        # the candidate as the child process (gitml.serve.candidate) hands it back, verified
        monkeypatch.setattr(follower._loader, "load", lambda *a, candidate=candidate: candidate)
        with pytest.raises(DataError, match="cannot change its answers' schema"):
            follower._load("v2.0.0", serving)


@pytest.mark.parametrize("name", ["mixed-regression", "mixed-multiclass"])
def test_simulate_sends_the_tasks_truth_as_feedback(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gitml.monitor import simulate

    resolved = served(name, "hist_gradient_boosting")
    data = table(name).frame
    data.to_parquet(tmp_path / "test.parquet")
    url = f"sqlite:///{tmp_path}/log.db"
    application, _, _ = build(resolved, url)
    with TestClient(application) as client:
        # simulate's `with httpx.Client(...)` must not end the app's lifespan (it closes the log)
        monkeypatch.setattr(simulate.httpx, "Client", lambda **kw: contextlib.nullcontext(client))
        result = simulate.run("http://testserver", 40, [], tmp_path / "test.parquet",
                              feedback=True, batch_size=16)  # fmt: skip
    assert (result.predicted, result.rejected, result.feedback) == (40, 0, 40)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(logdb.feedback)).all()
    engine.dispose()
    assert len(rows) == 40
    if name == "mixed-regression":
        assert all(r.value is not None and r.class_name is None for r in rows)
        assert set(data["target"]) >= {r.value for r in rows}
    else:
        assert {r.class_name for r in rows} <= set(resolved.metadata.classes)
    column = data["target"].astype(object)
    column[3] = None
    truth = simulate._truth(column, resolved.metadata.task.value, None)
    assert truth[3] is None and None not in truth[:3]  # no truth, no feedback sent
