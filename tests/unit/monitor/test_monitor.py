"""The monitor's alarm rule, windows, live quality and report, on small synthetic data."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gitml import monitor
from gitml.config import MonitorConfig, load_params
from gitml.core.model_meta import ModelMeta
from gitml.errors import ConfigError
from gitml.monitor import estimate

pytestmark = pytest.mark.xdist_group("monitor")

CFG = MonitorConfig()
META = ModelMeta(
    model_sha256="0" * 64,  # no model is loaded: the monitor reads scores
    features={"numeric": ["x", "log_capital_gain"], "categorical": ["c"]},
    derived_features=["log_capital_gain"],
    target="y",
    positive_class="1",
    threshold=0.5,
)


def raw(n: int, rng: np.random.Generator, shift: float = 0.0, p_a: float = 0.5) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": rng.normal(shift, 1.0, n),
            "capital_gain": rng.choice([0.0, 0.0, 0.0, 500.0, 5000.0], n),
            "c": rng.choice(["a", "b", "c"], n, p=[p_a, (1 - p_a) / 2, (1 - p_a) / 2]),
        }
    )


def reference(rng: np.random.Generator, **extra: object) -> monitor.Reference:
    frame = raw(5000, rng)
    frame["log_capital_gain"] = np.log1p(frame["capital_gain"])
    return monitor.Reference(frame, META, "test reference", **extra)  # type: ignore[arg-type]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


# --------------------------------------------------------------------------- windows


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", timedelta(days=7)),
        ("24h", timedelta(hours=24)),
        ("30m", timedelta(minutes=30)),
        ("2w", timedelta(weeks=2)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("1.5h", timedelta(minutes=90)),
        ("90s", timedelta(seconds=90)),
        ("all", None),
        (" ALL ", None),
    ],
)
def test_parse_since(text: str, expected: timedelta | None) -> None:
    assert monitor.parse_since(text) == expected


@pytest.mark.parametrize("text", ["7", "7x", "", "-1d", "0h", "soon", "0.5s", "7 days", "d7"])
def test_parse_since_refuses_with_the_allowed_forms(text: str) -> None:
    with pytest.raises(ValueError, match="24h"):
        monitor.parse_since(text)


def test_a_bad_window_in_params_names_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "params.yaml"
    bad.write_text("monitor:\n  since: 7 days ago\n")
    with pytest.raises(ConfigError, match=r"monitor\.since.*24h"):
        load_params(bad)
    bad.write_text("monitor:\n  alpah: 0.05\n")
    with pytest.raises(ConfigError, match=r"monitor\.alpah.*did you mean 'alpha'"):
        load_params(bad)


# --------------------------------------------------------------------------- alarm rule


def test_unshifted_data_raises_no_alarm(rng: np.random.Generator) -> None:
    report = monitor.analyse(reference(rng), monitor.Current(raw(1000, rng), "same"), CFG).to_json()
    assert report["status"] == "ok" and report["alarm"] is False
    assert report["alarms"] == []
    # 3 distribution tests + 3 missing-rate tests, Bonferroni-split
    assert report["rule"]["tests"] == 6
    assert report["rule"]["p_threshold"] == pytest.approx(CFG.alpha / 6, rel=1e-5)
    assert [f["name"] for f in report["features"]] == ["x", "log_capital_gain", "c"]


def test_a_numeric_shift_alarms_on_that_feature_only(rng: np.random.Generator) -> None:
    report = monitor.analyse(
        reference(rng), monitor.Current(raw(1000, rng, 0.5), "s"), CFG
    ).to_json()
    assert report["alarm"] is True
    flagged = {f["name"] for f in report["features"] if f["alarms"]}
    assert flagged == {"x"}
    assert report["alarms"][0].startswith("x: distribution (ks p = ")


def test_a_category_mix_change_alarms(rng: np.random.Generator) -> None:
    report = monitor.analyse(
        reference(rng), monitor.Current(raw(1000, rng, p_a=0.8), "s"), CFG
    ).to_json()
    assert {f["name"] for f in report["features"] if f["alarms"]} == {"c"}
    assert "chi2" in report["alarms"][0]


def test_a_significant_but_tiny_shift_does_not_alarm(rng: np.random.Generator) -> None:
    # 50,000 rows make a 0.05-sd shift highly significant; its PSI is far below the floor
    ref = reference(rng)
    report = monitor.analyse(ref, monitor.Current(raw(50_000, rng, 0.05), "big"), CFG).to_json()
    x = next(f for f in report["features"] if f["name"] == "x")
    assert x["p_value"] < report["rule"]["p_threshold"]
    assert x["psi"] < CFG.psi_threshold
    assert x["alarms"] == []
    # ... and the same shift alarms once the floor is lowered below its PSI
    strict = CFG.model_copy(update={"psi_threshold": x["psi"] / 2})
    assert monitor.analyse(ref, monitor.Current(raw(50_000, rng, 0.05), "big"), strict).alarm


def test_missing_values_and_unseen_categories_alarm(rng: np.random.Generator) -> None:
    cur = raw(1000, rng)
    cur.loc[:199, "x"] = np.nan
    cur.loc[200:229, "c"] = "never-seen"
    report = monitor.analyse(reference(rng), monitor.Current(cur, "s"), CFG).to_json()
    text = "\n".join(report["alarms"])
    assert "x: missing rate 0.0% → 20.0%" in text
    assert "c: 3.0% of rows have a category unseen in training (never-seen)" in text


def test_a_small_window_gives_no_verdict(rng: np.random.Generator) -> None:
    report = monitor.analyse(
        reference(rng), monitor.Current(raw(50, rng, 5.0), "tiny"), CFG
    ).to_json()
    assert report["status"] == "insufficient_data" and report["alarm"] is False
    assert any("min_rows" in n for n in report["notes"])


def test_missing_input_columns_are_named(rng: np.random.Generator) -> None:
    cur = raw(200, rng).drop(columns=["c"])
    with pytest.raises(monitor.MonitorError, match=r"lacks the model's input column\(s\) \['c'\]"):
        monitor.analyse(reference(rng), monitor.Current(cur, "file f.csv"), CFG)


# --------------------------------------------------------------------------- predictions


def scored(n: int, rng: np.random.Generator, flip: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Well-calibrated scores and labels drawn from them; `flip` of the labels inverted."""
    s = rng.beta(2, 5, n)
    y = (rng.random(n) < s).astype("float64")
    flipped = rng.random(n) < flip
    y[flipped] = 1 - y[flipped]
    return s, y


