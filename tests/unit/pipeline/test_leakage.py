"""The leakage guard: leaks are flagged by kind, real signal is not, a shuffled target never is."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitml.config import DataConfig, LeakageConfig, SplitConfig, ValidateConfig
from gitml.core import schema
from gitml.pipeline import leakage, validate
from tests.integration.project.datasets import leaky

DATA = DataConfig(source="x.csv", target="churned", positive_class=1)
CFG = LeakageConfig()


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """As ingest stores it: numbers as float64, text as strings, the target as text."""
    out = frame.drop(columns=["customer_id", "notes"])
    out = out.astype({c: "float64" for c in out.columns if c not in ("plan", "gender")})
    out["churned"] = frame["churned"].astype(str)
    return out


def kinds(result: leakage.LeakageResult) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in result.flags:
        out.setdefault(f.column, set()).add(f.kind)
    return out


def test_copy_and_missing_when_are_flagged_and_the_real_signal_is_not() -> None:
    result = leakage.scan(canonical(leaky()), DATA, SplitConfig(), CFG, 3, 42)
    found = kinds(result)
    assert set(found) == {"refund_score", "cancel_fee"}
    assert "copy" in found["refund_score"]
    assert found["cancel_fee"] == {"missing_when"}  # one reason, not a copy as well
    why = next(f.message for f in result.flags if f.column == "cancel_fee")
    assert why.startswith("missing exactly when the target is negative (100% of those rows)")
    assert result.features["tenure_months"]["auc"] < 0.8  # type: ignore[operator]
    assert "mi" in result.features["plan"]  # categoricals also get mutual information


def test_allow_moves_a_flag_aside() -> None:
    cfg = LeakageConfig(allow=["refund_score"])
    result = leakage.scan(canonical(leaky()), DATA, SplitConfig(), cfg, 3, 42)
    assert result.columns == ["cancel_fee"]
    assert {f.column for f in result.allowed_flags} == {"refund_score"}


def test_a_strong_feature_with_company_is_not_dominant() -> None:
    """Above the limit alone, but the other features together do better: real signal."""
    rng = np.random.default_rng(0)
    n = 600
    z = rng.normal(size=n)
    y = (z > 0).astype(int)
    frame = pd.DataFrame({f"m{i}": z + rng.normal(0, 0.25, n) for i in range(6)})
    frame["churned"] = y.astype(str)
    result = leakage.scan(frame, DATA, SplitConfig(), LeakageConfig(max_single_feature_auc=0.9))
    strong = [c for c, info in result.features.items() if (info["auc"] or 0) > 0.9]
    assert strong, result.features
    assert result.flags == []
    assert result.features[strong[0]]["rest_auc"] > 0.9  # type: ignore[operator]


def test_dominant_when_it_beats_the_rest() -> None:
    frame = canonical(leaky()).drop(columns=["refund_score", "cancel_fee"])
    rng = np.random.default_rng(1)
    y = frame["churned"].astype(int).to_numpy()
    frame["score_after"] = y * 1.0 + rng.normal(0, 0.25, len(y))  # AUC ~0.997, not a copy
    result = leakage.scan(frame, DATA, SplitConfig(), CFG, 3, 42)
    assert kinds(result) == {"score_after": {"dominant"}}
    assert "better than the 4 other feature(s) together" in result.flags[0].message


def test_time_proxy_when_split_by_time() -> None:
    frame = canonical(leaky()).drop(columns=["refund_score", "cancel_fee"])
    frame["day"] = np.arange(len(frame), dtype="float64")
    frame["account_age_at_export"] = frame["day"] * 2.0 + 5  # a second clock
    split = SplitConfig(time_column="day")
    result = leakage.scan(frame, DATA, split, CFG, 3, 42)
    assert kinds(result) == {"account_age_at_export": {"time_proxy"}}


def test_adult_has_no_leak(adult_sample: pd.DataFrame) -> None:
    result = leakage.scan(adult_sample, DataConfig(), SplitConfig(), CFG, 3, 42)
    assert result.flags == [] and max(i["auc"] or 0 for i in result.features.values()) < 0.9


def test_validate_stops_on_a_leak_in_error_mode_and_reports_in_warn_mode() -> None:
    frame = canonical(leaky())
    contract, _ = schema.infer(frame, "churned", 200)
    cfg = ValidateConfig(max_missing_rate=0.9, min_rows=10)
    stopped = validate.check(frame, DATA, cfg, contract)
    assert not stopped.passed
    assert {v.column for v in stopped.violations} == {"refund_score", "cancel_fee"}
    assert all("validate.leakage.allow" in v.rule for v in stopped.violations)
    warned = validate.check(
        frame, DATA, cfg.model_copy(update={"leakage": LeakageConfig(mode="warn")}), contract
    )
    assert warned.passed and warned.as_dict()["leakage"]["flagged"] == [
        "cancel_fee",
        "refund_score",
    ]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(150, 300))
def test_shuffling_the_target_removes_every_flag(seed: int, n: int) -> None:
    frame = canonical(leaky(n=n, seed=seed % 1000))
    assert leakage.scan(frame, DATA, SplitConfig(), CFG, 3, 42).flags  # the leaks are found
    rng = np.random.default_rng(seed)
    shuffled = frame.assign(churned=rng.permutation(frame["churned"].to_numpy()))
    assert leakage.scan(shuffled, DATA, SplitConfig(), CFG, 3, 42).flags == []
