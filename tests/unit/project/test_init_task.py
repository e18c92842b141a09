"""gitml init proposes the task from the target column and says why; it asks for --task when
the evidence is ambiguous, and refuses a target the task cannot use, writing nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gitml.cli.app import exit_code
from gitml.config import load_params
from gitml.core.tasks import Task
from gitml.errors import ConfigError, DataError
from gitml.project import init
from gitml.project.task import propose
from tests.helpers import DEFAULT_PARAMS
from tests.unit.pipeline import tasks_data


def text(values: list[object]) -> pd.Series:
    return pd.Series([str(v) for v in values], dtype="str")  # as ingest keeps a target


def test_proposals_and_their_evidence() -> None:
    task, why = propose(text(["yes", "no"] * 20), None)
    assert task is Task.BINARY and why.startswith("text, 2 distinct value(s), e.g. ['no', 'yes']")
    task, why = propose(tasks_data.wine()["cultivar"], None)
    assert task is Task.MULTICLASS
    assert why == (
        "text, 3 distinct value(s), e.g. ['barbera', 'barolo', 'grignolino']: text labels are "
        "classes (--task to change)"
    )
    task, why = propose(tasks_data.diabetes()["progression"], None)
    assert task is Task.REGRESSION
    assert why.startswith(
        "whole numbers, 214 distinct value(s), e.g. ['25.0', '31.0', '37.0', "
        "'…', '341.0', '346.0']: more than 20 whole numbers"
    )
    task, why = propose(text([0.5, 1.25, 3.0, 2.0, 7.5]), None)
    assert task is Task.REGRESSION and "numbers with fractions" in why


def test_an_integer_target_with_12_values_needs_task() -> None:
    grades = text([i % 12 + 1 for i in range(240)])
    with pytest.raises(ConfigError) as exc:  # a missing option: a usage error, exit 2
        propose(grades, None)
    assert exit_code(exc.value) == 2
    message = str(exc.value)
    assert "whole numbers, 12 distinct value(s)" in message
    assert "ambiguous" in message and "--task multiclass or --task regression" in message
    assert propose(grades, "multiclass")[0] is Task.MULTICLASS
    task, why = propose(grades, "regression")
    assert task is Task.REGRESSION and why.startswith("named by --task; the target holds whole")


@pytest.mark.parametrize(
    ("values", "task", "needle"),
    [
        (["a"] * 30, None, "a constant target ('a' in all 30 rows with a value)"),
        (["1.5", "2", "lots", "3"] * 5, "regression", "the target holds text ['lots']"),
        (["1.5", "inf", "3"] * 5, "regression", "infinite values"),
        (["a"] * 20 + ["b"] * 20 + ["c"] * 3, None, "('c': 3 row(s)): too few to split"),
        (["a", "b"] * 20, "multiclass", "that is a binary target (--task binary)"),
        # a price as classes: not 'add rows to class 176802.0' but what it is
        ([f"{v}.0" for v in range(1000, 1600)], "multiclass", "a quantity is --task regression"),
        (["a", "b", "c"] * 20, "binary", "a binary target needs exactly two (--task multiclass"),
    ],
)
def test_targets_a_task_cannot_use_are_refused(
    values: list[str], task: str | None, needle: str
) -> None:
    if task == "binary":  # binary's two labels are checked with the positive class
        with pytest.raises(DataError, match=r"\(--task multiclass"):
            init.choose_positive(sorted(set(values)), None)
        return
    with pytest.raises(DataError) as exc:
        propose(text(values), task)
    assert needle in str(exc.value)


def test_unknown_task_is_a_usage_error() -> None:
    with pytest.raises(ConfigError, match="--task 'ranking': use one of binary, multiclass"):
        propose(text(["a", "b"]), "ranking")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(DEFAULT_PARAMS.read_text())
    return tmp_path


def test_init_writes_a_regression_project(project: Path) -> None:
    tasks_data.diabetes().to_csv(project / "diabetes.csv", index=False)
    result = init.run("diabetes.csv", "progression")
    decisions = {d.key: d for d in result.decisions}
    assert decisions["data.task"].value == "regression"
    assert "214 distinct value(s)" in decisions["data.task"].why
    assert decisions["data.positive_class"].value == "null"
    assert decisions["validate.min_minority_rate"].value == "(removed)"  # no label balance
    # sex is sliced, but a regression gate has no slice rule by default: the reason says so
    assert decisions["evaluate.slices"].value == "['sex']"
    assert "fairness gaps are gated" not in decisions["evaluate.slices"].why
    assert "a regression gate has no slice rule" in decisions["evaluate.slices"].why
    params = load_params("params.yaml")
    assert params.data.task is Task.REGRESSION
    assert params.promotion.max_slice_gap is None and params.promotion.slice_floors == {}
    assert params.tune.metric == "neg_root_mean_squared_error"
    assert sorted(params.tune.search_space) == ["hist_gradient_boosting", "linear"]
    raw = yaml.safe_load((project / "params.yaml").read_text())
    assert raw["data"]["positive_class"] is None and raw["data"]["task"] == "regression"
    assert raw["tune"]["search_space"]["linear"]["alpha"]["log"] is True
    # the template's binary gate (roc_auc, recall floors) gives way to the task's
    assert decisions["promotion"].value.startswith("rmse")
    assert params.promotion.primary_metric == "rmse" and not params.promotion.floors
    assert not params.promotion.slice_floors and params.promotion.max_slice_gap is None
    assert "# Every key is validated" in (project / "params.yaml").read_text()
    # the template's canary metric (roc_auc) too: written as the task's, the other keys kept
    assert raw["promotion"]["canary"]["metric"] == "mae" == params.promotion.canary.metric
    assert decisions["promotion.canary.metric"].value == "mae"
    assert raw["promotion"]["canary"]["min_labelled_rows"] == 5000
    # the template's keys a regression model has no use for are gone, each said so; the
    # leakage guard's R² limit (which the binary template leaves out) is there
    gone = [
        "train.threshold",
        "train.calibration",
        "validate.min_minority_rate",
        "monitor.max_roc_auc_drop",
        "monitor.max_calibration_error_increase",
        "monitor.calibration_bins",
        "monitor.max_prior_shift",
        "monitor.estimated_metric",
    ]
    for key in gone:
        section, name = key.split(".")
        assert name not in raw[section], key
        assert decisions[key].value == "(removed)", key
    assert decisions["train.threshold"].why.startswith("only a binary model has a decision")
    assert raw["validate"]["leakage"]["max_single_feature_r2"] == 0.9
    assert "train.cv_folds" not in decisions and raw["train"]["cv_folds"] == 5  # others stay


def test_init_writes_a_multiclass_project_and_keeps_class_names(project: Path) -> None:
    tasks_data.animals().to_csv(project / "animals.csv", index=False)
    result = init.run("animals.csv", "animal")
    decisions = {d.key: d for d in result.decisions}
    assert decisions["data.task"].value == "multiclass"
    assert "e.g. ['bird', 'dog', 'fish']" in decisions["data.task"].why
    assert decisions["validate.min_minority_rate"].why.startswith("half of the rarest class's")
    params = load_params("params.yaml")
    assert params.data.task is Task.MULTICLASS and params.tune.metric == "roc_auc_ovr"
    assert params.promotion.primary_metric == "roc_auc_ovr"
    assert params.promotion.max_drops == {"f1_macro": 0.02}
    assert params.promotion.canary.metric == "accuracy"
    assert params.tune.search_space == load_params(DEFAULT_PARAMS).tune.search_space
    raw = yaml.safe_load((project / "params.yaml").read_text())
    assert "threshold" not in raw["train"] and raw["train"]["calibration"] == "auto"
    assert "max_prior_shift" not in raw["monitor"]
    # the template's roc_auc has no multiclass counterpart: the draft names what it alarms on
    assert raw["monitor"]["estimated_metric"] == "accuracy"
    assert decisions["monitor.estimated_metric"].value == "accuracy"
    assert decisions["train.threshold"].value == "(removed)"
    contract = yaml.safe_load((project / "schema" / "animals.schema.yaml").read_text())
    assert "animal" in contract["columns"]
    # and back to binary with --force: the binary template's objective again, a positive class
    frame = tasks_data.animals()
    frame["animal"] = np.where(frame["animal"] == "dog", "dog", "other")
    frame.to_csv(project / "animals.csv", index=False)
    init.run("animals.csv", "animal", force=True)
    params = load_params("params.yaml")
    assert params.data.task is Task.BINARY and params.tune.metric == "roc_auc"
    assert params.data.positive_class == "dog"
    assert params.promotion.primary_metric == "roc_auc"  # binary's gate again
    assert params.promotion.canary.metric == "accuracy"  # a binary canary metric too: kept


@pytest.mark.parametrize(
    ("frame", "kwargs", "needle"),
    [
        (pd.DataFrame({"x": range(40), "y": ["a"] * 40}), {}, "a constant target"),
        (
            pd.DataFrame({"x": range(43), "y": ["a"] * 20 + ["b"] * 20 + ["c"] * 3}),
            {},
            "too few to split",
        ),
        (
            pd.DataFrame({"x": range(40), "y": ["1.5", "2", "lots", "3"] * 10}),
            {"task": "regression"},
            "the target holds text",
        ),
        (
            pd.DataFrame({"x": range(40), "y": ["a", "b", "c", "d"] * 10}),
            {"positive_class": "a"},
            "--positive-class applies to a binary target",
        ),
    ],
)
def test_errors_write_nothing(
    project: Path, frame: pd.DataFrame, kwargs: dict[str, str], needle: str
) -> None:
    before = (project / "params.yaml").read_text()
    frame.to_csv(project / "t.csv", index=False)
    with pytest.raises((DataError, ConfigError), match=needle.replace("(", r"\(")):
        init.run("t.csv", "y", **kwargs)
    assert (project / "params.yaml").read_text() == before
    assert not (project / "schema").exists()
