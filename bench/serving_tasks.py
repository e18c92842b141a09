"""One row in process for regression and multiclass models (issue 23), next to the Pipeline path.

Self-contained (no clone's pipeline run): the whole UCI Adult table as ingest writes it, with
`hours_per_week` as a regression target and `marital_status` (7 classes) as a multiclass one;
the other columns (numbers and categories, with Adult's missing values) are the inputs. Each
task's HistGradientBoosting (scikit-learn's defaults, as an untuned `hist_gradient_boosting`
is built by gitml.core.models) and its linear family (Ridge; multinomial LogisticRegression)
are fitted on the same rows, compiled by gitml.serve.fast and timed one validated request row
at a time against the path before the fast path (`to_frame` + `Pipeline.predict` /
`predict_proba`) in the same run, on the same rows.

- `fast_one_row_regression`, `fast_one_row_multiclass`: figure = p50 ms through the compiled
  HistGradientBoosting; baseline = the Pipeline path's p50. Goal: p50 <= 1 ms. The linear
  family's figures are in the details, and for multiclass those of the same trees calibrated
  as `train.calibration: isotonic` leaves them (CalibratedClassifierCV, a map per class:
  `calibrated_*`). Smoke mode fits on 5,000 of the rows.
"""

from __future__ import annotations

import os
import statistics
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression, Ridge

from bench.serving import _pct
from bench.serving_fast import ONE_ROW_GOAL_MS, _time_ms
from bench.workspace import Workspace, result

TARGETS = {"regression": "hours_per_week", "multiclass": "marital_status"}


def _adult() -> pd.DataFrame:
    from gitml.config import DataConfig
    from gitml.pipeline.ingest import normalise, read_source

    cfg = DataConfig()
    return normalise(read_source(cfg), cfg).drop(columns=[cfg.target])


