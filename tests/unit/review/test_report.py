"""The pure parts of `gitml report`: diffs, verdict words, curve resampling, Mermaid text."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import precision_recall_curve, roc_curve

from gitml.review.charts import mermaid
from gitml.review.compare import (
    ABSENT,
    GRID,
    Curve,
    MetricRow,
    changed_params,
    primary_metric,
    resample_pr,
    resample_roc,
    run_url,
)
from gitml.review.stale import _stale_from_status

pytestmark = pytest.mark.xdist_group("report")


def test_changed_params_keeps_only_differences_and_collapses_whole_sections() -> None:
    base = {"tune": {"n_trials": 4, "space": {"lr": {"low": 0.1}, "lin": {"C": 1}}}, "seed": None}
    head = {"tune": {"n_trials": 6, "space": {"lr": {"low": 0.1}}}, "seed": None, "new": {"a": 1}}
    assert changed_params(base, head) == [
        ("new", ABSENT, {"a": 1}),
        ("tune.n_trials", 4, 6),
        ("tune.space.lin", {"C": 1}, ABSENT),
    ]
    assert changed_params(base, base) == []


@pytest.mark.parametrize(
    ("name", "base", "head", "change"),
    [
        ("roc_auc", 0.90, 0.91, "better"),
        ("roc_auc", 0.91, 0.90, "worse"),
        ("log_loss", 0.40, 0.30, "better"),
        ("brier", 0.10, 0.12, "worse"),
        # calibration errors: more is worse (issue 25: the PR report called it "better")
        ("ece", 0.006, 0.012, "worse"),
        ("ece_uncalibrated", 0.02, 0.01, "better"),
        ("rows", 100, 120, "changed"),
        ("f1", 0.70, 0.70004, "unchanged"),
        ("threshold", 0.3, 0.4, "changed"),
        ("roc_auc", None, 0.9, ""),
    ],
)
def test_metric_change_words(name: str, base: float | None, head: float, change: str) -> None:
    assert MetricRow(name, base, head).change == change


def test_primary_metric_comes_from_promotion_params() -> None:
    assert primary_metric({"promotion": {"primary_metric": "pr_auc"}}) == "pr_auc"
    assert primary_metric({}) == primary_metric(None) == "roc_auc"


def _scores(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 500)
    return y, np.clip(y * 0.3 + rng.normal(0.35, 0.25, 500), 0, 1)


def test_resampled_roc_follows_the_curve() -> None:
    y, s = _scores()
    fpr, tpr, _ = roc_curve(y, s)
    ys = resample_roc([{"fpr": a, "tpr": b} for a, b in zip(fpr, tpr, strict=True)])
    assert len(ys) == len(GRID) <= 50
    assert all(a <= b for a, b in itertools.pairwise(ys)) and ys[-1] == 1.0
    # the area under the resampled curve is close to the real AUC
    assert abs(np.trapezoid(ys, GRID) - np.trapezoid(tpr, fpr)) < 0.02


def test_resampled_pr_is_the_interpolated_precision() -> None:
    y, s = _scores(1)
    precision, recall, _ = precision_recall_curve(y, s)
    ys = resample_pr(
        [{"precision": p, "recall": r} for p, r in zip(precision, recall, strict=True)]
    )
    assert len(ys) == len(GRID)
    assert all(a >= b for a, b in itertools.pairwise(ys))  # never increases with recall
    r = 0.5
    expected = precision[recall >= r].max()
    assert ys[int(np.argmin(abs(GRID - r)))] == round(float(expected), 3)


def test_mermaid_block_names_its_colours() -> None:
    block = mermaid(Curve("ROC", "FPR", "TPR", [0.0, 1.0], [0.5, 1.0]), "main", "this branch")
    lines = block.splitlines()
    assert lines[0] == "```mermaid" and lines[-1] == "```"
    assert '"plotColorPalette": "#1f77b4, #d62728"' in lines[1]
    assert 'title "ROC (blue = main, red = this branch)"' in block
    assert lines.count("    line [0, 1]") == 1 and "    line [0.5, 1]" in lines
    only_head = mermaid(Curve("ROC", "FPR", "TPR", None, [0.5, 1.0]), "main", "this branch")
    assert "#1f77b4" not in only_head and "(red = this branch)" in only_head


def test_run_url_only_inside_github_actions() -> None:
    env = {
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_RUN_ID": "7",
    }
    assert run_url(env) == "https://github.com/o/r/actions/runs/7"
    assert run_url({}) is None


def test_stale_filter_ignores_missing_data() -> None:
    status = {
        "dvc.yaml:validate": [{"changed deps": {"data/ingested.parquet": "deleted"}}],
        "dvc.yaml:ingest": [
            {"changed deps": {"data/raw": "modified"}},
            {"changed outs": {"x": "deleted"}},
        ],
        "dvc.yaml:tune": [
            {
                "changed deps": {
                    "src/gitml/pipeline/tune/search.py": "modified",
                    "params.yaml": {"tune.n_trials": "modified"},
                }
            }
        ],
        "dvc.yaml:train": ["changed command"],
    }
    tracked = ["data/ingested.parquet", "data/raw/churn.csv"]  # a stage output, a `dvc add`ed file
    found = {s.name: s.reasons for s in _stale_from_status(status, tracked)}
    assert found == {
        "tune": ("src/gitml/pipeline/tune/search.py modified", "param tune.n_trials modified"),
        "train": ("command changed",),
    }


def test_the_data_section_counts_production_rows_equal_to_a_test_row() -> None:
    """validate's test_overlap is a line of the data section, once either side has production
    rows; a repository without any keeps the section as it was."""
    from gitml.review import compare, render
    from gitml.review.snapshot import Snapshot

    def snap(label: str, overlap: dict | None) -> Snapshot:
        validation = {"passed": True, "rows": 100, "n_violations": 0}
        if overlap is not None:
            validation["test_overlap"] = overlap
        files = {"lock": {"stages": {}}, "metrics": {"roc_auc": 0.9, "rows": 20}}
        return Snapshot(label, "0" * 40, {**files, "validation": validation})

    none = {"rows": 0, "examples": [], "compared": 0}
    report = compare.build(
        snap("main", none), snap("head", {**none, "rows": 7, "compared": 9}), "b"
    )
    assert compare.MetricRow(compare.OVERLAP_ROW, 0, 7) in report.data
    assert f"| {compare.OVERLAP_ROW} | 0 | 7 |" in render.markdown(report)
    plain = compare.build(snap("main", None), snap("head", none), "b")
    assert [d.name for d in plain.data] == ["validated rows", "test rows"]
