"""The regression and multiclass metrics, checked against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gitml.core.metrics import (
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    TASK_METRICS,
    TASK_PRIMARY,
    TASK_SLICE_METRICS,
    direction,
    multiclass_metrics,
    regression_metrics,
)


def test_regression_metrics_by_hand() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0])
    pred = np.array([1.5, 2.0, 2.0, 5.0])  # errors .5 0 -1 1
    m = regression_metrics(y, pred)
    assert m["mae"] == pytest.approx(2.5 / 4)
    assert m["rmse"] == pytest.approx(math.sqrt((0.25 + 0 + 1 + 1) / 4), abs=1e-6)
    # R² = 1 - SSE / SST = 1 - 2.25 / 5
    assert m["r2"] == pytest.approx(1 - 2.25 / 5, abs=1e-6)
    # MAPE = mean(|e| / |y|) = (.5 + 0 + 1/3 + 1/4) / 4
    assert m["mape"] == pytest.approx((0.5 + 1 / 3 + 0.25) / 4, abs=1e-6)
    assert m["rows"] == 4


def test_mape_is_absent_when_a_target_is_zero() -> None:
    m = regression_metrics(np.array([0.0, 1.0, 2.0]), np.array([0.5, 1.0, 2.0]))
    assert "mape" not in m
    assert m["mae"] == pytest.approx(0.5 / 3, abs=1e-6)


def test_multiclass_metrics_by_hand() -> None:
    classes = ["ant", "bee", "cat"]
    y = np.array([0, 0, 1, 1, 2, 2])
    proba = np.array(
        [
            [0.7, 0.2, 0.1],  # ant → ant
            [0.2, 0.6, 0.2],  # ant → bee (wrong)
            [0.1, 0.8, 0.1],  # bee → bee
            [0.2, 0.5, 0.3],  # bee → bee
            [0.1, 0.1, 0.8],  # cat → cat
            [0.3, 0.3, 0.4],  # cat → cat
        ]
    )
    m = multiclass_metrics(y, proba, classes)
    assert m["accuracy"] == pytest.approx(5 / 6, abs=1e-6)
    # recalls: ant 1/2, bee 2/2, cat 2/2
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 1 + 1) / 3, abs=1e-6)
    # precision: ant 1/1, bee 2/3, cat 2/2; f1: ant 2/3, bee 4/5, cat 1
    assert m["per_class"]["bee"] == {
        "rows": 2,
        "precision": pytest.approx(2 / 3, abs=1e-6),
        "recall": 1.0,
    }
    assert m["per_class"]["ant"]["recall"] == 0.5
    assert m["f1_macro"] == pytest.approx((2 / 3 + 0.8 + 1) / 3, abs=1e-6)
    assert m["f1_weighted"] == m["f1_macro"]  # two rows per class
    expected = -np.mean(np.log([0.7, 0.2, 0.8, 0.5, 0.8, 0.4]))
    assert m["log_loss"] == pytest.approx(expected, abs=1e-6)
    assert m["confusion"] == {"classes": classes, "matrix": [[1, 1, 0], [0, 2, 0], [0, 0, 2]]}
    # ant vs rest: ant rows .7 .2; others .1 .2 .1 .3 → pairs won 4 + 2.5 (tie .2) of 8
    # bee vs rest: bee .8 .5; others .2 .6 .1 .3 → 4 + 3 of 8; cat: .8 .4 vs .1 .2 .1 .3 → 8 of 8
    assert m["roc_auc_ovr"] == pytest.approx((6.5 / 8 + 7 / 8 + 1) / 3, abs=1e-6)


def test_ovr_auc_is_none_when_a_class_is_missing() -> None:
    proba = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1]])
    m = multiclass_metrics(np.array([0, 1]), proba, ["a", "b", "c"])
    assert m["roc_auc_ovr"] is None
    assert m["per_class"]["c"] == {"rows": 0, "precision": 0.0, "recall": 0.0}


def test_every_task_metric_has_one_direction() -> None:
    named = {m for names in (*TASK_METRICS.values(), *TASK_SLICE_METRICS.values()) for m in names}
    assert {m for m in named if direction(m) not in ("higher", "lower")} == set()
    assert {"rmse", "mae", "mape", "log_loss"} <= LOWER_IS_BETTER
    assert not LOWER_IS_BETTER & HIGHER_IS_BETTER
    assert TASK_PRIMARY["regression"] in LOWER_IS_BETTER
    assert all(TASK_PRIMARY[t] in TASK_METRICS[t] for t in TASK_METRICS)


def test_unit_interval_metrics_have_a_direction_and_errors_are_not_among_them() -> None:
    from gitml.core.metrics import UNIT_INTERVAL

    assert UNIT_INTERVAL <= HIGHER_IS_BETTER | LOWER_IS_BETTER
    assert not UNIT_INTERVAL & {"rmse", "mae", "mape", "log_loss", "r2"}
