"""Monitoring a multiclass or a regression model: CBPE on class probabilities, DLE, the report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from gitml import monitor
from gitml.config import MonitorConfig
from gitml.core.model_meta import ModelMeta
from gitml.monitor import cbpe_multi, dle
from gitml.monitor.common import MonitorError

pytestmark = pytest.mark.xdist_group("monitor")

CFG = MonitorConfig()
FEATURES = {"numeric": ["x"], "categorical": ["c"]}
CLASSES = ["high", "low", "mid one"]


def test_multiclass_estimate_by_hand() -> None:
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.4, 0.1, 0.5], [0.5, 0.3, 0.2]])
    est = cbpe_multi.estimate(p)
    assert est["accuracy"] == pytest.approx((0.7 + 0.6 + 0.5 + 0.5) / 4)


def test_multiclass_f1_estimate_is_the_expected_f1_not_the_f1_of_expected_counts() -> None:
    """Six rows, so the exact expectation is a sum over all 3**6 labelings. The F1 of the
    expected counts (the ratio CBPE's formula gives) overstates it by 0.03 here."""
    import itertools

    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.4, 0.1, 0.5], [0.5, 0.3, 0.2],
                  [0.2, 0.2, 0.6], [0.3, 0.4, 0.3]])  # fmt: skip
    exact = sum(
        np.prod(p[np.arange(6), ys]) * cbpe_multi.realized(np.array(ys), p)["f1_macro"]  # type: ignore[operator]
        for ys in itertools.product(range(3), repeat=6)
    )
    # predicted 0: rows 0, 3 (tp 1.2); 1: rows 1, 5 (tp 1.0); 2: rows 2, 4 (tp 1.1)
    tp, fp = np.array([1.2, 1.0, 1.1]), np.array([0.8, 1.0, 0.9])
    ratio = np.mean(2 * tp / (2 * tp + fp + (p.sum(axis=0) - tp)))
    got = cbpe_multi.estimate(p)["f1_macro"]
    assert got is not None and abs(ratio - exact) > 0.025
    assert abs(got - exact) < 0.6 * abs(ratio - exact), (got, exact, ratio)


def test_multiclass_estimate_is_the_mean_of_realized_metrics_on_calibrated_labels() -> None:
    rng = np.random.default_rng(3)
    p = rng.dirichlet([0.6, 0.6, 0.6, 0.6], 2000)
    draws = [
        cbpe_multi.realized((rng.random(len(p))[:, None] >= p.cumsum(1)).sum(1), p)
        for _ in range(300)
    ]
    est = cbpe_multi.estimate(p)
    for k in ("accuracy", "f1_macro"):
        realized = np.array([d[k] for d in draws])
        assert est[k] == pytest.approx(realized.mean(), abs=0.003)
        assert cbpe_multi.sampling_sd(p)[k] == pytest.approx(realized.std(), rel=0.2)


def test_multiclass_realized_is_scikit_learns() -> None:
    rng = np.random.default_rng(4)
    p = rng.dirichlet([1, 1, 1, 1], 300)
    y = rng.integers(0, 3, 300)  # class 3 never true: its F1 is 0, as core.metrics counts it
    got = cbpe_multi.realized(y, p)
    pred = p.argmax(1)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    want = skm.f1_score(y, pred, labels=range(4), average="macro", zero_division=0)
    assert got["f1_macro"] == pytest.approx(want)


def _regression_rows(n: int, rng: np.random.Generator, shift: float = 0.0) -> pd.DataFrame:
    """y = x + noise whose size grows with |x| and is larger in category b."""
    x = rng.normal(shift, 1.0, n)
    c = rng.choice(["a", "b"], n)
    noise = rng.normal(0, 1, n) * (0.3 + np.abs(x)) * np.where(c == "b", 2.0, 1.0)
    return pd.DataFrame({"x": x, "c": c, "y": x + noise, "prediction": x})


def _regression_reference(rng: np.random.Generator) -> monitor.Reference:
    """A regression model's reference: 4,000 test rows with their predictions and truth."""
    test = _regression_rows(4000, rng)
    return monitor.Reference(
        test[["x", "c"]],
        _meta("regression"),
        "test",
        scores=test["prediction"].to_numpy(),
        y_true=test["y"].to_numpy(),
        metrics={"mae": 1.0, "rmse": 1.5},
        test_frame=test,
    )


