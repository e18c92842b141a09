"""The promotion gate as a pure function: rules, directions, the tie rule, slices, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitml.config import PromotionConfig, load_params
from gitml.core.metrics import LOWER_IS_BETTER
from gitml.errors import ConfigError, DataError
from gitml.registry.gate import Evaluation, gate, worsening
from gitml.registry.record import render_markdown

pytestmark = pytest.mark.xdist_group("promotion")

METRIC_NAMES = ["roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1", "log_loss", "brier"]


def ev(slice_recall: float = 0.7, slice_rows: int = 500, **metrics: float | None) -> Evaluation:
    base: dict[str, Any] = {
        "roc_auc": 0.9,
        "pr_auc": 0.75,
        "accuracy": 0.85,
        "precision": 0.7,
        "recall": 0.7,
        "f1": 0.7,
        "log_loss": 0.3,
        "brier": 0.1,
        "threshold": 0.4,
        "rows": 1000,
        "confusion": {"tn": 1, "fp": 1, "fn": 1, "tp": 1},
    }
    values = {
        "Female": {"rows": slice_rows, "roc_auc": 0.9, "recall": slice_recall, "ranked": True},
        "Male": {"rows": 800, "roc_auc": 0.9, "recall": 0.7, "ranked": True},
        "Tiny": {"rows": 20, "roc_auc": 0.5, "recall": 0.0, "ranked": True},
    }
    return Evaluation(base | metrics, {"columns": {"gender": {"values": values, "gap": {}}}})


def rule(decision: Any, name: str) -> Any:
    return next(r for r in decision.rules if r.name == name)


CFG = PromotionConfig()


def test_no_prod_applies_only_absolute_rules() -> None:
    d = gate(ev(), None, CFG)
    assert d.passed and d.prod_version is None
    names = [r.name for r in d.rules]
    assert not any(n.startswith("max_drop") for n in names)
    assert {"floor:roc_auc", "floor:recall", "max_slice_gap"} <= set(names)
    assert "slice_floor:gender=Female:recall" in names
    assert not any("Tiny" in n for n in names)  # under slice_min_rows
    assert d.summary.startswith("PROMOTE: roc_auc 0.9000 (no prod yet")


def test_primary_drop_and_tie_rule() -> None:
    prod = ev(roc_auc=0.9)
    assert gate(ev(roc_auc=0.9), prod, CFG).passed  # a tie passes max_drop 0
    worse = gate(ev(roc_auc=0.8999), prod, CFG, prod_version="v0.2.0")
    assert not worse.passed
    r = rule(worse, "max_drop:roc_auc")
    assert (r.value, r.threshold, r.passed) == (0.0001, 0.0, False)
    assert worse.summary.startswith("REFUSE: roc_auc 0.8999 vs prod v0.2.0 0.9000 (-0.0001)")
    assert "failed: max_drop:roc_auc" in worse.summary
    # a required gain (negative max_drop) refuses the tie and accepts a big enough gain
    gain = PromotionConfig(max_drop=-0.005)
    assert not gate(ev(roc_auc=0.9), prod, gain).passed
    assert gate(ev(roc_auc=0.905), prod, gain).passed
    assert not gate(ev(roc_auc=0.9049), prod, gain).passed


def test_lower_is_better_metrics_are_ceilings_and_drops_are_increases() -> None:
    cfg = PromotionConfig(primary_metric="log_loss", primary_floor=0.35, max_drop=0.01)
    d = gate(ev(log_loss=0.36), None, cfg)
    r = rule(d, "ceiling:log_loss")
    assert not r.passed and "at most" in r.detail
    prod = ev(log_loss=0.30)
    assert gate(ev(log_loss=0.25), prod, cfg).passed  # lower log loss is better
    assert gate(ev(log_loss=0.31), prod, cfg).passed  # worse by exactly the allowance
    assert not gate(ev(log_loss=0.3101), prod, cfg).passed


def test_secondary_floors_and_drops() -> None:
    cfg = PromotionConfig(floors={"brier": 0.12, "f1": 0.6}, max_drops={"pr_auc": 0.01})
    assert not rule(gate(ev(brier=0.13), None, cfg), "ceiling:brier").passed
    assert not rule(gate(ev(f1=0.59), None, cfg), "floor:f1").passed
    d = gate(ev(pr_auc=0.73), ev(pr_auc=0.75), cfg)
    assert not d.passed and rule(d, "max_drop:pr_auc").value == pytest.approx(0.02)


def test_slices_block_even_when_the_overall_metric_improves() -> None:
    d = gate(ev(roc_auc=0.95, slice_recall=0.4), ev(roc_auc=0.9), CFG)
    assert not d.passed
    assert rule(d, "max_drop:roc_auc").passed
    assert not rule(d, "slice_floor:gender=Female:recall").passed
    gap = rule(d, "max_slice_gap")
    assert gap.value == pytest.approx(0.3) and not gap.passed and "Female" in gap.detail
    # the same slice with too few rows is not gated at all
    small = gate(ev(slice_recall=0.4, slice_rows=50), None, CFG)
    assert small.passed and not any("Female" in r.name for r in small.rules)


def test_undefined_values_fail_and_missing_keys_are_errors() -> None:
    d = gate(ev(roc_auc=None), None, CFG)
    assert not d.passed and rule(d, "floor:roc_auc").value is None
    broken = Evaluation({"roc_auc": 0.9}, ev().slices)
    with pytest.raises(DataError, match=r"no 'recall'.*promotion\.floors"):
        gate(broken, None, CFG)
    with pytest.raises(DataError, match=r"prod model.*no 'pr_auc'"):
        gate(ev(), Evaluation({"roc_auc": 0.9, "recall": 0.7}, {"columns": {}}), CFG)
    with pytest.raises(DataError, match="not a finite number"):
        gate(ev(roc_auc="high"), None, CFG)  # type: ignore[arg-type]


def test_evaluation_from_dir_rejects_corrupt_files(tmp_path: Path) -> None:
    (tmp_path / "metrics.json").write_text(json.dumps(ev().metrics))
    (tmp_path / "slices.json").write_text(json.dumps(ev().slices))
    assert Evaluation.from_dir(tmp_path) == ev()
    (tmp_path / "slices.json").write_text(json.dumps({"max_gap": 0.1}))
    with pytest.raises(DataError, match="no 'columns'"):
        Evaluation.from_dir(tmp_path)
    (tmp_path / "metrics.json").write_text("[1, 2]")
    with pytest.raises(DataError, match="must hold a JSON object"):
        Evaluation.from_dir(tmp_path)
    (tmp_path / "metrics.json").unlink()
    with pytest.raises(DataError, match="not found"):
        Evaluation.from_dir(tmp_path)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"primary_metric": "auc"}, "promotion.primary_metric"),
        ({"floors": {"roc_auc": 0.8}}, "is the primary_metric"),
        ({"max_drops": {"latency": 0.1}}, "promotion.max_drops"),
        ({"slice_floors": {"f1": 0.5}}, "promotion.slice_floors"),
        ({"max_drop": 2}, "promotion.max_drop"),
        ({"slice_min_rows": 0}, "promotion.slice_min_rows"),
        ({"max_slice_gap": -0.1}, "promotion.max_slice_gap"),
        ({"min_gain": 0.1}, "unknown key"),
    ],
)
def test_invalid_gate_params_name_the_key(tmp_path: Path, section: Any, message: str) -> None:
    import yaml

    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"promotion": section}))
    with pytest.raises(ConfigError, match=message):
        load_params(path)


def test_markdown_record_lists_every_rule() -> None:
    d = gate(ev(slice_recall=0.4), None, CFG)
    record = {
        "outcome": "refused",
        "summary": d.summary,
        "note": "",
        "candidate": {"ref": "HEAD", "commit": "a" * 40, "version": None},
        "prod": {"version": None, "commit": None},
        "rules": [r.__dict__ for r in d.rules],
        "tags": [],
    }
    md = render_markdown(record)
    assert "not promoted" in md and "no prod yet" in md
    assert md.count("\n| `") == len(d.rules) and "**FAIL**" in md


# --------------------------------------------------------------------------- property

unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False).map(lambda x: round(x, 6))
metric_sets = st.fixed_dictionaries({m: unit for m in METRIC_NAMES})


@st.composite
def gate_configs(draw: st.DrawFn) -> PromotionConfig:
    primary = draw(st.sampled_from(METRIC_NAMES))
    others = [m for m in METRIC_NAMES if m != primary]
    drops = st.floats(min_value=-0.2, max_value=0.2, allow_nan=False).map(lambda x: round(x, 4))
    absolute = draw(st.booleans())  # sometimes add the absolute rules too
    return PromotionConfig(
        primary_metric=primary,
        primary_floor=draw(unit) if absolute else None,
        max_drop=draw(drops),
        floors=draw(st.dictionaries(st.sampled_from(others), unit, max_size=2)) if absolute else {},
        max_drops=draw(st.dictionaries(st.sampled_from(others), drops, max_size=4)),
        slice_floors={"recall": draw(unit)} if absolute else {},
        max_slice_gap=draw(unit) if absolute else None,
    )


@settings(max_examples=300, deadline=None)
@given(cfg=gate_configs(), prod=metric_sets, cand=metric_sets)
def test_never_promotes_a_candidate_worse_than_allowed(
    cfg: PromotionConfig, prod: dict[str, float], cand: dict[str, float]
) -> None:
    decision = gate(ev(**cand), ev(**prod), cfg)
    allowed = {cfg.primary_metric: cfg.max_drop, **cfg.max_drops}
    for metric, allowance in allowed.items():
        # worse, measured independently of the gate's own helper
        diff = cand[metric] - prod[metric]
        worse_by = diff if metric in LOWER_IS_BETTER else -diff
        if worse_by > allowance + 1e-9:
            assert not decision.passed, (metric, cand[metric], prod[metric], allowance)
    absolute = cfg.primary_floor is not None
    if not absolute and all(worsening(m, cand[m], prod[m]) <= a for m, a in allowed.items()):
        assert decision.passed  # nothing else is gated in these configs: it passes
