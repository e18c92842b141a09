"""Canary against prod for multiclass and regression models: the weighted statistics of each
task's metrics, simulated canaries (worse, equal, better) decided the right way round (MAE and
RMSE are lower-is-better), the estimate before labels per task, and the params check."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
import yaml
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error

from gitml.config import CanaryConfig, Params, load_params, promotion_of
from gitml.config.task_rules import CANARY_METRICS, TASK_PROMOTION
from gitml.core.tasks import Task
from gitml.errors import ConfigError
from gitml.monitor import canary_run
from gitml.monitor.canary import Comparison, Interval, Sample, Side, compare, decide
from gitml.monitor.canary_rows import Classes, Errors, counts
from gitml.monitor.common import MonitorError

DAY = timedelta(days=2)
REG = CanaryConfig(enabled=True, metric="mae", min_labelled_rows=2000, min_rows=2000, max_drop=0.5)
MULTI = CanaryConfig(enabled=True, metric="accuracy", min_labelled_rows=2000, min_rows=2000)


def regression(version: str, rows: int, seed: int, noise: float = 10.0) -> Sample:
    """Predictions of a model whose error is N(0, noise) around a target of spread 50."""
    rng = np.random.default_rng(seed)
    y = rng.normal(150, 50, rows)
    return Sample(version, y + rng.normal(0, noise, rows), y, 0.0, task=Task.REGRESSION)


def multiclass(
    version: str, rows: int, seed: int, noise: float = 0.0, labelled: float = 1.0
) -> Sample:
    """Calibrated probabilities over 3 classes, the class drawn from them; a worse model's
    probabilities are blurred by noise on the logits. NaN: no feedback."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (rows, 3))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = (rng.random(rows)[:, None] >= np.cumsum(p, axis=1)).sum(axis=1).astype("float64")
    served = logits + rng.normal(0, noise, (rows, 3)) if noise else logits
    q = np.exp(served) / np.exp(served).sum(axis=1, keepdims=True)
    y[rng.random(rows) >= labelled] = np.nan
    return Sample(version, q.max(axis=1), y, 0.0, task=Task.MULTICLASS, probs=q)


# --------------------------------------------------------------------------- the statistics


def test_weighted_mae_and_rmse_are_sklearns_on_the_resampled_rows() -> None:
    s = regression("v", 500, 1)
    data = Errors.of(s.scores, s.y_true)
    idx = np.random.default_rng(2).integers(0, 500, (3, 500))
    w = counts(idx, 500)
    mae, acc = data.weighted(w, "mae")
    rmse, _ = data.weighted(w, "rmse")
    assert np.isnan(acc).all()  # no misclassification in regression
    for row in range(3):
        y, pred = s.y_true[idx[row]], s.scores[idx[row]]
        assert mae[row] == pytest.approx(mean_absolute_error(y, pred), abs=1e-9)
        assert rmse[row] == pytest.approx(np.sqrt(mean_squared_error(y, pred)), abs=1e-9)


def test_weighted_accuracy_and_macro_f1_are_sklearns_on_the_resampled_rows() -> None:
    s = multiclass("v", 600, 3, noise=1.0)
    y = s.y_true.astype("int64")
    y[:40] = -1  # a true class the model lacks: always wrong, in no class's column
    assert s.probs is not None
    data = Classes.of(s.probs, y)
    idx = np.random.default_rng(4).integers(0, 600, (3, 600))
    w = counts(idx, 600)
    f1, acc = data.weighted(w, "f1_macro")
    for row in range(3):
        truth, pred = y[idx[row]], s.probs[idx[row]].argmax(axis=1)
        assert acc[row] == pytest.approx(accuracy_score(truth, pred), abs=1e-12)
        expected = f1_score(truth, pred, labels=[0, 1, 2], average="macro", zero_division=0)
        assert f1[row] == pytest.approx(expected, abs=1e-12)


# --------------------------------------------------------------------------- regression


def test_a_clearly_worse_regression_canary_by_mae_is_ended() -> None:
    c = compare(regression("v2", 5000, 5, noise=14), regression("v1", 5000, 6), REG, DAY)
    d = c.difference
    assert d.low is not None and d.low > REG.max_drop  # a larger error: canary - prod > 0
    assert c.decision == "end", c.reasons
    assert c.reasons[0].startswith("worse: mae canary - prod +")
    assert c.reasons[0].endswith("entirely above +max_drop +0.5")
    assert c.canary.metric is not None and c.prod.metric is not None
    assert c.canary.metric > c.prod.metric