def _multiclass_reference(
    rng: np.random.Generator, metrics: dict[str, float], with_truth: bool = False
) -> monitor.Reference:
    """A multiclass model's reference: 3,000 test rows with their probabilities (and truth)."""
    test = _multiclass_rows(3000, rng)
    probs = test[[f"probability_{c}" for c in CLASSES]].to_numpy()
    codes = test["y"].map({c: i for i, c in enumerate(CLASSES)}).to_numpy()
    return monitor.Reference(
        test[["x", "c"]],
        _meta("multiclass"),
        "test",
        scores=probs.max(1),
        probs=probs,
        y_true=codes if with_truth else None,
        metrics=metrics,
    )


def test_dle_estimates_the_error_of_a_shifted_window_and_is_deterministic() -> None:
    rng = np.random.default_rng(5)
    test = _regression_rows(4000, rng)
    cols = {"x": "numeric", "c": "categorical"}
    models = dle.fit(test, test["prediction"].to_numpy(), test["y"].to_numpy(), cols)  # type: ignore[arg-type]
    window = _regression_rows(2000, rng, shift=1.0)
    est = dle.estimate(models, window, window["prediction"].to_numpy())
    err = window["prediction"] - window["y"]
    assert est["mae"] == pytest.approx(np.abs(err).mean(), rel=0.1)
    assert est["rmse"] == pytest.approx(np.sqrt((err**2).mean()), rel=0.1)
    assert models.reference["mae"] < est["mae"]  # type: ignore[operator]  # the shift costs
    again = dle.fit(test, test["prediction"].to_numpy(), test["y"].to_numpy(), cols)  # type: ignore[arg-type]
    assert dle.estimate(again, window, window["prediction"].to_numpy()) == est


def _meta(task: str) -> ModelMeta:
    return ModelMeta(
        model_sha256="0" * 64,
        features=FEATURES,
        target="y",
        task=task,
        classes=CLASSES if task == "multiclass" else [],
        calibration={"method": "isotonic"},
    )


