"""Does `gitml canary decide` keep a worse canary out of prod and let an equal one in?

    python -m bench.canary [--runs 20] [--rows 30000] [--out bench/canary.json]

The test split is the pipeline's own (`gitml.pipeline.split.split` with the default `split:`
params on UCI Adult, 6,513 rows); the model is fitted on its train split with the train stage's
code and the committed model's tuned hyperparameters and calibration (as bench.estimation
does: the DVC cache is not in a clone). Its scores on the test split are prod's.

Each run simulates one canary period: `--rows` labelled requests for each version, drawn with
replacement from the test split (independent draws for canary and prod, as a traffic split
gives), each with its label as feedback. The canary's scores are:

- equal (the baseline, same run): the same model's scores;
- worse: the same scores with Gaussian noise on the logit, its scale found by bisection so that
  the test split's ROC-AUC drops by 0.02 (averaged over noise draws);

and every run goes through the whole rule, `gitml.monitor.canary.compare` with the default
`promotion.canary` params (2 days old, so only the statistics decide). Figures: how often each
canary is promoted, ended, or left waiting; the realized differences and the intervals' widths.
Goals (issue 21): worse never promoted in 20 runs; equal promoted in at least 18 of 20.
A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from bench.estimation import POSITIVE, TARGET, _data, _model

DROP = 0.02


def _test_scores() -> tuple[np.ndarray, np.ndarray, float, dict[str, Any]]:
    from gitml.config import DataConfig, SplitConfig
    from gitml.pipeline.split import split

    train, test = split(_data(), DataConfig(), SplitConfig())
    model, meta = _model(train)
    scores = model.predict_proba(test.drop(columns=[TARGET]))[:, 1]
    y = (test[TARGET] == POSITIVE).to_numpy("int64")
    info = {"train_rows": len(train), "test_rows": len(test), "threshold": meta.threshold}
    return scores, y, meta.threshold, info


def _logit(s: np.ndarray) -> np.ndarray:
    c = np.clip(s, 1e-6, 1 - 1e-6)
    return np.log(c / (1 - c))


def _noisy(scores: np.ndarray, sd: float, rng: np.random.Generator) -> np.ndarray:
    return 1 / (1 + np.exp(-(_logit(scores) + rng.normal(0, sd, len(scores)))))


def _noise_for(scores: np.ndarray, y: np.ndarray, drop: float) -> tuple[float, float]:
    """The logit noise scale that lowers the split's ROC-AUC by `drop` (mean of 20 draws)."""
    target = roc_auc_score(y, scores) - drop

    def auc(sd: float) -> float:
        rng = np.random.default_rng(7)
        return float(np.mean([roc_auc_score(y, _noisy(scores, sd, rng)) for _ in range(20)]))

    lo, hi = 0.0, 4.0
    for _ in range(30):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if auc(mid) > target else (lo, mid)
    sd = (lo + hi) / 2
    return sd, auc(sd)


def run(runs: int, rows: int) -> dict[str, Any]:
    from gitml.config import CanaryConfig
    from gitml.monitor.canary import Sample, compare

    t0 = time.perf_counter()
    scores, y, threshold, info = _test_scores()
    sd, worse_auc = _noise_for(scores, y, DROP)
    cfg = CanaryConfig(enabled=True)
    fitted = time.perf_counter() - t0
    out: dict[str, Any] = {
        "command": f"python -m bench.canary --runs {runs} --rows {rows}",
        "rows_per_version": rows,
        "runs": runs,
        "rules": cfg.model_dump(mode="json"),
        "data": info | {"roc_auc": round(float(roc_auc_score(y, scores)), 4)},
        "worse_noise_sd": round(sd, 4),
        "worse_roc_auc_on_test": round(worse_auc, 4),
        "fit_seconds": round(fitted, 1),
        "canaries": {},
    }
    for kind in ("equal", "worse"):
        decisions: dict[str, int] = {"promote": 0, "end": 0, "wait": 0}
        points, lows, widths = [], [], []
        for r in range(runs):
            rng = np.random.default_rng([r, 0 if kind == "equal" else 1])
            ic, ip = rng.integers(0, len(y), rows), rng.integers(0, len(y), rows)
            sc = scores[ic] if kind == "equal" else _noisy(scores[ic], sd, rng)
            canary = Sample("canary", sc, y[ic].astype("float64"), threshold)
            prod = Sample("prod", scores[ip], y[ip].astype("float64"), threshold)
            c = compare(canary, prod, cfg, timedelta(days=2))
            decisions[c.decision] += 1
            d = c.difference
            assert d.point is not None and d.low is not None and d.high is not None
            points.append(d.point)
            lows.append(d.low)
            widths.append(d.high - d.low)
        out["canaries"][kind] = {
            "decisions": decisions,
            "mean_difference": round(float(np.mean(points)), 4),
            "mean_lower_end": round(float(np.mean(lows)), 4),
            "mean_interval_width": round(float(np.mean(widths)), 4),
        }
        print(f"{kind:>5} canary: {decisions} over {runs} runs; canary - prod roc_auc mean "
              f"{np.mean(points):+.4f}, lower end {np.mean(lows):+.4f}, "
              f"{cfg.confidence:.0%} interval width {np.mean(widths):.4f}", flush=True)  # fmt: skip
    eq, worse = out["canaries"]["equal"]["decisions"], out["canaries"]["worse"]["decisions"]
    out["goals"] = {
        "worse_never_promoted": worse["promote"] == 0,
        "equal_promoted_at_least_18_of_20": eq["promote"] >= 0.9 * runs,
    }
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.canary", description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rows", type=int, default=30000, help="labelled rows per version")
    parser.add_argument("--out", type=Path, default=Path("bench/canary.json"))
    args = parser.parse_args()
    result = run(args.runs, args.rows)
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result["goals"]), f"→ {args.out}")


if __name__ == "__main__":
    main()