def test_an_equal_regression_canary_is_promoted_a_better_one_too() -> None:
    c = compare(regression("v2", 20000, 7), regression("v1", 20000, 8), REG, DAY)
    d = c.difference
    assert d.low is not None and d.high is not None and d.low < 0 < d.high < REG.max_drop
    assert c.decision == "promote", c.reasons
    assert c.reasons == [f"mae canary - prod {d.text()} (95% interval): upper end below "
                         "+max_drop +0.5"]  # fmt: skip
    better = compare(regression("v2", 5000, 9, noise=6), regression("v1", 5000, 10), REG, DAY)
    assert better.difference.high is not None and better.difference.high < 0
    assert better.decision == "promote"


def test_rmse_is_compared_lower_is_better_too() -> None:
    cfg = CanaryConfig(enabled=True, metric="rmse", min_labelled_rows=2000, min_rows=2000,
                       max_drop=0.5)  # fmt: skip
    worse = compare(regression("v2", 5000, 11, noise=14), regression("v1", 5000, 12), cfg, DAY)
    assert worse.decision == "end" and worse.reasons[0].startswith("worse: rmse canary - prod +")
    assert worse.prod.metric == pytest.approx(10, rel=0.05)  # the noise's sd


def test_a_regression_canary_has_no_estimate_and_no_error_rate() -> None:
    c = compare(regression("v2", 3000, 13), regression("v1", 3000, 14), REG, DAY)
    assert c.task == "regression" and c.canary.estimated is None and c.canary.error_rate is None
    assert c.estimated_difference.point is None and c.error_rate_difference.point is None
    assert c.canary.mean_score == pytest.approx(150, abs=3)  # the mean prediction
    text = "\n".join(canary_run.render_lines(canary_run.CanaryRun("v2", "v1", _since(), c)))
    assert "no estimate before labels" in text and "misclassification" not in text
    assert "v2: 3000 rows, 3000 with feedback; live mae " in text


def _since() -> Any:
    from datetime import UTC, datetime

    return datetime(2026, 1, 1, tzinfo=UTC)


def _comparison(metric: str, d: Interval) -> Comparison:
    side = Side("v", 9000, 9000, 1.0, None, None, 1.0)
    none = Interval(None, None, None)
    return Comparison(metric, 0.95, 3 * 86400, side, side, d, none, none, None, None, None)


@pytest.mark.parametrize(
    ("metric", "d", "decision", "needle"),
    [
        # an error 0.3 larger (mae): worse for an error, by more than max_drop 0.1
        ("mae", Interval(0.3, 0.2, 0.4), "end", "entirely above +max_drop +0.1"),
        # the same interval of a score (accuracy) is a clear gain
        ("accuracy", Interval(0.3, 0.2, 0.4), "promote", "lower end above -max_drop -0.1"),
        ("mae", Interval(-0.3, -0.4, -0.2), "promote", "upper end below +max_drop +0.1"),
        ("accuracy", Interval(-0.3, -0.4, -0.2), "end", "entirely below -max_drop -0.1"),
        ("rmse", Interval(0.0, -0.05, 0.15), "wait", "reaches above +max_drop +0.1"),
        ("f1_macro", Interval(0.0, -0.15, 0.05), "wait", "reaches below -max_drop -0.1"),
    ],
)
def test_the_decision_reads_the_metrics_direction(
    metric: str, d: Interval, decision: str, needle: str
) -> None:
    cfg = CanaryConfig(enabled=True, metric=metric, max_drop=0.1)  # type: ignore[arg-type]
    got, reasons = decide(_comparison(metric, d), cfg)
    assert got == decision and needle in reasons[0], reasons


# --------------------------------------------------------------------------- multiclass


