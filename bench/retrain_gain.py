"""How much does retraining on harvested production rows gain on post-shift traffic?

    python -m bench.retrain_gain [--rows 1200] [--seeds 3] [--out bench/retrain_gain.json]

The scenario of tests/e2e/monitor/test_retrain_loop.py, in process and seeded: prod is a
calibrated HistGradientBoosting (the train stage's code, the committed hyperparameters) on 60%
of Adult. Then a new market: every row carries native_country = Holand-Netherlands and married
people's outcomes are reversed (a concept shift). `--rows` labelled rows of it are "harvested"
and join training by the split rule (gitml.pipeline.production: the newest quarter held out as
recent traffic); the retrained model is fitted the same way. Both are scored on fresh
post-shift traffic (rows never seen by either, `--rows` per seed) and on the fixed test split.

Figure: realized ROC-AUC of the retrained model on post-shift traffic. Baseline: prod's on the
same rows (the ratio and the difference are reported), and both on the fixed test split (what
the gate judges). A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from bench.estimation import _data, _model


def _market(rows: pd.DataFrame) -> pd.DataFrame:
    out = rows.copy()
    out["native_country"] = "Holand-Netherlands"
    married = out["marital_status"] == "Married-civ-spouse"
    out.loc[married, "income"] = out.loc[married, "income"].map({">50K": "<=50K", "<=50K": ">50K"})
    return out


def _auc(model: Any, rows: pd.DataFrame) -> float:
    y = (rows["income"] == ">50K").to_numpy()
    return float(roc_auc_score(y, model.predict_proba(rows.drop(columns=["income"]))[:, 1]))


def run(rows: int, seeds: int) -> dict[str, Any]:
    from gitml.pipeline import production

    t0 = time.perf_counter()
    data = _data()
    order = np.random.default_rng(42).permutation(len(data))
    a, b = int(0.6 * len(data)), int(0.8 * len(data))
    train = data.iloc[order[:a]].reset_index(drop=True)
    test = data.iloc[order[a:b]].reset_index(drop=True)  # the fixed test split
    pool = data.iloc[order[b:]].reset_index(drop=True)  # where the new market's rows come from
    prod, _ = _model(train)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(pool))
    harvested = _market(pool.iloc[idx[:rows]]).reset_index(drop=True)
    harvested["prediction_id"] = [f"p{i}" for i in range(rows)]
    harvested["logged_at"] = pd.date_range("2026-11-01", periods=rows, freq="min", tz="UTC")
    folder = Path("/tmp/gitml-bench-retrain")
    folder.mkdir(exist_ok=True)
    harvested.to_parquet(folder / "harvest.parquet")
    joined, recent, _ = production.join(
        train, test, [str(folder / "harvest.parquet")], 0.25, "income"
    )
    retrained, _ = _model(joined)
    fresh_rows = idx[rows:]
    out: dict[str, Any] = {
        "harvested_rows": rows,
        "joined_train_rows": len(joined),
        "recent_rows": len(recent),
        "test_split": {
            "prod": round(_auc(prod, test), 4),
            "retrained": round(_auc(retrained, test), 4),
        },
        "recent_traffic": {
            "prod": round(_auc(prod, recent), 4),
            "retrained": round(_auc(retrained, recent), 4),
        },
        "post_shift": [],
    }
    for seed in range(seeds):
        pick = np.random.default_rng(100 + seed).choice(fresh_rows, rows, replace=False)
        fresh = _market(pool.iloc[pick]).reset_index(drop=True)
        p, r = _auc(prod, fresh), _auc(retrained, fresh)
        out["post_shift"].append(
            {"seed": 100 + seed, "prod": round(p, 4), "retrained": round(r, 4)}
        )
    p = float(np.mean([x["prod"] for x in out["post_shift"]]))
    r = float(np.mean([x["retrained"] for x in out["post_shift"]]))
    out["post_shift_mean"] = {
        "prod": round(p, 4),
        "retrained": round(r, 4),
        "gain": round(r - p, 4),
        "ratio": round(r / p, 4),
    }
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1200)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("bench/retrain_gain.json"))
    args = ap.parse_args(argv)
    result = run(args.rows, args.seeds)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