def test_regression_monitor_estimates_mae_and_judges_feedback(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    ref = _regression_reference(rng)
    window = _regression_rows(1000, rng, shift=1.5)
    path = tmp_path / "scored.csv"
    window.to_csv(path, index=False)
    report = monitor.analyse(ref, monitor.load_file(path, ref.meta), CFG)
    e = report.estimate
    assert e is not None and e.metric == "mae" and e.threshold is None
    realized = float(np.abs(window["prediction"] - window["y"]).mean())
    assert e.estimated["mae"] == pytest.approx(realized, rel=0.1)
    assert any(a.startswith("estimated performance: estimated mae") for a in report.alarms)
    assert report.quality is not None and set(report.quality.live) == {"mae", "rmse"}
    assert any(a.startswith("live quality: mae") for a in report.alarms)
    assert "| mae |" in monitor.render_markdown(report)


def _multiclass_rows(n: int, rng: np.random.Generator, shift: float = 0.0) -> pd.DataFrame:
    x = rng.normal(shift, 1.0, n)
    logits = np.stack([x, -x, 0.5 * np.ones(n)], axis=1)
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = (rng.random(n)[:, None] >= p.cumsum(1)).sum(1)
    frame = pd.DataFrame({"x": x, "c": rng.choice(["a", "b"], n)})
    frame["y"] = np.array(CLASSES)[y]
    frame["label"] = np.array(CLASSES)[p.argmax(1)]
    for i, name in enumerate(CLASSES):
        frame[f"probability_{name}"] = p[:, i]
    return frame


def test_multiclass_monitor_reads_predict_output_and_names_its_metrics(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    ref = _multiclass_reference(rng, {"accuracy": 0.95, "f1_macro": 0.95})
    window = _multiclass_rows(2000, rng, shift=0.0)
    path = tmp_path / "scored.parquet"
    window.to_parquet(path)
    cur = monitor.load_file(path, ref.meta)
    report = monitor.analyse(ref, cur, CFG)
    e = report.estimate
    assert e is not None and e.metric == "accuracy" and set(e.estimated) == {"accuracy", "f1_macro"}
    codes = pd.Series(window["y"]).map({c: i for i, c in enumerate(CLASSES)}).to_numpy()
    real = cbpe_multi.realized(codes, cur.probs)  # type: ignore[arg-type]
    assert abs(e.estimated["accuracy"] - real["accuracy"]) <= e.band["accuracy"]  # type: ignore[operator]
    assert e.feedback is not None and not any("concept drift" in a for a in e.alarms)
    assert report.quality is not None and report.quality.live["accuracy"] == pytest.approx(
        real["accuracy"], abs=1e-5
    )
    assert any(a.startswith("live quality: accuracy") for a in report.alarms)  # 0.95 at eval


def test_a_multiclass_file_without_probabilities_is_named(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    pd.DataFrame({"x": [1.0], "c": ["a"]}).to_csv(path, index=False)
    with pytest.raises(MonitorError, match="probability_high"):
        monitor.load_file(path, _meta("multiclass"))
    assert monitor.load_file(path, _meta("multiclass"), inputs_only=True).probs is None


def _log(tmp_path: Path, probabilities: list[str | None], values: list[float | None]) -> str:
    """A prediction log with the tasks' columns (logdb's tables: `probabilities` JSON text as
    the server writes it, feedback `value`); the monitor reads them by name."""
    from datetime import UTC, datetime

    import sqlalchemy as sa

    from gitml.logstore.logdb import feedback, metadata, predictions

    tmp_path.mkdir(exist_ok=True)
    url = f"sqlite:///{tmp_path / 'log.db'}"
    engine = sa.create_engine(url)
    metadata.create_all(engine)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for i, (probs, value) in enumerate(zip(probabilities, values, strict=True)):
            conn.execute(
                predictions.insert().values(
                    id=str(i),
                    created_at=now,
                    model_version="v1",
                    features={"x": i, "c": "a"},
                    score=0.5,
                    label=1,
                    threshold=0.0,
                    unseen=[],
                )
            )
            conn.execute(
                sa.text("UPDATE predictions SET probabilities = :p WHERE id = :i"),
                {"p": probs, "i": str(i)},
            )
            if value is not None:
                conn.execute(
                    feedback.insert().values(prediction_id=str(i), label=int(value), created_at=now)
                )
                conn.execute(
                    sa.text("UPDATE feedback SET value = :v WHERE prediction_id = :i"),
                    {"v": value, "i": str(i)},
                )
    engine.dispose()
    return url


def test_the_log_gives_class_probabilities_and_feedback_codes(tmp_path: Path) -> None:
    rows = [
        '{"high": 0.2, "low": 0.7, "mid one": 0.1}',
        '{"high": 0.5, "low": 0.1, "mid one": 0.4}',
    ]
    url = _log(tmp_path, rows, [2.0, None])
    cur = monitor.load_log(url, None, meta=_meta("multiclass"))
    assert cur.probs is not None and cur.probs.tolist() == [[0.2, 0.7, 0.1], [0.5, 0.1, 0.4]]
    assert cur.scores.tolist() == [0.7, 0.5] and cur.labels.tolist() == [1, 0]  # type: ignore[union-attr]
    assert cur.y_true.tolist()[0] == 2.0 and np.isnan(cur.y_true[1])  # type: ignore[union-attr]
    with pytest.raises(MonitorError, match=r"1 multiclass prediction\(s\) lack"):
        monitor.load_log(
            _log(tmp_path / "b", [rows[0], None], [None, None]), None, meta=_meta("multiclass")
        )


def test_the_log_gives_regression_truth_from_feedback_values(tmp_path: Path) -> None:
    cur = monitor.load_log(
        _log(tmp_path, [None, None], [12.5, None]), None, meta=_meta("regression")
    )
    assert cur.scores.tolist() == [0.5, 0.5]  # type: ignore[union-attr]  # the predictions
    assert cur.y_true[0] == 12.5 and np.isnan(cur.y_true[1])  # type: ignore[index]


def test_under_confident_probabilities_are_recalibrated_on_the_test_split() -> None:
    """Probabilities shrunk towards uniform (as averaging folds does) under-estimate accuracy;
    the per-class maps fitted on the test split put the estimate back on the realized value."""
    rng = np.random.default_rng(9)

    def rows(n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(shift, 1.0, n)
        true = np.exp(np.stack([2 * x, -2 * x, np.zeros(n)], 1))
        true /= true.sum(1, keepdims=True)
        y = (rng.random(n)[:, None] >= true.cumsum(1)).sum(1)
        return 0.5 * true + 0.5 / 3, y  # served: under-confident, same argmax

    test_p, test_y = rows(20_000, 0.0)
    window_p, window_y = rows(5_000, 1.0)
    maps = cbpe_multi.fit_calibrators(test_p, test_y)
    real = cbpe_multi.realized(window_y, window_p)["accuracy"]
    raw = cbpe_multi.estimate(window_p)["accuracy"]
    fixed = cbpe_multi.estimate(window_p, cbpe_multi.calibrate(maps, window_p))["accuracy"]
    assert real - raw > 0.1  # type: ignore[operator]
    assert fixed == pytest.approx(real, abs=0.02)


def _workspace(tmp_path: Path, meta: ModelMeta, preds: pd.DataFrame, test: pd.DataFrame) -> Path:
    """A project's files as evaluate leaves them (no registry: the workspace reference)."""
    import json

    from gitml import layout

    for path in (layout.MODEL_META, layout.FEATURES_DIR / "x", layout.PREDICTIONS, layout.METRICS):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / layout.MODEL_META).write_text(json.dumps(meta.to_json()), encoding="utf-8")
    test.to_parquet(tmp_path / layout.FEATURES_DIR / "train.parquet")
    test.to_parquet(tmp_path / layout.FEATURES_DIR / "test.parquet")
    preds.to_parquet(tmp_path / layout.PREDICTIONS)
    (tmp_path / layout.METRICS).write_text('{"mae": 1.0}', encoding="utf-8")
    return tmp_path


def test_the_workspace_reference_reads_each_tasks_test_predictions(tmp_path: Path) -> None:
    rng = np.random.default_rng(10)
    test = _regression_rows(50, rng)
    preds = pd.DataFrame({"y_true": test["y"], "prediction": test["prediction"]})
    ref = monitor.load_reference(_workspace(tmp_path / "r", _meta("regression"), preds, test))
    assert ref.scores.tolist() == test["prediction"].tolist()  # type: ignore[union-attr]
    assert ref.y_true.tolist() == test["y"].tolist() and ref.test_frame is not None  # type: ignore[union-attr]
    p = rng.dirichlet([1, 1, 1], 50)
    preds = pd.DataFrame({"y_true": rng.integers(0, 3, 50), "label": p.argmax(1)})
    for i, name in enumerate(CLASSES):
        preds[f"proba_{name}"] = p[:, i]
    ref = monitor.load_reference(_workspace(tmp_path / "m", _meta("multiclass"), preds, test))
    assert ref.probs is not None and np.array_equal(ref.probs, p) and ref.test_frame is not None
    assert ref.scores.tolist() == p.max(1).tolist()  # type: ignore[union-attr]
    assert ref.y_true.dtype == np.int64  # type: ignore[union-attr]


def _concept_alarms(report: monitor.MonitoringReport) -> list[str]:
    return [a for a in report.alarms if "concept drift" in a]


def test_regression_concept_drift_alarms_only_on_errors_above_the_estimate(
    tmp_path: Path,
) -> None:
    """Truth closer to the predictions than DLE expects is the model doing better: no alarm;
    truth farther away is."""
    rng = np.random.default_rng(11)
    ref = _regression_reference(rng)
    window = _regression_rows(1000, rng)
    noise = window["y"] - window["prediction"]

    def judged(scale: float, name: str) -> monitor.MonitoringReport:
        rows = window.assign(y=window["prediction"] + scale * noise)
        rows.to_csv(tmp_path / name, index=False)
        return monitor.analyse(ref, monitor.load_file(tmp_path / name, ref.meta), CFG)

    better = judged(0.1, "better.csv")
    fb = better.estimate.feedback  # type: ignore[union-attr]
    assert fb is not None and fb.realized["mae"] < fb.estimated["mae"] - fb.band["mae"]  # type: ignore[operator]
    assert _concept_alarms(better) == []
    assert not any(a.startswith("live quality") for a in better.alarms)
    worse = judged(3.0, "worse.csv")
    assert len(_concept_alarms(worse)) == 1 and "mae " in _concept_alarms(worse)[0]
    assert " above " in _concept_alarms(worse)[0]


def test_multiclass_concept_drift_alarms_only_on_metrics_below_the_estimate(
    tmp_path: Path,
) -> None:
    """Labels that always agree with the most probable class: accuracy above what the
    probabilities predict, no alarm; labels that never do: the alarm."""
    rng = np.random.default_rng(12)
    ref = _multiclass_reference(rng, {"accuracy": 0.5, "f1_macro": 0.4}, with_truth=True)
    window = _multiclass_rows(2000, rng)

    def judged(truth: pd.Series, name: str) -> monitor.MonitoringReport:
        window.assign(y=truth).to_parquet(tmp_path / name)
        return monitor.analyse(ref, monitor.load_file(tmp_path / name, ref.meta), CFG)

    better = judged(window["label"], "better.parquet")  # the argmax: every label right
    fb = better.estimate.feedback  # type: ignore[union-attr]
    assert fb is not None and fb.realized["accuracy"] == 1.0
    assert fb.realized["accuracy"] > fb.estimated["accuracy"] + fb.band["accuracy"]  # type: ignore[operator]
    assert _concept_alarms(better) == []
    wrong = window["label"].map({"high": "low", "low": "mid one", "mid one": "high"})
    worse = judged(wrong, "worse.parquet")
    assert len(_concept_alarms(worse)) == 1 and "accuracy 0 below" in _concept_alarms(worse)[0]


def test_macro_f1_leaves_out_a_class_the_window_neither_holds_nor_decides() -> None:
    """A covariate shift can leave a class out of a window: no row of it, none decided. Its F1
    is undefined, not 0 (as scikit-learn's macro average without `labels`): counted as 0, a
    window with every row right scored 2/3 and alarmed on live quality."""
    p = np.array([[0.98, 0.01, 0.01]] * 50 + [[0.01, 0.98, 0.01]] * 50)
    right = np.array([0] * 50 + [1] * 50)
    assert cbpe_multi.realized(right, p) == {"accuracy": 1.0, "f1_macro": 1.0}
    rng = np.random.default_rng(13)
    y = np.where(rng.random(100) < 0.2, 1 - right, right)  # some rows wrong, class 2 still absent
    want = skm.f1_score(y, p.argmax(1), average="macro")
    assert cbpe_multi.realized(y, p)["f1_macro"] == pytest.approx(want)
    decided = np.array([[0.2, 0.1, 0.7]] + [[0.98, 0.01, 0.01]] * 99)  # class 2 decided, never true
    y = np.zeros(100, dtype="int64")
    want = skm.f1_score(y, decided.argmax(1), average="macro", zero_division=0)
    assert want == pytest.approx((2 * 99 / 199 + 0.0) / 2)  # class 2's F1 of 0 counts, 1's none
    assert cbpe_multi.realized(y, decided)["f1_macro"] == pytest.approx(want)


@pytest.mark.parametrize("rows", [1_000, 30_000])  # the band's draws; the expected counts above
def test_estimated_macro_f1_leaves_out_a_class_the_window_cannot_hold(rows: int) -> None:
    """Class 2 has no chance in these rows and is never decided: the estimate is the F1 of the
    other two, as the realized one is; a class with a real chance that the model never decides
    still counts, with its F1 of 0."""
    rng = np.random.default_rng(14)
    top = rng.uniform(0.9, 1.0, rows)
    first = rng.random(rows) < 0.5
    p = np.zeros((rows, 3))
    p[:, 0] = np.where(first, top, 1 - top)
    p[:, 1] = 1 - p[:, 0]
    p[:, 2] = 1e-12
    est = cbpe_multi.estimate(p)["f1_macro"]
    tp = np.array([p[first, 0].sum(), p[~first, 1].sum()])
    predicted = np.array([first.sum(), (~first).sum()], dtype="float64")
    two = np.mean(2 * tp / (predicted + p[:, :2].sum(0)))  # the F1 of the expected counts
    assert est == pytest.approx(two, abs=0.01)
    p[:, 2] = 0.05  # now class 2 occurs (about 5% of the rows) but is never decided
    p[:, :2] *= 0.95
    assert cbpe_multi.estimate(p)["f1_macro"] < 0.7 * two  # type: ignore[operator]


def test_a_perfect_window_without_one_class_raises_no_live_quality_alarm(tmp_path: Path) -> None:
    """The e2e finding on the wine table: the rows of one region of the inputs hold two of the
    three classes, every row is right, and the monitor alarmed `live quality: f1_macro 0.6667`."""
    rng = np.random.default_rng(15)
    ref = _multiclass_reference(rng, {"accuracy": 0.97, "f1_macro": 0.97})
    rows = _multiclass_rows(6000, rng)
    window = rows[rows["x"].abs() > 1.0]  # decided high or low, never "mid one"
    window = window.assign(y=window["label"])  # and every row right
    assert set(window["y"]) == {"high", "low"} and len(window) > CFG.min_feedback_rows
    window.to_parquet(tmp_path / "scored.parquet")
    report = monitor.analyse(ref, monitor.load_file(tmp_path / "scored.parquet", ref.meta), CFG)
    assert report.quality is not None and report.quality.live["f1_macro"] == 1.0
    assert not any(a.startswith("live quality") for a in report.alarms), report.alarms