def test_prediction_drift_and_live_quality(rng: np.random.Generator) -> None:
    ref_s, ref_y = scored(5000, rng)
    ref = reference(
        rng,
        scores=ref_s,
        y_true=ref_y.astype("int64"),
        # the evaluation of a calibrated model: its ROC-AUC is what its scores imply
        metrics={"roc_auc": estimate.expected_roc_auc(ref_s), "accuracy": 0.74},
    )
    s, y = scored(1000, rng)
    y[400:] = np.nan  # feedback on 400 rows only
    cur = monitor.Current(raw(1000, rng), "log", scores=s, labels=(s >= 0.5).astype("int64"))
    cur.y_true = y
    report = monitor.analyse(ref, cur, CFG).to_json()
    assert report["prediction"]["name"] == "score" and report["prediction"]["alarms"] == []
    q = report["quality"]
    assert q["rows"] == 400
    assert 0.6 < q["live"]["roc_auc"] < 0.9
    assert q["live"]["calibration_error"] < 0.1
    assert q["evaluation"]["calibration_error"] < 0.05
    assert report["alarm"] is False, report["alarms"]
    e = report["estimate"]
    assert e["metric"] == "roc_auc" and e["rows"] == 1000 and e["feedback"]["rows"] == 400
    md = monitor.render_markdown(monitor.MonitoringReport.model_validate(report))
    assert "## Estimated performance (1000 rows" in md

    # scores pushed up (the model sees a different population) and labels half wrong
    bad_s, bad_y = scored(1000, rng, flip=0.5)
    cur = monitor.Current(raw(1000, rng), "log", scores=np.sqrt(bad_s), labels=None)
    cur.y_true = bad_y
    report = monitor.analyse(ref, cur, CFG).to_json()
    text = "\n".join(report["alarms"])
    assert "prediction score: distribution" in text
    assert "live quality: roc_auc" in text
    assert "live quality: calibration error" in text
    assert re.search(r"estimated performance: concept drift: .*\(roc_auc 0\.\d+ below", text), text


