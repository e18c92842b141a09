"""evaluate's too-good-to-be-true warnings, and slice names of integer codes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gitml.core.model_meta import ModelMeta
from gitml.pipeline import evaluate


def test_integer_slices_print_as_integers() -> None:
    keys = evaluate.slice_keys(pd.Series([1.0, 2.0, np.nan, 1.0]))
    assert keys.tolist() == ["1", "2", "(missing)", "1"]
    assert evaluate.slice_keys(pd.Series([0.5, 1.0])).tolist() == ["0.5", "1.0"]
    assert evaluate.slice_keys(pd.Series(["a", None])).tolist() == ["a", "(missing)"]


def importance(*values: float) -> pd.DataFrame:
    n = len(values)
    return pd.DataFrame(
        {"feature": [f"f{i}" for i in range(n)], "importance": values, "std": [0.0] * n}
    )


def test_one_dominant_feature_warns() -> None:
    checks, warned = evaluate.warnings({"roc_auc": 0.9}, importance(0.9, 0.05, -0.01), 0.8, 0.99)
    assert checks["top_feature"] == "f0" and checks["top_importance_share"] > 0.9
    assert len(warned) == 1 and "f0" in warned[0] and warned[0].startswith("⚠️")


def test_too_good_roc_auc_warns_and_a_normal_run_does_not() -> None:
    assert len(evaluate.warnings({"roc_auc": 0.995}, importance(0.3, 0.3), 0.8, 0.99)[1]) == 1
    assert evaluate.warnings({"roc_auc": 0.9}, importance(0.3, 0.3, 0.2), 0.8, 0.99)[1] == []


def test_warnings_lead_the_markdown() -> None:
    result = {k: 0.5 for k in ("roc_auc", "pr_auc", "log_loss", "brier", "accuracy")}
    result |= {"precision": 0.5, "recall": 0.5, "f1": 0.5, "threshold": 0.5, "rows": 4}
    result["confusion"] = {"tn": 1, "fp": 1, "fn": 1, "tp": 1}
    meta = ModelMeta(model_sha256="0" * 64, family="x", threshold=0.5, threshold_rule="f1")
    md = evaluate.render_markdown(result, {"columns": {}}, importance(1.0), meta, ["⚠️ something"])
    assert md.splitlines()[2] == "> ⚠️ something"
