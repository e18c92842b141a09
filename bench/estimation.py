"""Does the monitor's estimate before labels (gitml.monitor.estimate, .prior) track the truth?

    python -m bench.estimation [--rows 500] [--out bench/estimation.json]

One calibrated model is trained with the train stage's own code (out-of-fold calibration,
`gitml.pipeline.train.calibrate`) on 40% of UCI Adult, with the committed model's tuned
hyperparameters (models/model.json) and the train stage's folds. The other 60% (about 19,500
rows) is the evaluation's test split: its scores and labels are the monitor's reference (the
share of positives, the score distribution, the reference estimate), and every window is drawn
from it, WITHOUT replacement: the windows of one scenario never share a row, so each is an
independent comparison.

Every window (`--rows` rows, at least 500) goes through the whole rule, `gitml.monitor.analyse`
with the default `monitor:` params: features, score, label shift, estimate and, once labels are
there, concept drift. Scenarios:

- no shift: random rows;
- covariate shifts, real sub-populations (P(y | x) unchanged): women, under 30, married,
  degree holders;
- prior (label) shifts: windows with exactly 10% or 40% positives (P(x | y) unchanged);
- concept shift: random rows whose outcome is reversed for executives and managers.

Per window and metric (ROC-AUC, accuracy, precision, recall, F1): |estimated - realized|.
Baseline, from the same windows: a PERFECT estimator still misses the realized value by the
window's own sampling noise (the labels are draws), so its expected share within ±0.02 is
mean_w P(|N(0, sd_w)| <= 0.02), sd_w from the window's calibrated probabilities
(`estimate.sampling_sd`). The ratio share/ceiling says how much of what is reachable the
estimate reaches. Also: the uncorrected CBPE (scores taken as they are) on the same windows.

Prints a table and writes JSON. A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gitml.core.model_meta import Calibration, FeatureKinds, ModelMeta

METRICS = ("roc_auc", "accuracy", "precision", "recall", "f1")
TOLERANCE = 0.02
COVARIATE = {
    "women": "gender == 'Female'",
    "under_30": "age < 30",
    "married": "marital_status == 'Married-civ-spouse'",
    "degree": "education_num >= 13",
}
PRIORS = {"prior_10pct": 0.10, "prior_40pct": 0.40}
CONCEPT = "occupation == 'Exec-managerial'"  # outcomes reversed here
DERIVED = ["net_capital", "log_capital_gain", "log_capital_loss"]
TARGET, POSITIVE = "income", ">50K"


def _data() -> pd.DataFrame:
    from gitml.config import DataConfig
    from gitml.core import features
    from gitml.pipeline.ingest import normalise, read_source

    cfg = DataConfig()
    return features.apply(normalise(read_source(cfg), cfg), DERIVED)


def _model(train: pd.DataFrame) -> tuple[Any, ModelMeta]:
    from gitml.config import Params
    from gitml.core import models
    from gitml.core.calibration import choose_method
    from gitml.pipeline import dataset, tune
    from gitml.pipeline import train as train_stage

    p = Params()
    X, y, cols = dataset.split_xy(train, p.data, p.split)
    # the committed model's tuned hyperparameters and the train stage's folds: the estimate
    # rests on calibration, so the bench's model is calibrated as the pipeline's is
    hyper = json.loads(Path("models/model.json").read_text(encoding="utf-8"))["params"]
    cv = tune.folds(X, y, p.train.cv_folds, p.train.seed)
    oof = train_stage.out_of_fold("hist_gradient_boosting", hyper, X, y, cols, cv, 0, [])
    choice = choose_method(oof, y, cv)
    base = models.build("hist_gradient_boosting", hyper, cols, 0)
    model = train_stage.calibrate(base, choice.method, X, y, cv)
    meta = ModelMeta(
        model_sha256="0" * 64,  # not saved: the monitor reads the scores, never the file
        threshold=train_stage.choose_threshold(y, choice.calibrated, "f1"),
        calibration=Calibration(method=choice.method),
        target=TARGET,
        positive_class=POSITIVE,
        features=FeatureKinds(numeric=cols.numeric, categorical=cols.categorical),
        derived_features=DERIVED,
    )
    return model, meta


def _windows(members: np.ndarray, rows: int, seed: int) -> list[np.ndarray]:
    """Disjoint windows of `rows` rows from `members` (a seeded shuffle, then cut)."""
    order = np.random.default_rng(seed).permutation(members)
    return [order[i * rows : (i + 1) * rows] for i in range(len(order) // rows)]


def _prior_windows(y: np.ndarray, rows: int, share: float, seed: int) -> list[np.ndarray]:
    """Disjoint windows with exactly round(share * rows) positives."""
    rng = np.random.default_rng(seed)
    pos, neg = rng.permutation(np.flatnonzero(y == 1)), rng.permutation(np.flatnonzero(y == 0))
    n_pos = round(share * rows)
    count = min(len(pos) // n_pos, len(neg) // (rows - n_pos))
    return [
        np.concatenate(
            [pos[i * n_pos : (i + 1) * n_pos], neg[i * (rows - n_pos) : (i + 1) * (rows - n_pos)]]
        )
        for i in range(count)
    ]


def _ceiling(sd: float) -> float:
    """P(|N(0, sd)| <= TOLERANCE): a perfect estimator's chance of landing within it."""
    return 1.0 if sd <= 0 else math.erf(TOLERANCE / (sd * math.sqrt(2)))