def test_live_quality_needs_enough_feedback(rng: np.random.Generator) -> None:
    s, y = scored(1000, rng, flip=0.5)
    y[150:] = np.nan
    cur = monitor.Current(raw(1000, rng), "log", scores=s)
    cur.y_true = y
    # the evaluation's ROC-AUC is what the scores imply: no estimated drop either
    metrics = {"roc_auc": estimate.expected_roc_auc(s)}
    report = monitor.analyse(reference(rng, metrics=metrics), cur, CFG).to_json()
    assert report["estimate"]["feedback"] is None  # 150 < min_feedback_rows: not compared
    assert report["quality"]["rows"] == 150 and report["quality"]["live"] == {}
    assert any("min_feedback_rows = 200" in n for n in report["notes"])
    assert report["alarm"] is False


# --------------------------------------------------------------------------- report


def test_markdown_report_has_the_table_and_a_readable_chart(rng: np.random.Generator) -> None:
    ref_s, ref_y = scored(2000, rng)
    ref = reference(rng, scores=ref_s, y_true=ref_y.astype("int64"))
    s, _ = scored(1000, rng)
    report = monitor.analyse(
        ref, monitor.Current(raw(1000, rng, 0.5), "log", scores=s), CFG
    ).to_json()
    json.dumps(report, allow_nan=False)  # the JSON report is strict JSON
    md = monitor.render_markdown(monitor.MonitoringReport.model_validate(report))
    assert md.startswith("# Model monitoring\n\n**🔴 ALARM**")
    assert "| x | numeric | ks |" in md and "| **drift** |" in md
    blocks = re.findall(r"```mermaid\n(.*?)```", md, re.S)
    assert len(blocks) == 2  # PSI per feature; score distribution
    for block in blocks:
        lines = block.splitlines()
        assert lines[0].startswith("%%{init:") and "#1f77b4, #d62728" in lines[0]
        assert lines[1].startswith("xychart-beta")
        title = next(line for line in lines if line.strip().startswith("title"))
        assert "blue" in title and "red" in title  # GitHub may draw no legend
    psi_bars = re.search(r"bar \[(.*)\]", blocks[0])
    assert psi_bars is not None
    assert len(psi_bars[1].split(",")) == len(report["features"])


def test_the_report_names_columns_as_the_users_file_does(rng: np.random.Generator) -> None:
    """Where ingest renamed a column (model.json's original_names), the alarms, monitoring.md
    and the missing-column error use the user's name; the JSON keys stay canonical."""
    meta = META.model_copy(update={"original_names": {"x": "X value", "c": "colour code"}})
    frame = raw(5000, rng)
    frame["log_capital_gain"] = np.log1p(frame["capital_gain"])
    ref = monitor.Reference(frame, meta, "test reference")
    cur = raw(1000, rng, 0.5)
    cur.loc[:299, "c"] = "never-seen"
    report = monitor.analyse(ref, monitor.Current(cur, "s"), CFG)
    assert report.input_names == {"x": "X value", "c": "colour code"}
    assert report.alarms[0].startswith("X value: distribution (ks p = ")
    assert any(a.startswith("colour code: 30.0% of rows") for a in report.alarms)
    assert {f.name for f in report.features if f.alarms} == {"x", "c"}  # keys: canonical
    md = monitor.render_markdown(report)
    assert "| X value | numeric | ks |" in md and "| x |" not in md
    assert '"X value"' in md  # the PSI chart's axis
    assert monitor.MonitoringReport.model_validate(report.to_json()) == report
    # a table without renamed columns writes no input_names key (its JSON is unchanged)
    plain = monitor.analyse(reference(rng), monitor.Current(raw(1000, rng), "s"), CFG)
    assert "input_names" not in plain.to_json()
    with pytest.raises(monitor.MonitorError, match=r"column\(s\) \['colour code'\]"):
        monitor.analyse(ref, monitor.Current(raw(200, rng).drop(columns=["c"]), "f.csv"), CFG)
