"""The gate and the params check for regression and multiclass models: rules name the task's
metrics, errors are ceilings, and lower-is-better metrics are compared the right way round."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitml.config import Params, PromotionConfig, primary_of, promotion_of
from gitml.registry.gate import Evaluation, gate


def reg_ev(rmse: float, mae: float = 40.0, male_rmse: float = 60.0) -> Evaluation:
    values = {
        "f": {"rows": 300, "target_mean": 150.0, "rmse": rmse, "mae": mae, "ranked": True},
        "m": {"rows": 300, "target_mean": 160.0, "rmse": male_rmse, "mae": 45.0, "ranked": True},
    }
    metrics = {"rmse": rmse, "mae": mae, "r2": 0.4, "mape": 0.3, "rows": 600}
    return Evaluation(metrics, {"columns": {"sex": {"values": values, "gap": {}}}})


def rule(decision: Any, name: str) -> Any:
    return next(r for r in decision.rules if r.name == name)


def test_a_regression_project_gets_its_tasks_rules() -> None:
    p = Params.model_validate({"data": {"task": "regression"}})
    assert p.promotion.primary_metric == "rmse"
    assert p.promotion.primary_floor is None and p.promotion.slice_floors == {}
    assert p.promotion.max_slice_gap is None
    # keys it sets are kept, and checked against the task
    kept = Params.model_validate(
        {"data": {"task": "regression"}, "promotion": {"floors": {"r2": 0.2}}}
    )
    assert kept.promotion.floors == {"r2": 0.2} and kept.promotion.primary_metric == "rmse"
    assert Params().promotion == PromotionConfig()  # binary: as before


@pytest.mark.parametrize(
    ("task", "promotion", "message"),
    [
        ("regression", {"primary_metric": "roc_auc"}, "promotion.primary_metric: 'roc_auc'"),
        ("regression", {"max_drops": {"log_loss": 0.1}}, "promotion.max_drops.log_loss"),
        ("multiclass", {"floors": {"recall": 0.5}}, "promotion.floors.recall"),
        ("binary", {"primary_metric": "rmse", "primary_floor": None}, "primary_metric: 'rmse'"),
        ("multiclass", {"slice_floors": {"recall": 0.5}}, "promotion.slice_floors.recall"),
    ],
)
def test_a_rule_naming_a_metric_the_task_lacks_is_refused(
    task: str, promotion: dict[str, Any], message: str, tmp_path: Any
) -> None:
    import yaml

    from gitml.config import load_params
    from gitml.core.metrics import TASK_METRICS, TASK_SLICE_METRICS
    from gitml.errors import ConfigError

    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"data": {"task": task}, "promotion": promotion}))
    with pytest.raises(ConfigError) as caught:
        load_params(path)
    text = str(caught.value)
    assert message in text and f"a {task} model (data.task: {task})" in text
    valid = TASK_SLICE_METRICS[task] if "slice_floors" in message else TASK_METRICS[task]
    assert f"use one of {', '.join(valid)}" in text
    with pytest.raises(ValueError, match="is not a"):
        promotion_of({"data": {"task": task}, "promotion": promotion})


def test_a_score_floor_above_one_is_refused_an_error_ceiling_is_not() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        PromotionConfig(slice_floors={"recall": 1.5})  # type: ignore[dict-item]
    assert PromotionConfig(slice_floors={"rmse": 70.0}).slice_floors == {"rmse": 70.0}  # type: ignore[dict-item]


def test_rmse_is_gated_lower_is_better() -> None:
    cfg = promotion_of({"data": {"task": "regression"}, "promotion": {"max_drops": {"mae": 1.0}}})
    better = gate(reg_ev(55.0), reg_ev(58.0), cfg)
    assert better.passed, better.summary
    assert rule(better, "max_drop:rmse").value == -3.0  # 3 better, not 3 worse
    worse = gate(reg_ev(58.0, mae=42.5), reg_ev(55.0, mae=40.0), cfg)
    assert not worse.passed
    assert rule(worse, "max_drop:rmse").value == 3.0
    assert not rule(worse, "max_drop:mae").passed  # 2.5 worse than allowed 1.0
    assert "(lower is better)" in rule(worse, "max_drop:rmse").detail


def test_error_bounds_and_slice_ceilings_for_regression() -> None:
    cfg = promotion_of(
        {
            "data": {"task": "regression"},
            "promotion": {
                "primary_floor": 57.0,
                "slice_floors": {"rmse": 59.0},
                "max_slice_gap": 5.0,
                "slice_min_rows": 100,
            },
        }
    )
    d = gate(reg_ev(55.0, male_rmse=62.0), None, cfg)
    assert rule(d, "ceiling:rmse").passed  # 55 <= 57
    assert rule(d, "slice_ceiling:sex=f:rmse").passed  # 55 <= 59
    assert not rule(d, "slice_ceiling:sex=m:rmse").passed  # 62 > 59
    gap = rule(d, "max_slice_gap")
    assert gap.value == 7.0 and not gap.passed  # rmse 62 vs 55, in the target's units
    assert not gate(reg_ev(58.0), None, cfg).rules[0].passed  # 58 > the ceiling 57


def test_multiclass_rules_read_the_multiclass_metrics() -> None:
    cfg = promotion_of({"data": {"task": "multiclass"}, "promotion": {"max_slice_gap": 0.1}})
    values = {
        "a": {"rows": 200, "roc_auc_ovr": 0.95, "balanced_accuracy": 0.9, "ranked": True},
        "b": {"rows": 200, "roc_auc_ovr": 0.97, "balanced_accuracy": 0.7, "ranked": True},
    }
    metrics = {"roc_auc_ovr": 0.96, "f1_macro": 0.8, "log_loss": 0.3, "rows": 400}
    cand = Evaluation(metrics, {"columns": {"c": {"values": values, "gap": {}}}})
    prod = Evaluation(metrics | {"f1_macro": 0.83}, cand.slices)
    d = gate(cand, prod, cfg)
    assert [r.name for r in d.rules] == [
        "max_drop:roc_auc_ovr",
        "max_drop:f1_macro",
        "max_slice_gap",
    ]
    assert not rule(d, "max_drop:f1_macro").passed  # 0.03 worse, 0.02 allowed
    assert rule(d, "max_slice_gap").value == pytest.approx(0.2)  # balanced accuracy .9 vs .7


def test_the_primary_metric_defaults_to_the_tasks() -> None:
    assert primary_of({}) == "roc_auc"
    assert primary_of({"data": {"task": "regression"}}) == "rmse"
    assert (
        primary_of({"data": {"task": "multiclass"}, "promotion": {"primary_metric": "accuracy"}})
        == "accuracy"
    )


def test_binary_rules_on_a_regression_candidate_say_what_it_holds() -> None:
    from gitml.errors import DataError

    with pytest.raises(DataError, match="it holds a regression model's metrics \\(rmse, mae"):
        gate(reg_ev(50.0), None, PromotionConfig())


def test_an_error_metric_may_be_allowed_to_worsen_by_more_than_one_unit(tmp_path: Any) -> None:
    import yaml

    from gitml.config import load_params

    promotion = {"max_drop": 2.5, "max_drops": {"mae": 1.5}, "recent_max_drop": 4.0}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"data": {"task": "regression"}, "promotion": promotion}))
    cfg = load_params(path).promotion
    assert (cfg.max_drop, cfg.max_drops, cfg.recent_max_drop) == (2.5, {"mae": 1.5}, 4.0)
    d = gate(reg_ev(57.5, mae=41.5), reg_ev(55.0, mae=40.0), cfg)
    assert d.passed, d.summary  # rmse 2.5 worse and mae 1.5 worse: both allowed
    # log_loss is unbounded too (a multiclass secondary metric)
    multi = promotion_of(
        {"data": {"task": "multiclass"}, "promotion": {"max_drops": {"log_loss": 2}}}
    )
    assert multi.max_drops == {"log_loss": 2.0}


@pytest.mark.parametrize(
    ("task", "promotion", "line"),
    [
        ("binary", {"max_drop": 2.5}, "promotion.max_drop = 2.5: roc_auc (the primary_metric)"),
        ("binary", {"recent_max_drop": -3}, "promotion.recent_max_drop = -3: roc_auc (the"),
        ("multiclass", {"max_drops": {"f1_macro": 1.5}}, "f1_macro is a score between 0 and 1"),
        (
            "regression",
            {"primary_metric": "r2", "max_drops": {"rmse": 3.0}, "max_drop": 1.5},
            None,  # r2 has no lower bound: a drop of 1.5 can be meant
        ),
        ("regression", {"max_drop": float("inf")}, "promotion.max_drop = inf: Input should be a"),
    ],
)
def test_a_score_cannot_be_allowed_to_drop_by_more_than_one(
    task: str, promotion: dict[str, Any], line: str | None, tmp_path: Any
) -> None:
    import yaml

    from gitml.config import load_params
    from gitml.errors import ConfigError

    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"data": {"task": task}, "promotion": promotion}))
    if line is None:
        load_params(path)
        return
    with pytest.raises(ConfigError) as caught:
        load_params(path)
    assert line in str(caught.value)
    if "inf" not in line:
        assert "between -1 and 1" in str(caught.value)


def test_a_mape_rule_on_a_target_with_zeros_says_why_mape_is_missing() -> None:
    """evaluate leaves mape out when a test target is 0 (undefined there): rerunning it, as the
    generic message advised, cannot bring it back; the message says so and names the others."""
    from gitml.errors import DataError

    ev = reg_ev(50.0)
    del ev.metrics["mape"]
    ev = Evaluation(ev.metrics, ev.slices, "regression")
    cfg = PromotionConfig.model_validate(
        {"primary_metric": "rmse", "primary_floor": None, "floors": {"mape": 0.5},
         "max_drops": {}, "slice_floors": {}}
    )  # fmt: skip
    with pytest.raises(DataError) as caught:
        gate(ev, None, cfg)
    message = str(caught.value)
    assert "a test target is 0" in message and "rmse, mae or r2" in message
    assert "rerun" not in message


def test_rules_of_another_task_do_not_advise_rerunning_evaluate() -> None:
    from gitml.errors import DataError

    with pytest.raises(DataError) as caught:
        gate(reg_ev(50.0), None, PromotionConfig())
    assert "change or remove the rule" in str(caught.value)
    assert "rerun" not in str(caught.value)


def test_a_prod_model_of_another_task_is_not_compared_with(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first own table on a project whose prod is the template's binary model: prod has no
    rmse, and 'no rmse in the prod model's metrics' would stop every promotion. The absolute
    rules apply, and the summary says why prod is not compared."""
    from types import SimpleNamespace

    from gitml.registry import gate as gate_mod

    prod = SimpleNamespace(artifact="model", version="v0.3.0", commit="a" * 40)
    monkeypatch.setattr(gate_mod.registry, "find_stage", lambda repo: prod)
    binary = Evaluation({"roc_auc": 0.93, "rows": 600}, {"columns": {}}, "binary")
    monkeypatch.setattr(gate_mod.Evaluation, "at_rev", classmethod(lambda cls, r, rev: binary))
    candidate = Evaluation(reg_ev(50.0).metrics, reg_ev(50.0).slices, "regression")
    decision = gate_mod.decide(Path(), candidate, PromotionConfig.model_validate(
        {"primary_metric": "rmse", "primary_floor": None, "floors": {}, "max_drops": {},
         "slice_floors": {}, "max_slice_gap": None}))  # fmt: skip
    assert decision.passed and not [r for r in decision.rules if r.name.startswith("max_drop")]
    assert "prod v0.3.0 is a binary model: absolute rules only" in decision.summary
