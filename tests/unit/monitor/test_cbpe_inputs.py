"""Multiclass CBPE's calibration conditional on the inputs (gitml.monitor.cbpe_inputs).

The model here is calibrated on average but not by region: over-confident where x > 0 and shy
where x < 0. A window from x > 0 (a covariate shift) is then judged against its exact expected
accuracy, computed from the true class probabilities, so no sampling noise enters."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gitml.monitor import cbpe_inputs, cbpe_multi

COLUMNS = {"x": "numeric", "w": "numeric", "segment": "categorical"}


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _rows(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """(inputs, served probabilities, true probabilities)."""
    x, w = rng.uniform(-1, 1, n), rng.normal(0, 1, n)
    frame = pd.DataFrame({"x": x, "w": w, "segment": rng.choice(["a", "b"], n)})
    z = np.column_stack([2 * w, -w + x, 0.5 * x - w]) + rng.normal(0, 0.5, (n, 3))
    served = _softmax(z)
    temper = np.where(x > 0, 0.5, 1.6)[:, None]  # the truth is flatter where x > 0
    return frame, served, _softmax(z * temper)


def _draw(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return (rng.random(len(p))[:, None] >= np.cumsum(p, axis=1)).sum(axis=1)


def test_the_conditional_calibration_follows_a_region_the_average_maps_miss() -> None:
    rng = np.random.default_rng(7)
    frame, served, true = _rows(10_000, rng)
    cal = cbpe_inputs.fit(frame, served, _draw(true, rng), COLUMNS)  # type: ignore[arg-type]
    assert cal.method == cbpe_inputs.CONDITIONAL and cal.inputs is not None
    assert cal.log_loss[cbpe_inputs.CONDITIONAL] < cal.log_loss[cbpe_inputs.MAPS]
    assert cal.reference is not None and cal.reference.shape == served.shape
    assert "conditional on the inputs" in cal.note()

    wf, ws, wt = _rows(20_000, np.random.default_rng(8))
    shifted = (wf["x"] > 0).to_numpy()
    wf, ws, wt = wf[shifted].reset_index(drop=True), ws[shifted], wt[shifted]
    exact = float(wt[np.arange(len(ws)), ws.argmax(axis=1)].mean())
    conditional = cbpe_multi.estimate(ws, cbpe_inputs.apply(cal, wf, ws))["accuracy"]
    maps_only = cbpe_inputs.Calibration(cbpe_multi.fit_calibrators(served, _draw(true, rng)))
    average = cbpe_multi.estimate(ws, cbpe_inputs.apply(maps_only, wf, ws))["accuracy"]
    assert conditional is not None and average is not None
    assert abs(conditional - exact) < 0.01, (conditional, exact)
    assert abs(average - exact) > 0.05, (average, exact)  # what the maps alone would say


def test_a_small_or_inputless_test_split_keeps_the_per_class_maps() -> None:
    rng = np.random.default_rng(9)
    frame, served, true = _rows(cbpe_inputs.MIN_ROWS - 1, rng)
    y = _draw(true, rng)
    for f in (frame, None):
        cal = cbpe_inputs.fit(f, served, y, COLUMNS)  # type: ignore[arg-type]
        assert cal.method == cbpe_inputs.MAPS and cal.inputs is None and cal.model is None
        assert ("1,000 rows" in cal.note()) == (f is not None), cal.note()
        expected = cbpe_multi.calibrate(cbpe_multi.fit_calibrators(served, y), served)
        assert np.array_equal(cbpe_inputs.apply(cal, None, served), expected)


def test_the_conditional_calibration_is_deterministic_and_reads_unseen_categories() -> None:
    rng = np.random.default_rng(11)
    frame, served, true = _rows(3_000, rng)
    y = _draw(true, rng)
    a = cbpe_inputs.fit(frame, served, y, COLUMNS)  # type: ignore[arg-type]
    b = cbpe_inputs.fit(frame, served, y, COLUMNS)  # type: ignore[arg-type]
    wf, ws, _ = _rows(200, np.random.default_rng(12))
    wf.loc[:9, "segment"] = "never-seen"
    wf.loc[10:19, "w"] = np.nan
    qa, qb = cbpe_inputs.apply(a, wf, ws), cbpe_inputs.apply(b, wf, ws)
    assert np.array_equal(qa, qb)
    assert np.allclose(qa.sum(axis=1), 1.0) and np.isfinite(qa).all()


def test_many_classes_times_inputs_leave_out_the_products_and_say_so(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(13)
    frame, served, true = _rows(5_000, rng)
    y = _draw(true, rng)
    full = cbpe_inputs.fit(frame, served, y, COLUMNS)  # type: ignore[arg-type]
    assert full.model is not None and full.model.products and "products" not in full.note()
    monkeypatch.setattr(cbpe_inputs, "MAX_PRODUCTS", 10)
    lean = cbpe_inputs.fit(frame, served, y, COLUMNS)  # type: ignore[arg-type]
    assert "without the products of inputs and log-probabilities" in lean.note(), lean.note()
    assert "above 10)" in lean.note(), lean.note()
    # the confidence here changes with x: only the products can say so, so the lean design
    # (judged, then left for the maps) loses log loss against the full one
    assert lean.log_loss[cbpe_inputs.CONDITIONAL] > full.log_loss[cbpe_inputs.CONDITIONAL]
    wf, ws, _ = _rows(100, np.random.default_rng(14))
    q = cbpe_inputs.apply(lean, wf, ws)
    assert q.shape == ws.shape and np.allclose(q.sum(axis=1), 1.0)


def test_inputs_that_never_vary_keep_the_per_class_maps() -> None:
    rng = np.random.default_rng(15)
    frame, served, true = _rows(2_000, rng)
    constant = frame.assign(x=1.0, w=np.nan, segment="a")
    cal = cbpe_inputs.fit(constant, served, _draw(true, rng), COLUMNS)  # type: ignore[arg-type]
    assert cal.method == cbpe_inputs.MAPS and cal.model is None
    assert "no input of the test split varies" in cal.note()