def run(rows: int) -> dict[str, Any]:
    from gitml.config import MonitorConfig
    from gitml.monitor import analyse, estimate, prior
    from gitml.monitor.analyse import reference_profiles
    from gitml.monitor.current import Current
    from gitml.monitor.reference import Reference

    t0 = time.perf_counter()
    data = _data()
    order = np.random.default_rng(42).permutation(len(data))
    cut = int(0.4 * len(data))
    train = data.iloc[order[:cut]].reset_index(drop=True)
    pool = data.iloc[order[cut:]].reset_index(drop=True)
    model, meta = _model(train)
    fit_seconds = time.perf_counter() - t0
    raw = pool.drop(columns=[TARGET, *DERIVED])
    y_pool = (pool[TARGET] == POSITIVE).to_numpy("int64")
    s_pool = model.predict_proba(pool.drop(columns=[TARGET]))[:, 1]
    thr = meta.threshold
    ref = Reference(
        train, meta, "bench", scores=s_pool, y_true=y_pool,
        metrics=estimate.realized(y_pool, s_pool, thr),
    )  # fmt: skip
    cfg = MonitorConfig()
    profiles = reference_profiles(ref, cfg)
    classes = prior.reference_classes(ref, ref.columns, cfg.bins)

    def judge(idx: np.ndarray, y: np.ndarray, labelled: bool) -> dict[str, Any]:
        s = s_pool[idx]
        cur = Current(
            raw.iloc[idx].reset_index(drop=True), "bench", scores=s,
            labels=(s >= thr).astype("int64"),
            y_true=y.astype("float64") if labelled else None,
        )  # fmt: skip
        report = analyse(ref, cur, cfg, profiles, classes)
        est = report["estimate"]
        real = estimate.realized(y.astype("float64"), s, thr)
        probs = None
        if est["prior"] and est["prior"]["label_shift"]:
            probs = prior.adjust(s, est["prior"]["reference"], est["prior"]["estimated"])
        sd = estimate.sampling_sd(s, thr, probs)
        naive = estimate.estimate(s, thr)
        return {
            "estimated": est["estimated"],
            "naive": naive,
            "realized": real,
            "sd": sd,
            # the share of positives the estimate works with: EM's under a label shift, else
            # the mean calibrated score (CBPE's reading)
            "share": float(np.mean(s if probs is None else probs)),
            "em_share": est["prior"]["estimated"] if est["prior"] else None,
            "true_share": float(y.mean()),
            "causes": report["causes"],
            "alarm": report["alarm"],
        }

    def summary(windows: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {"windows": len(windows), "metrics": {}}
        for m in METRICS:
            pairs = [
                (w["estimated"][m], w["naive"][m], w["realized"][m], w["sd"][m])
                for w in windows
                if w["realized"][m] is not None and w["estimated"][m] is not None
            ]
            err = np.array([e - r for e, _, r, _ in pairs])
            naive = np.array([n - r for _, n, r, _ in pairs])
            ceiling = float(np.mean([_ceiling(sd) for *_, sd in pairs]))
            within = float(np.mean(np.abs(err) <= TOLERANCE))
            out["metrics"][m] = {
                "within_0.02": round(within, 3),
                "perfect_estimator_within_0.02": round(ceiling, 3),
                "ratio_to_perfect": round(within / ceiling, 3) if ceiling else None,
                "within_2_sampling_sd": round(
                    float(np.mean(np.abs(err) <= 2 * np.array([sd for *_, sd in pairs]))), 3
                ),
                "mean_error": round(float(err.mean()), 4),
                "mean_abs_error": round(float(np.abs(err).mean()), 4),
                "uncorrected_within_0.02": round(float(np.mean(np.abs(naive) <= TOLERANCE)), 3),
                "uncorrected_mean_error": round(float(naive.mean()), 4),
            }
        out["share_of_positives"] = {
            "true": round(float(np.mean([w["true_share"] for w in windows])), 4),
            "estimated_mean": round(float(np.mean([w["share"] for w in windows])), 4),
            "em_mean": round(float(np.mean([w["em_share"] for w in windows])), 4),
        }
        causes: dict[str, int] = {}
        for w in windows:
            for c in w["causes"]:
                causes[c] = causes.get(c, 0) + 1
        out["alarms"] = sum(w["alarm"] for w in windows)
        out["causes"] = causes
        return out

    result: dict[str, Any] = {
        "rows_per_window": rows,
        "train_rows": len(train),
        "pool_rows": len(pool),
        "pool_share_of_positives": round(float(y_pool.mean()), 4),
        "calibration": meta.calibration.method,
        "threshold": round(thr, 4),
        "fit_seconds": round(fit_seconds, 1),
        "scenarios": {},
    }
    scenarios: dict[str, list[np.ndarray]] = {"no_shift": _windows(np.arange(len(pool)), rows, 1)}
    for i, (name, query) in enumerate(COVARIATE.items()):
        scenarios[name] = _windows(np.flatnonzero(pool.eval(query).to_numpy()), rows, 10 + i)
    for i, (name, share) in enumerate(PRIORS.items()):
        scenarios[name] = _prior_windows(y_pool, rows, share, 20 + i)
    for name, windows in scenarios.items():
        # before labels: the alarms and causes a monitor run would print; the errors need the
        # labels only to be measured, so they come from the same windows
        before = [judge(idx, y_pool[idx], labelled=False) for idx in windows]
        entry = summary(before)
        if name == "no_shift":
            entry["with_labels"] = summary([judge(i, y_pool[i], True) for i in windows])
        result["scenarios"][name] = entry
        print(f"{name}: {len(windows)} windows, {time.perf_counter() - t0:.0f} s", flush=True)
    flip = pool.eval(CONCEPT).to_numpy()
    concept = []
    for idx in scenarios["no_shift"]:
        y = y_pool[idx].copy()
        y[flip[idx]] = 1 - y[flip[idx]]
        concept.append(judge(idx, y, labelled=True))
    result["scenarios"]["concept_shift"] = summary(concept)
    result["scenarios"]["concept_shift"]["flipped_segment"] = CONCEPT
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return result


def table(result: dict[str, Any]) -> str:
    """The Markdown table docs/monitoring.md shows."""
    lines = [
        f"Windows of {result['rows_per_window']} rows, disjoint within a scenario; cells: share of "
        "windows with |estimated - realized| <= 0.02 / what a perfect estimator reaches on the "
        "same windows (its own sampling noise).",
        "",
        "| scenario | windows | share of positives (true / estimated) | "
        + " | ".join(METRICS)
        + " | alarms before labels (causes) |",
        "|---|---|---|" + "---|" * len(METRICS) + "---|",
    ]
    for name, s in result["scenarios"].items():
        got = s["metrics"]
        cells = [
            f"{got[m]['within_0.02']:.2f} / {got[m]['perfect_estimator_within_0.02']:.2f}"
            for m in METRICS
        ]
        causes = ", ".join(f"{k} {v}" for k, v in sorted(s["causes"].items())) or "-"
        share = s["share_of_positives"]
        lines.append(
            f"| {name} | {s['windows']} | {share['true']:.3f} / {share['estimated_mean']:.3f} | "
            + " | ".join(cells)
            + f" | {s['alarms']} ({causes}) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=500, help="rows per window (at least 500)")
    ap.add_argument("--out", type=Path, default=Path("bench/estimation.json"))
    args = ap.parse_args(argv)
    if args.rows < 100:
        ap.error("--rows: at least 100")
    result = run(args.rows)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
