"""The PR report's recent-traffic section and its opt-in gate rule (gitml.review.recent)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from gitml.core.model_meta import ModelMeta
from gitml.review import recent


@dataclass
class FakeProd:
    model: Any
    feature_order: list[str]
    threshold: float = 0.5
    version: str = "v1.0.0"
    metadata: ModelMeta = field(
        default_factory=lambda: ModelMeta(model_sha256="0" * 64, threshold=0.5)
    )


class Noisy:
    """prod: the right answer with noise; scores x plus noise."""

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        s = np.clip(X["x"].to_numpy() * 0.6 + 0.2 * np.sin(np.arange(len(X))), 0, 1)
        return np.column_stack([1 - s, s])


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    rng = np.random.default_rng(0)
    x = rng.random(300)
    rows = pd.DataFrame({"x": x, "income": np.where(rng.random(300) < x, ">50K", "<=50K")})
    (tmp_path / "data/features").mkdir(parents=True)
    rows.to_parquet(tmp_path / recent.RECENT_FEATURES)
    import gitml.serve.resolve as resolve_mod

    monkeypatch.setattr(resolve_mod, "resolve", lambda repo, stage: FakeProd(Noisy(), ["x"]))
    return tmp_path


def _candidate(auc: float) -> dict[str, Any]:
    return {"rows": 300, "metrics": {"roc_auc": auc, "accuracy": 0.8}}


def test_prod_is_scored_on_the_same_rows_and_the_rule_is_off_by_default(repo: Path) -> None:
    out = recent.section(repo, None, {}, _candidate(0.99))
    assert out is not None and out["rows"] == 300 and out["prod_version"] == "v1.0.0"
    assert 0.5 < out["prod"]["roc_auc"] < 0.99
    assert out["passed"] is None and "not gated" in out["rule"]
    text = "\n".join(recent.markdown(out, "this branch"))
    assert "### Recent traffic (300 newest labelled production rows" in text
    assert "| **roc_auc** |" in text and "| 0.9900 |" in text


def test_the_opt_in_rule_compares_candidate_and_prod(repo: Path) -> None:
    params = {"promotion": {"recent_max_drop": 0.0, "recent_min_rows": 100}}
    good = recent.section(repo, None, params, _candidate(0.99))
    assert good is not None and good["passed"] is True and "passes" in good["rule"]
    bad = recent.section(repo, None, params, _candidate(0.5))
    assert bad is not None and bad["passed"] is False and "FAILS" in bad["rule"]
    strict = {"promotion": {"recent_max_drop": 0.0, "recent_min_rows": 400}}
    few = recent.section(repo, None, strict, _candidate(0.5))
    assert few is not None and few["passed"] is None and few["rule"].startswith("not judged")


def test_no_recent_rows_no_section(tmp_path: Path) -> None:
    assert recent.section(tmp_path, None, {}, None) is None
    assert recent.section(tmp_path, None, {}, {"rows": 0, "metrics": None}) is None
    out = recent.section(tmp_path, None, {}, _candidate(0.9))
    assert out is not None and "not found" in out["note"]


@pytest.mark.parametrize(
    ("positive", "values"),
    [
        (1, (1, 0)),  # an integer class: ingest keeps the target as text, "1"/"0"
        (True, (True, False)),  # a boolean one: "True"/"False"
        ("yes", ("yes", "no")),
    ],
)
def test_prod_is_scored_whatever_the_type_of_the_positive_class(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, positive: object, values: tuple[Any, Any]
) -> None:
    """`positive_class: 1` or `true` once compared text with `==`: every row was negative and
    prod's recent score was None. Now the comparison is core.labels'."""
    rng = np.random.default_rng(1)
    x = rng.random(300)
    target = np.where(rng.random(300) < x, values[0], values[1]).astype(str)
    (tmp_path / "data/features").mkdir(parents=True)
    pd.DataFrame({"x": x, "y": target}).to_parquet(tmp_path / recent.RECENT_FEATURES)
    import gitml.serve.resolve as resolve_mod

    monkeypatch.setattr(resolve_mod, "resolve", lambda repo, stage: FakeProd(Noisy(), ["x"]))
    params = {"data": {"target": "y", "positive_class": positive}}
    out = recent.section(tmp_path, None, params, _candidate(0.9))
    assert out is not None and out["prod"] is not None, out
    assert 0.6 < out["prod"]["roc_auc"] < 0.99


class Linear:
    """A regressor: predicts 2x."""

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return 2.0 * X["x"].to_numpy()


def test_a_regression_prod_is_scored_with_rmse_lower_is_better(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = np.linspace(0.0, 1.0, 300)
    (tmp_path / "data/features").mkdir(parents=True)
    pd.DataFrame({"x": x, "price": 2.0 * x + 0.5}).to_parquet(tmp_path / recent.RECENT_FEATURES)
    import gitml.serve.resolve as resolve_mod

    meta = ModelMeta(model_sha256="0" * 64, task="regression")
    prod = FakeProd(Linear(), ["x"], metadata=meta)
    monkeypatch.setattr(resolve_mod, "resolve", lambda repo, stage: prod)
    params = {
        "data": {"target": "price", "task": "regression"},
        "promotion": {"recent_max_drop": 0.1, "recent_min_rows": 100},
    }
    candidate = {"rows": 300, "metrics": {"rmse": 0.55, "mae": 0.5, "r2": 0.9}}
    out = recent.section(tmp_path, None, params, candidate)
    assert out is not None and out["primary"] == "rmse"
    assert out["prod"]["rmse"] == pytest.approx(0.5)  # every prediction 0.5 too low
    assert out["passed"] is True  # 0.05 worse than prod: within 0.1
    worse = recent.section(tmp_path, None, params, {"rows": 300, "metrics": {"rmse": 0.7}})
    assert worse is not None and worse["passed"] is False  # 0.2 worse: a higher rmse is worse
    text = "\n".join(recent.markdown(out, "this branch"))
    assert "| **rmse** | 0.5000 | 0.5500 |" in text and "roc_auc" not in text