def test_multiclass_canaries_worse_equal_and_by_macro_f1() -> None:
    worse = compare(multiclass("v2", 8000, 15, noise=2.0), multiclass("v1", 8000, 16), MULTI, DAY)
    assert worse.decision == "end" and worse.reasons[0].startswith("worse: accuracy canary")
    assert worse.error_rate_difference.low is not None and worse.error_rate_difference.low > 0
    equal = compare(multiclass("v2", 20000, 17), multiclass("v1", 20000, 18), MULTI, DAY)
    assert equal.decision == "promote", equal.reasons
    # the estimate before labels: multiclass CBPE, its interval holding the true 0
    e = equal.estimated_difference
    assert equal.canary.estimated is not None and e.low is not None and e.high is not None
    assert e.low < 0 < e.high
    assert equal.canary.estimated == pytest.approx(equal.canary.metric, abs=0.02)
    f1 = CanaryConfig(enabled=True, metric="f1_macro", min_labelled_rows=2000, min_rows=2000)
    worse_f1 = compare(multiclass("v2", 8000, 15, noise=2.0), multiclass("v1", 8000, 16), f1, DAY)
    assert worse_f1.decision == "end" and worse_f1.reasons[0].startswith("worse: f1_macro")


def test_a_multiclass_canary_without_labels_waits_with_its_estimate() -> None:
    c = compare(multiclass("v2", 3000, 19, labelled=0), multiclass("v1", 3000, 20, labelled=0),
                MULTI, DAY)  # fmt: skip
    assert c.decision == "wait" and c.difference.point is None
    assert c.estimated_difference.point is not None


def test_the_error_rate_rule_for_multiclass() -> None:
    cfg = CanaryConfig(enabled=True, metric="f1_macro", max_error_rate_increase=0.0, max_drop=0.5,
                       min_labelled_rows=2000, min_rows=2000)  # fmt: skip
    c = compare(multiclass("v2", 8000, 21, noise=2.0), multiclass("v1", 8000, 22), cfg, DAY)
    assert c.decision == "end" and c.reasons[0].startswith("more errors")


def test_tasks_and_metrics_that_do_not_fit_are_refused() -> None:
    with pytest.raises(MonitorError, match="a regression model and prod v1 a multiclass one"):
        compare(regression("v2", 100, 1), multiclass("v1", 100, 2), REG, DAY)
    with pytest.raises(MonitorError, match="'roc_auc' is not a canary metric of a regression"):
        compare(regression("v2", 100, 1), regression("v1", 100, 2), CanaryConfig(), DAY)


# --------------------------------------------------------------------------- params check


@pytest.mark.parametrize(
    ("task", "canary", "message"),
    [
        ("regression", {"metric": "roc_auc"}, "'roc_auc' is not a canary metric of a regression "
         "model (data.task: regression); use one of mae, rmse"),
        ("multiclass", {"metric": "mae"}, "use one of accuracy, f1_macro"),
        ("binary", {"metric": "f1_macro"}, "use one of roc_auc, accuracy"),
        ("regression", {"max_error_rate_increase": 0.01}, "promotion.canary.max_error_rate_"
         "increase: a regression model has no misclassification rate"),
        ("binary", {"max_drop": 2}, "max_drop: accuracy is a score between 0 and 1"),
    ],
)  # fmt: skip
def test_the_params_check_refuses_a_canary_the_task_cannot_judge(
    task: str, canary: dict[str, Any], message: str, tmp_path: Any
) -> None:
    if "max_drop" in canary:
        canary = canary | {"metric": "accuracy"}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"data": {"task": task}, "promotion": {"canary": canary}}))
    with pytest.raises(ConfigError, match=r"params\.yaml") as caught:
        load_params(path)
    assert message in str(caught.value)
    with pytest.raises(ValueError, match=re.escape(message.split(": ")[-1])):
        promotion_of({"data": {"task": task}, "promotion": {"canary": canary}})


def test_each_task_gets_its_canary_metric_and_keeps_its_other_keys() -> None:
    assert Params().promotion.canary.metric == "roc_auc"
    reg = Params.model_validate({"data": {"task": "regression"}})
    assert reg.promotion.canary.metric == "mae"
    multi = Params.model_validate({"data": {"task": "multiclass"}})
    assert multi.promotion.canary.metric == "accuracy"
    on = {"data": {"task": "regression"}, "promotion": {"canary": {"enabled": True}}}
    canary = Params.model_validate(on).promotion.canary
    assert canary.enabled and canary.metric == "mae"
    assert promotion_of(on).canary.metric == "mae"
    # init writes each task's first canary metric: the one its params get by default
    for task in ("multiclass", "regression"):
        assert TASK_PROMOTION[task]["canary"]["metric"] == CANARY_METRICS[task][0]
    # an error's max_drop is in the target's units: above 1 is fine
    assert CanaryConfig(metric="rmse", max_drop=25).max_drop == 25
