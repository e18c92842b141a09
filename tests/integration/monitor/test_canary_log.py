"""`gitml canary`'s reading of the prediction log: each row's latency and the failed calls per
version, written by the server's `PredictionLog`, into the comparison and its lines; and a log
older than both (no latency_ms column, no failures table) read as it is, then upgraded."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
import yaml

from gitml.config import CanaryConfig
from gitml.core.tasks import Task
from gitml.logstore import logdb
from gitml.monitor import canary_run
from gitml.monitor.canary import compare
from gitml.monitor.common import MonitorError
from tests.integration.monitor.oldlog import create_old_log

CFG = CanaryConfig(enabled=True, min_rows=100, min_labelled_rows=100)
NOW = datetime.now(UTC)
SINCE = NOW - timedelta(hours=1)
END = NOW + timedelta(minutes=30)  # the failures are logged at the time of the test


def rows(version: str, n: int, seed: int, slower: float = 1.0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [
        {"id": str(uuid.uuid4()), "created_at": NOW - timedelta(minutes=10),
         "model_version": version, "features": {}, "score": float(s), "label": int(s >= 0.4),
         "threshold": 0.4, "unseen": [], "key_name": None, "latency_ms": float(ms)}
        for s, ms in zip(rng.random(n), rng.lognormal(np.log(0.4), 0.5, n) * slower, strict=True)
    ]  # fmt: skip


def test_latency_and_failures_reach_the_comparison(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    log = logdb.PredictionLog(url)
    log.log_predictions(rows("v2", 2000, 1, slower=1.5))
    log.log_predictions(rows("v1", 2000, 2))
    for _ in range(30):
        log.log_failure("v2", 2, "ValueError", "app")
    log.log_failure("v1", 1, "ValueError", None)
    log.close()
    assert log.written == 4031 and log.dropped == 0
    c, p = canary_run.load_samples(url, "v2", "v1", SINCE, END)
    assert (c.failed, p.failed) == (60, 1)
    assert (
        c.latency_ms is not None and np.isfinite(c.latency_ms).all() and len(c.latency_ms) == 2000
    )
    # a failure outside the window is not counted
    old = logdb.engine_for(url)
    with old.begin() as conn:
        conn.execute(logdb.failures.insert(), [{"id": "x", "created_at": SINCE - timedelta(1),
                     "model_version": "v2", "rows": 5, "error": "E"}])  # fmt: skip
    old.dispose()
    assert canary_run.load_samples(url, "v2", "v1", SINCE, END)[0].failed == 60
    comparison = compare(c, p, CFG, NOW - SINCE)
    assert comparison.latency_p50_difference.low is not None
    assert comparison.latency_p50_difference.low > 0
    assert comparison.failure_rate_difference.low is not None
    assert comparison.failure_rate_difference.low > 0
    run = canary_run.CanaryRun("v2", "v1", SINCE, comparison)
    text = "\n".join(canary_run.render_lines(run))
    assert (
        "v2: latency p50 0.597 ms, p99 1.920 ms" in text
        and "(2000 rows timed); 60 failed of 2060 rows" in text
    )
    assert "latency p99, canary - prod: +" in text and "(95% interval, bootstrap)" in text
    assert "failure rate (500s), canary - prod: +0.02" in text and "Newcombe" in text
    assert "not compared" not in text


def _old_log(url: str) -> None:
    """The tables as a gitml before latency and failures (and API keys) made them."""
    added = ("key_name", "latency_ms")
    predictions = create_old_log(url, added)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            predictions.insert(),
            [{k: v for k, v in r.items() if k not in added}
             for r in rows("v2", 300, 3) + rows("v1", 300, 4)],
        )  # fmt: skip
    engine.dispose()


def test_an_old_log_compares_without_latency_and_failures(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _old_log(url)
    c, p = canary_run.load_samples(url, "v2", "v1", SINCE, END)  # read as it is: not altered
    assert len(c.scores) == 300 and c.latency_ms is not None and np.isnan(c.latency_ms).all()
    assert (c.failed, p.failed) == (None, None)
    inspector = sa.inspect(sa.create_engine(url))
    assert not inspector.has_table("failures")
    assert "latency_ms" not in {col["name"] for col in inspector.get_columns("predictions")}
    comparison = compare(c, p, CFG, NOW - SINCE)
    assert comparison.canary.timed_rows == 0 and comparison.latency_p99_difference.point is None
    text = "\n".join(canary_run.render_lines(canary_run.CanaryRun("v2", "v1", SINCE, comparison)))
    assert "v2: latency p50 n/a ms, p99 n/a ms (0 rows timed); failures not logged" in text
    # the server's log upgrades it: the column and the table, old rows NULL
    assert logdb.add_missing_columns(logdb.engine_for(url)) == []  # engine_for did it
    log = logdb.PredictionLog(url)
    log.log_predictions(rows("v2", 50, 5))
    log.log_failure("v2", 1, "RuntimeError", None)
    log.close()
    c, p = canary_run.load_samples(url, "v2", "v1", SINCE, END)
    assert c.latency_ms is not None and int(np.isfinite(c.latency_ms).sum()) == 50
    assert (c.failed, p.failed) == (1, 0)
    side = compare(c, p, CFG, NOW - SINCE).canary
    assert (side.timed_rows, side.failed_rows) == (50, 1)  # the old rows are not in the rate


def task_rows(version: str, task: str, values: list[Any]) -> list[dict[str, Any]]:
    """Rows as the server logs them per task (gitml.serve.answers.outcome): regression the
    prediction as `score`; multiclass the probabilities per class name and the top class."""
    out = []
    for i, v in enumerate(values):  # in order of time: the log reads them so
        row: dict[str, Any] = {
            "id": str(uuid.uuid4()), "created_at": NOW - timedelta(minutes=10, seconds=-i),
            "model_version": version, "features": {}, "threshold": 0.0, "unseen": [],
            "key_name": None, "latency_ms": 0.5, "task": task,
        }  # fmt: skip
        if task == "regression":
            row |= {"score": float(v), "label": 0}
        else:
            top = max(v, key=v.get)
            row |= {"score": v[top], "label": sorted(v).index(top), "probabilities": v,
                    "class_name": top}  # fmt: skip
        out.append(row)
    return out


def test_regression_rows_read_the_feedback_value(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    log = logdb.PredictionLog(url)
    canary, prod = task_rows("v2", "regression", [10.0, 20.0]), task_rows("v1", "regression", [5.0])
    log.log_predictions(canary + prod)
    log.log_feedback(canary[0]["id"], 0, value=13.5)
    log.log_feedback(prod[0]["id"], 0, value=4.0)
    log.close()
    c, p = canary_run.load_samples(url, "v2", "v1", SINCE, END, Task.REGRESSION)
    assert c.task is Task.REGRESSION and c.scores.tolist() == [10.0, 20.0]
    assert c.y_true[0] == 13.5 and np.isnan(c.y_true[1]) and p.y_true.tolist() == [4.0]
    # a binary project reading the same log is told the rows are of another task
    with pytest.raises(MonitorError, match="2 row\\(s\\) of v2 were scored by a regression model"):
        canary_run.load_samples(url, "v2", "v1", SINCE, END, Task.MULTICLASS)


def test_multiclass_rows_read_the_true_class_by_name(tmp_path: Path) -> None:
    """The feedback's class name, not its index: the canary's model has a class prod lacks, so
    the same name has another index in each version's classes."""
    url = f"sqlite:///{tmp_path / 'log.db'}"
    log = logdb.PredictionLog(url)
    canary = task_rows("v2", "multiclass", [{"ant": 0.1, "bee": 0.2, "cat": 0.7},
                                            {"ant": 0.6, "bee": 0.3, "cat": 0.1}])  # fmt: skip
    prod = task_rows("v1", "multiclass", [{"bee": 0.4, "cat": 0.6}, {"bee": 0.9, "cat": 0.1}])
    log.log_predictions(canary + prod)
    log.log_feedback(canary[0]["id"], 2, class_name="cat")
    log.log_feedback(canary[1]["id"], 0, class_name="bee")
    log.log_feedback(prod[0]["id"], 1, class_name="cat")
    log.log_feedback(prod[1]["id"], 0, class_name="ant")  # a class prod's model lacks
    log.close()
    c, p = canary_run.load_samples(url, "v2", "v1", SINCE, END, Task.MULTICLASS)
    assert c.probs is not None and c.probs.shape == (2, 3) and c.scores.tolist() == [0.7, 0.6]
    assert c.y_true.tolist() == [2, 1]  # cat and bee: ant, bee, cat's third and second
    assert p.probs is not None and p.probs.shape == (2, 2)
    assert p.y_true.tolist() == [1, -1]  # cat is bee, cat's second; ant: no class of prod's
    cfg = CanaryConfig(enabled=True, metric="accuracy", min_rows=1, min_labelled_rows=10)
    # a version without rows yet (a canary just assigned): an empty sample, compared as such
    empty, _ = canary_run.load_samples(url, "v3", "v1", SINCE, END, Task.MULTICLASS)
    assert len(empty.scores) == 0 and empty.probs is not None and len(empty.y_true) == 0
    assert compare(empty, p, cfg, NOW - SINCE).decision == "wait"
    compared = compare(c, p, cfg, NOW - SINCE)
    assert (compared.canary.error_rate, compared.canary.metric) == (0.5, 0.5)  # cat right
    assert compared.prod.error_rate == 0.5  # right on cat, wrong on ant


