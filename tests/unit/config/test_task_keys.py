"""A key that means nothing for data.task, set in params.yaml, is refused as an unknown key is
(exit 2), naming the key, the task and what to do; and a metric or model family that is not
the task's is listed against the task's own names, not every task's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gitml.cli.app import exit_code
from gitml.config import load_params
from gitml.config.task_rules import CANARY_METRICS, TASK_KEYS
from gitml.config.tune import TUNE_METRICS
from gitml.core.metrics import TASK_METRICS, TASK_SLICE_METRICS
from gitml.core.models import families_for
from gitml.core.tasks import Task
from gitml.errors import ConfigError
from tests.helpers import DEFAULT_PARAMS

TASKS = [t.value for t in Task]
# a value each key accepts (its type's), so only the task can make it wrong
VALUES: dict[str, Any] = {
    "data.positive_class": "yes",
    "validate.min_minority_rate": 0.05,
    "validate.leakage.max_single_feature_r2": 0.9,
    "train.threshold": "f1",
    "train.calibration": "auto",
    "monitor.max_roc_auc_drop": 0.05,
    "monitor.max_calibration_error_increase": 0.05,
    "monitor.calibration_bins": 10,
    "monitor.max_prior_shift": 0.05,
    "monitor.estimated_metric": "accuracy",
}
SERVES = {
    "data.positive_class": {"binary"},
    "validate.min_minority_rate": {"binary", "multiclass"},
    "validate.leakage.max_single_feature_r2": {"regression"},
    "train.threshold": {"binary"},
    "train.calibration": {"binary", "multiclass"},
    "monitor.max_roc_auc_drop": {"binary"},
    "monitor.max_calibration_error_increase": {"binary"},
    "monitor.calibration_bins": {"binary"},
    "monitor.max_prior_shift": {"binary"},
    "monitor.estimated_metric": {"binary", "multiclass"},
}


def params_with(task: str, key: str | None = None, value: Any = None) -> dict[str, Any]:
    raw: dict[str, Any] = {"data": {"task": task}}
    if task != "binary":
        raw["data"]["positive_class"] = None
    if key is not None:
        *path, last = key.split(".")
        section = raw
        for part in path:
            section = section.setdefault(part, {})
        section[last] = value
    return raw


def load(tmp_path: Path, raw: dict[str, Any]) -> Any:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return load_params(path)


def refusal(tmp_path: Path, raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, raw)
    assert exit_code(exc.value) == 2  # as an unknown key: bad configuration
    return str(exc.value)


def test_the_table_is_every_task_only_key() -> None:
    assert set(TASK_KEYS) == set(SERVES) == set(VALUES)
    assert {k: set(tasks) for k, (tasks, _) in TASK_KEYS.items()} == SERVES


@pytest.mark.parametrize(
    ("task", "key"), [(t, k) for k, tasks in SERVES.items() for t in TASKS if t not in tasks]
)
def test_a_key_set_for_a_task_it_does_not_serve_is_refused(
    tmp_path: Path, task: str, key: str
) -> None:
    message = refusal(tmp_path, params_with(task, key, VALUES[key]))
    line = next(ln.strip() for ln in message.splitlines() if ln.strip().startswith(key))
    assert line.startswith(f"{key} = {VALUES[key]!r}: ")
    assert f"(data.task: {task})" in line
    fix = "Set it to null" if key == "data.positive_class" else "Remove the key"
    assert fix in line
    # left out, it is no setting: the same file without it loads
    assert load(tmp_path, params_with(task)).data.task == task


@pytest.mark.parametrize(("task", "key"), [(t, k) for k, ts in SERVES.items() for t in sorted(ts)])
def test_a_key_set_for_a_task_it_serves_loads(tmp_path: Path, task: str, key: str) -> None:
    assert load(tmp_path, params_with(task, key, VALUES[key])).data.task == task


def test_the_threshold_of_a_multiclass_project_says_why_and_what_to_do(tmp_path: Path) -> None:
    message = refusal(tmp_path, params_with("multiclass", "train.threshold", 0.3))
    assert (
        "train.threshold = 0.3: only a binary model has a decision threshold; a multiclass "
        "model (data.task: multiclass) predicts the most probable class. Remove the key"
    ) in message


def test_each_problem_is_a_line_and_counted(tmp_path: Path) -> None:
    raw = params_with("regression", "train.threshold", "f1")
    raw["train"]["calibration"] = "auto"
    message = refusal(tmp_path, raw)
    assert message.splitlines()[0].endswith(": 2 invalid value(s)")
    assert len(message.splitlines()) == 3


def test_the_default_params_and_null_positive_class_load(tmp_path: Path) -> None:
    assert load_params(DEFAULT_PARAMS).data.task is Task.BINARY
    assert load(tmp_path, params_with("multiclass")).data.positive_class is None


# --------------------------------------------------------------------------- per-task names

# (where the bad name goes, what it is, the names of each task)
NAMED = [
    (("promotion", "primary_metric"), "metric", TASK_METRICS),
    (("promotion", "floors", "*"), "metric", TASK_METRICS),
    (("promotion", "max_drops", "*"), "metric", TASK_METRICS),
    (("promotion", "slice_floors", "*"), "slice metric", TASK_SLICE_METRICS),
    (("promotion", "canary", "metric"), "canary metric", CANARY_METRICS),
    (("tune", "metric"), "tune metric", {t.value: TUNE_METRICS[t] for t in Task}),
    (("tune", "search_space", "*"), "model family", {t.value: families_for(t) for t in Task}),
]


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize(("where", "what", "names"), NAMED, ids=[".".join(n[0]) for n in NAMED])
def test_an_unknown_name_lists_only_the_tasks_own(
    tmp_path: Path, task: str, where: tuple[str, ...], what: str, names: Any
) -> None:
    raw = params_with(task)
    section = raw
    for part in where[:-1]:
        section = section.setdefault(part, {})
    if where[-1] == "*":  # a mapping keyed by the name
        section["bogus"] = {} if where[1] == "search_space" else 0.5
        key = ".".join(where[:-1]) + ".bogus"
    else:
        section[where[-1]] = "bogus"
        key = ".".join(where)
    lines = [ln.strip() for ln in refusal(tmp_path, raw).splitlines()]
    own = ", ".join(names[task])
    # the whole line: the task's names and nothing after them (no other task's)
    assert (
        f"{key}: 'bogus' is not a {what} of a {task} model (data.task: {task}); use one of {own}"
    ) in lines


@pytest.mark.parametrize("value", ["roc_auc", "precision", "recall"])
def test_a_multiclass_estimate_refuses_a_binary_only_metric(tmp_path: Path, value: str) -> None:
    message = refusal(tmp_path, params_with("multiclass", "monitor.estimated_metric", value))
    assert f"monitor.estimated_metric = {value!r}: a multiclass model's estimate alarms on" in (
        message
    )
    assert message.rstrip().endswith("Set accuracy or f1")


@pytest.mark.parametrize("value", ["accuracy", "f1", None])
def test_a_multiclass_estimate_takes_accuracy_or_f1(tmp_path: Path, value: str | None) -> None:
    raw = params_with("multiclass", "monitor.estimated_metric", value) if value else None
    params = load(tmp_path, raw or params_with("multiclass"))
    assert params.monitor.estimated_metric == (value or "roc_auc")  # unset: the default, read
    # as accuracy by the monitor (monitor.tasks.alarm_metric)


@pytest.mark.parametrize("task", [["multiclass"], {"kind": "regression"}])
def test_a_task_that_is_no_name_is_a_params_error_not_a_crash(tmp_path: Path, task: Any) -> None:
    """The error's lists follow data.task: a list or mapping there (unhashable) once raised a
    TypeError while the message was being written."""
    message = refusal(tmp_path, {"data": {"task": task}})
    assert "data.task" in message
