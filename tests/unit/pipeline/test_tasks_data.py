"""data.task before training: the params check, the split, X/y and folds, and validate's
target rules for multiclass and regression targets (binary's are in test_validate.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from gitml.config import Params, SplitConfig, ValidateConfig
from gitml.core import schema
from gitml.core.tasks import Task
from gitml.pipeline import dataset, split, validate
from tests.unit.pipeline import tasks_data
from tests.unit.pipeline.tasks_data import ANIMALS, MULTICLASS, REGRESSION


def params(task: str, **tune: Any) -> dict[str, Any]:
    return {"data": {"target": "y", "task": task}, "tune": tune}


def test_task_defaults_follow_the_task() -> None:
    assert Params().data.task is Task.BINARY
    binary = Params.model_validate(params("binary"))
    assert binary.tune == Params().tune  # binary keeps today's defaults
    reg = Params.model_validate(params("regression"))
    assert reg.tune.metric == "neg_root_mean_squared_error"
    assert sorted(reg.tune.search_space) == ["hist_gradient_boosting", "linear"]
    multi = Params.model_validate(params("multiclass"))
    assert multi.tune.metric == "roc_auc_ovr"
    assert sorted(multi.tune.search_space) == ["hist_gradient_boosting", "logistic_regression"]


@pytest.mark.parametrize(
    ("task", "tune", "needle"),
    [
        ("regression", {"metric": "roc_auc"}, "tune.metric: 'roc_auc' is not a metric of a"),
        ("binary", {"metric": "r2"}, "use one of roc_auc, average_precision"),
        (
            "regression",
            {
                "search_space": {
                    "logistic_regression": {"C": {"type": "float", "low": 1, "high": 2}}
                }
            },
            "family 'logistic_regression' does not serve a regression target",
        ),
        (
            "multiclass",
            {"search_space": {"linear": {"alpha": {"type": "float", "low": 1, "high": 2}}}},
            "families for it: hist_gradient_boosting, logistic_regression",
        ),
        (
            "regression",
            {
                "search_space": {
                    "hist_gradient_boosting": {
                        "class_weight": {"type": "categorical", "choices": [None]}
                    }
                }
            },
            "a regression hist_gradient_boosting has no parameter ['class_weight']",
        ),
    ],
)
def test_params_check_refuses_what_the_task_lacks(
    task: str, tune: dict[str, Any], needle: str, tmp_path: Any
) -> None:
    import yaml

    from gitml.config import load_params
    from gitml.errors import ConfigError

    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params(task, **tune)))
    with pytest.raises(ConfigError) as exc:
        load_params(path)
    assert needle in str(exc.value)
    assert "{'data'" not in str(exc.value)  # the message names keys, not the whole input


def test_positive_class_is_null_but_for_binary() -> None:
    from pydantic import ValidationError

    data = {"target": "y", "positive_class": None}
    assert (
        Params.model_validate({"data": {**data, "task": "regression"}}).data.positive_class is None
    )
    with pytest.raises(ValidationError, match="a binary target needs the label value that is 1"):
        Params.model_validate({"data": data})


def test_unknown_task_is_refused() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="binary', 'multiclass' or 'regression'"):
        Params.model_validate(params("ranking"))


def test_regression_split_is_stratified_by_target_bins() -> None:
    df = tasks_data.diabetes()
    train, test = split.split(df, REGRESSION, SplitConfig())
    assert len(train) + len(test) == len(df) and len(test) == 89
    y_train = train["progression"].astype(float)
    y_test = test["progression"].astype(float)
    # deciles of the whole target: each holds about a tenth of each side
    edges = np.quantile(df["progression"].astype(float), np.linspace(0, 1, 11)[1:-1])
    share = np.bincount(np.searchsorted(edges, y_test), minlength=10) / len(y_test)
    assert np.abs(share - 0.1).max() < 0.03
    assert abs(y_train.mean() - y_test.mean()) < 5  # std of the target is 77
    again, _ = split.split(df, REGRESSION, SplitConfig())
    pd.testing.assert_frame_equal(train, again)


def test_strata_fall_back_on_a_tiny_or_tied_target() -> None:
    tiny = pd.Series(["1", "2", "3", "4", "5"])
    assert split.strata(tiny, Task.REGRESSION, 0.2) is None
    tied = pd.Series(["0"] * 90 + ["1"] * 10)
    bins = split.strata(tied, Task.REGRESSION, 0.2)
    assert bins is not None and bins.nunique() == 2
    labels = pd.Series(["a", "b"])
    assert split.strata(labels, Task.MULTICLASS, 0.2) is labels


def test_multiclass_split_keeps_class_shares() -> None:
    df = tasks_data.wine()
    _train, test = split.split(df, MULTICLASS, SplitConfig())
    shares = df["cultivar"].value_counts(normalize=True)
    test_shares = test["cultivar"].value_counts(normalize=True)
    assert (test_shares - shares).abs().max() < 0.03


def test_xy_and_folds_per_task() -> None:
    df = tasks_data.diabetes()
    X, y, cols = dataset.split_xy(df, REGRESSION, SplitConfig())
    assert y.dtype == np.float64 and "progression" not in X.columns
    assert y[0] == 151.0
    folds = dataset.folds(X, y, 5, 42, task=Task.REGRESSION)
    assert sorted(np.concatenate([v for _, v in folds]).tolist()) == list(range(len(y)))

    animals = tasks_data.animals()
    assert dataset.classes_of(animals, ANIMALS) == ["bird", "dog", "fish"]
    assert dataset.classes_of(animals, REGRESSION.model_copy(update={"target": "animal"})) == []
    X, y, cols = dataset.split_xy(animals, ANIMALS, SplitConfig())
    assert set(np.unique(y)) == {0, 1, 2}
    assert (y == 1).sum() == (animals["animal"] == "dog").sum()
    assert cols.categorical == ["habitat"] and cols.numeric == ["weight"]
    for _, held in dataset.folds(X, y, 3, 42, task=Task.MULTICLASS):  # stratified
        assert np.abs(np.bincount(y[held]) / len(held) - np.bincount(y) / len(y)).max() < 0.02


def test_regression_folds_by_group_keep_groups_apart() -> None:
    df = tasks_data.diabetes()
    X, y, _ = dataset.split_xy(df, REGRESSION, SplitConfig())
    groups = pd.Series(np.arange(len(y)) % 40)
    for fit, held in dataset.folds(X, y, 4, 0, groups, Task.REGRESSION):
        assert not set(groups.iloc[fit]) & set(groups.iloc[held])


def _check(df: pd.DataFrame, data_cfg: Any, **cfg: Any) -> validate.ValidationResult:
    target = data_cfg.target
    contract, _ = schema.infer(df, target, 50)
    config = ValidateConfig(min_rows=10, **cfg)
    return validate.check(df, data_cfg, config, contract)


def _rules(result: validate.ValidationResult) -> list[str]:
    return [v.rule for v in result.violations]


def test_validate_passes_clean_multiclass_and_regression_tables() -> None:
    reg = _check(tasks_data.diabetes(), REGRESSION)
    assert reg.passed, _rules(reg)
    assert reg.quality["target"]["min"] == 25.0 and reg.quality["positive_rate"] is None
    multi = _check(tasks_data.animals(), ANIMALS)
    assert multi.passed, _rules(multi)
    assert set(multi.quality["label_counts"]) == {"bird", "dog", "fish"}


def test_validate_regression_target_rules() -> None:
    df = tasks_data.diabetes()
    df.loc[3, "progression"] = "lots"
    df.loc[7, "progression"] = "inf"
    df.loc[9, "progression"] = np.nan
    result = _check(df, REGRESSION)
    rules = _rules(result)
    assert any(
        r.startswith("regression_target: 1 value(s) are not numbers (e.g. ['lots'])") for r in rules
    )
    assert any("are infinite" in r for r in rules)
    missing = next(v for v in result.violations if v.rule.startswith("target_missing"))
    assert missing.count == 1 and missing.examples[0]["row"] == 9
    constant = tasks_data.diabetes().assign(progression="7.0")
    assert any(
        r.startswith("constant_target: every value is 7.0")
        for r in _rules(_check(constant, REGRESSION))
    )


def test_validate_multiclass_target_rules() -> None:
    df = tasks_data.animals()
    df.loc[:4, "animal"] = "cat"  # 5 rows: too few to split and fold
    result = _check(df, ANIMALS)
    rare = next(v for v in result.violations if v.rule.startswith("min_class_rows"))
    assert "'cat': 5" in rare.rule and rare.count == 5
    two = df[df["animal"].isin(["dog", "bird"])].reset_index(drop=True)
    assert any("set data.task: binary" in r for r in _rules(_check(two, ANIMALS)))
    one = df.assign(animal="dog")
    assert any("a constant target" in r for r in _rules(_check(one, ANIMALS)))
    shares = _check(tasks_data.animals(), ANIMALS, min_minority_rate=0.4)
    assert any(r.startswith("min_minority_rate: the rarest class") for r in _rules(shares))


def test_leakage_guard_regression() -> None:
    from gitml.config import LeakageConfig
    from gitml.pipeline import leakage

    df = tasks_data.diabetes()
    target = df["progression"].astype(float)
    rng = np.random.default_rng(1)
    df["followup"] = np.exp(target / 100) + rng.normal(0, 0.01, len(df))  # monotone copy
    df["refund"] = np.where(target > 200, np.nan, 1.0)  # recorded only for the low ones
    result = leakage.scan(df, REGRESSION, SplitConfig(), LeakageConfig(), 3, 42)
    kinds = {f.column: f.kind for f in result.flags}
    assert kinds == {"followup": "copy", "refund": "missing_when"}, result.flags
    assert result.as_dict()["max_single_feature_r2"] == 0.9
    assert result.features["bmi"]["r2"] < 0.5  # the real signal: scored, not flagged
    assert "explains" in next(f.message for f in result.flags if f.kind == "copy")


def test_leakage_guard_multiclass_one_vs_rest() -> None:
    from gitml.config import LeakageConfig
    from gitml.pipeline import leakage

    df = tasks_data.animals()
    df["label_code"] = df["animal"].map({"bird": "B", "dog": "D", "fish": "F"})
    result = leakage.scan(df, ANIMALS, SplitConfig(), LeakageConfig(), 3, 42)
    assert [(f.column, f.kind) for f in result.flags] == [("label_code", "copy")]
    assert result.features["label_code"]["auc"] == 1.0
    assert 0.8 < result.features["habitat"]["auc"] < 0.95  # strong and real
    assert 0 < result.features["habitat"]["mi"] < 1
    shuffled = tasks_data.animals().assign(
        animal=lambda d: d["animal"].sample(frac=1, random_state=0).to_numpy()
    )
    quiet = leakage.scan(shuffled, ANIMALS, SplitConfig(), LeakageConfig(), 3, 42)
    assert not quiet.flags and all(f["auc"] < 0.6 for f in quiet.features.values())


def test_tune_subsample_of_a_regression_target_keeps_its_spread() -> None:
    from gitml.pipeline.tune import subsample_index

    y = tasks_data.diabetes()["progression"].astype(float).to_numpy()
    keep = subsample_index(y, 200, 0, Task.REGRESSION)
    assert len(keep) == 200 and (np.diff(keep) > 0).all()
    edges = np.quantile(y, np.linspace(0, 1, 11)[1:-1])
    share = np.bincount(np.searchsorted(edges, y[keep]), minlength=10) / 200
    assert np.abs(share - 0.1).max() <= 0.02  # stratified by the deciles
    assert (subsample_index(y, 200, 0, Task.REGRESSION) == keep).all()  # seeded


def test_monotonic_constraints_are_refused_for_multiclass_at_the_params_check(
    tmp_path: Any,
) -> None:
    import yaml

    from gitml.config import load_params
    from gitml.errors import ConfigError

    def write(task: str) -> Any:
        raw = params(task) | {"features": {"monotonic_increasing": ["age"]}}
        path = tmp_path / f"{task}.yaml"
        path.write_text(yaml.safe_dump(raw))
        return path

    with pytest.raises(ConfigError) as exc:
        load_params(write("multiclass"))
    text = str(exc.value)
    assert "features.monotonic_increasing = ['age']" in text
    assert "multiclass target (data.task: multiclass)" in text and "set it to []" in text
    # binary and regression models take the constraint (HGB supports it for both)
    assert load_params(write("regression")).features.monotonic_increasing == ["age"]
    assert load_params(write("binary")).features.monotonic_increasing == ["age"]