def test_gitml_canary_compares_a_regression_project_by_its_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`gitml canary` reads data.task from params.yaml: a regression project's canary is judged
    by MAE on the feedback values (the registry's state is a fake; the log and CLI are real)."""
    from gitml.registry import canary as stage
    from gitml.registry.versions import ModelVersion
    from tests.unit.cli.runner import gitml

    monkeypatch.chdir(tmp_path)
    # the task's canary metric (mae) is the default: not named here
    canary = {"enabled": True, "min_rows": 100, "min_labelled_rows": 100, "max_drop": 1.0,
              "min_duration": "1s"}  # fmt: skip
    params = {"data": {"task": "regression", "positive_class": None},
              "promotion": {"canary": canary}}  # fmt: skip
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    url = f"sqlite:///{tmp_path / 'log.db'}"
    log = logdb.PredictionLog(url)
    rng = np.random.default_rng(7)
    truth = {v: rng.normal(100, 30, 400) for v in ("v2", "v1")}
    written = {v: task_rows(v, "regression", list(truth[v] + rng.normal(0, 5, 400)))
               for v in ("v2", "v1")}  # fmt: skip
    for version, rows_ in written.items():
        log.log_predictions(rows_)
        for row, value in zip(rows_, truth[version], strict=True):
            log.log_feedback(row["id"], 0, value=float(value))
    log.close()
    now = stage.CanaryState(ModelVersion("model", "v2", "c" * 40, "canary"),
                            ModelVersion("model", "v1", "p" * 40, "prod"), SINCE)  # fmt: skip
    monkeypatch.setattr(stage, "state", lambda repo: now)
    result = gitml("canary", "--log-db", url)
    assert result.exit_code == 0, result.output
    assert "canary v2 vs prod v1: PROMOTE" in result.output
    assert re.search(
        r"v2: 400 rows, 400 with feedback; live mae [34]\.\d{4}, mean prediction", result.output
    )
    assert "upper end below +max_drop +1" in result.output
    assert "no estimate before labels" in result.output
    assert '"task": "regression"' in (tmp_path / "reports/canary/canary.json").read_text()