def _models(task: str, df: pd.DataFrame) -> tuple[Any, dict[str, Any], list[dict[str, Any]]]:
    """(specs, family -> fitted Pipeline, request rows) for the task."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    from gitml.core import models
    from gitml.core.tasks import Task, class_names, encode_target
    from gitml.serve.requests import ColumnSpec, to_frame

    target = TARGETS[task]
    inputs = df.drop(columns=[target])
    numeric = [c for c in inputs.columns if pd.api.types.is_numeric_dtype(inputs[c])]
    specs = tuple(ColumnSpec(c, c in numeric, True) for c in inputs.columns)
    frame = inputs.astype(object)
    rows: list[dict[str, Any]] = frame.where(frame.notna(), None).to_dict("records")
    X = to_frame(rows, specs)
    cols = models.Columns(numeric, [c for c in inputs.columns if c not in numeric])
    X = X[cols.all]
    kind = Task(task)
    y = encode_target(df[target], kind, classes=class_names(df[target]) or None)
    hgb = models.build("hist_gradient_boosting", {}, cols, 0)
    linear = models.build("logistic_regression", {}, cols, 0)
    if kind is Task.REGRESSION:  # the task's estimators on core.models' preprocessing
        clf = hgb.steps[1][1]
        reg = HistGradientBoostingRegressor(categorical_features=clf.categorical_features,
                                            random_state=0)  # fmt: skip
        hgb.steps[1] = ("model", reg)
        linear.steps[1] = ("model", Ridge())
    else:
        linear.steps[1] = ("model", LogisticRegression(max_iter=2000, random_state=0))
    fitted = {"hist_gradient_boosting": hgb.fit(X, y), "linear": linear.fit(X, y)}
    if kind is Task.MULTICLASS:  # as `train.calibration: isotonic` leaves it: a map per class
        from sklearn.model_selection import StratifiedKFold

        from gitml.pipeline.train import calibrate

        cv = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
        fresh = models.build("hist_gradient_boosting", {}, cols, 0, task=kind)
        fitted["calibrated"] = calibrate(fresh, "isotonic", X, y, cv)
    return specs, fitted, rows


def _time(model: Any, specs: Any, task: str, sample: list[dict[str, Any]]) -> dict[str, Any]:
    from gitml.serve.fast import prepare
    from gitml.serve.requests import request_model, to_frame

    fast, message = prepare(model, specs, [], sample[0])
    if fast is None:
        raise RuntimeError(message)
    order = [str(c) for c in model.feature_names_in_]
    predict = model.predict if task == "regression" else model.predict_proba
    Row = request_model(specs)

    def pipeline(row: dict[str, Any]) -> None:
        predict(to_frame([row], specs)[order])

    def validated(row: dict[str, Any]) -> None:
        fast.proba_rows([Row.model_validate(row).model_dump()])

    pipeline(sample[0])
    validated(sample[0])
    base = _time_ms(pipeline, sample[: len(sample) // 5])  # 5x fewer: it is the slow one
    got = _time_ms(validated, sample)
    return {"message": message, "got": got, "base": base}


def _row(task: str, ws: Workspace) -> dict[str, Any]:
    df = _adult()
    df = df.sample(n=ws.size(len(df), len(df), 5_000), random_state=0).reset_index(drop=True)
    specs, fitted, rows = _models(task, df)
    rng = np.random.default_rng(0)
    n = ws.size(5_000, 1_000, 200)
    sample = [rows[i] for i in rng.integers(0, len(rows), size=n)]
    load_before = round(os.getloadavg()[0], 2)
    timed = {family: _time(m, specs, task, sample) for family, m in fitted.items()}
    hgb, lin = timed["hist_gradient_boosting"], timed["linear"]
    extra: dict[str, Any] = {}
    if "calibrated" in timed:  # multiclass: the same trees behind one isotonic map per class
        c50, cb50 = (statistics.median(timed["calibrated"][k]) for k in ("got", "base"))
        extra = {"calibrated_p50_ms": round(c50, 4), "calibrated_baseline_p50_ms": round(cb50, 4),
                 "calibrated_speedup": round(cb50 / c50, 1)}  # fmt: skip
    p50, b50 = statistics.median(hgb["got"]), statistics.median(hgb["base"])
    l50, lb50 = statistics.median(lin["got"]), statistics.median(lin["base"])
    est = fitted["hist_gradient_boosting"].steps[1][1]
    return result(
        figure=p50,
        figure_label=f"p50 ms, one validated row -> {task} output, compiled "
        "HistGradientBoosting (serve/fast.py)",
        baseline=b50,
        baseline_label="p50 ms, the same row through to_frame + Pipeline."
        + ("predict" if task == "regression" else "predict_proba"),
        unit="ms",
        goal=f"p50 <= {ONE_ROW_GOAL_MS:g} ms",
        within_goal=bool(p50 <= ONE_ROW_GOAL_MS),
        p99_ms=round(_pct(hgb["got"], 99), 4),
        baseline_p99_ms=round(_pct(hgb["base"], 99), 4),
        speedup=round(b50 / p50, 1),
        target=TARGETS[task],
        trees_per_iteration=int(est.n_trees_per_iteration_),
        trees=int(est.n_iter_ * est.n_trees_per_iteration_),
        linear_family=type(fitted["linear"].steps[1][1]).__name__,
        linear_p50_ms=round(l50, 4),
        linear_baseline_p50_ms=round(lb50, 4),
        linear_speedup=round(lb50 / l50, 1),
        check=[t["message"] for t in timed.values()],
        **extra,
        rows_timed=n,
        train_rows=len(df),
        load_average=[load_before, round(os.getloadavg()[0], 2)],
    )


def fast_one_row_regression(ws: Workspace) -> dict[str, Any]:
    return _row("regression", ws)


def fast_one_row_multiclass(ws: Workspace) -> dict[str, Any]:
    return _row("multiclass", ws)


BENCHMARKS = {
    "fast_one_row_regression": fast_one_row_regression,
    "fast_one_row_multiclass": fast_one_row_multiclass,
}
