"""Can the update loop leak the test split into training? Before and after the split rule.

    python -m bench.leak [--rows 5000] [--out bench/leak.json]

The path a new user follows: `gitml simulate --rows N --feedback` draws rows from the test split
(`gitml.monitor.simulate.draw`, seeded), the server logs them with their labels, `gitml harvest`
writes them as production rows, and the retrain rebuilds on them. Here in process: the pipeline's
own split of Adult (default params), N drawn test rows as the harvest file, and a model fitted
with the committed hyperparameters and the train stage's calibration (bench.estimation._model)
on three training sets:

- prod: the source's train split alone (the baseline);
- naive: train plus the older production rows, appended as they are (the rule before);
- rule: train as the split stage now joins it (gitml.pipeline.production.join), which drops the
  production rows equal to a test row.

Figures: ROC-AUC on the test split (what the gate judges) and on the test rows none of the
harvested rows equals (rows no model trained on). A leak shows as a test gain that the unseen
rows do not share. A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.metrics import roc_auc_score

from bench.estimation import _model

TARGET, POSITIVE = "income", ">50K"


def _auc(model: Any, rows: pd.DataFrame) -> float:
    y = (rows[TARGET] == POSITIVE).to_numpy()
    return float(roc_auc_score(y, model.predict_proba(rows.drop(columns=[TARGET]))[:, 1]))


def run(rows: int) -> dict[str, Any]:
    from gitml.config import Params
    from gitml.core import features
    from gitml.monitor.simulate import draw
    from gitml.pipeline import production
    from gitml.pipeline.ingest import normalise, read_source
    from gitml.pipeline.split import split

    t0 = time.perf_counter()
    p = Params()
    data = normalise(read_source(p.data), p.data)
    train, test = split(data, p.data, p.split)
    harvested = draw(test, rows, [], seed=0)  # what `gitml simulate --rows N` sends
    harvested[production.ID] = [f"p{i}" for i in range(rows)]
    harvested[production.LOGGED_AT] = pd.date_range(
        "2026-11-01", periods=rows, freq="min", tz="UTC"
    )
    inputs = production.inputs(test.columns, TARGET)
    seen = production.equal_to_test(test, harvested, inputs)  # test rows a harvested row equals
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "harvest.parquet"
        harvested.to_parquet(path)
        joined = production.join(train, test, [str(path)], p.data.recent_share, TARGET)
        older, _ = production.hold_out_recent(
            production.load([str(path)], list(train.columns)), p.data.recent_share
        )
    naive = pd.concat([train, older[list(train.columns)]], ignore_index=True)
    derived = p.features.derived
    sets = {"prod": train, "naive": naive, "rule": joined.train}
    test_f, unseen_f = features.apply(test, derived), features.apply(test.loc[~seen], derived)
    out: dict[str, Any] = {
        "harvested_rows": rows,
        "test_rows_equal_to_a_harvested_row": int(seen.sum()),
        "test_rows": len(test),
        "unseen_test_rows": int((~seen).sum()),
        "dropped_by_the_rule": joined.test_overlap.rows,
        "train_rows": {k: len(v) for k, v in sets.items()},
        "roc_auc": {},
    }
    for name, frame in sets.items():
        model, _ = _model(features.apply(frame, derived))
        out["roc_auc"][name] = {
            "test_split": round(_auc(model, test_f), 4),
            "unseen_test_rows": round(_auc(model, unseen_f), 4),
        }
        print(f"{name}: {out['roc_auc'][name]}", flush=True)
    base = out["roc_auc"]["prod"]
    out["gain_over_prod"] = {
        name: {k: round(v - base[k], 4) for k, v in out["roc_auc"][name].items()}
        for name in ("naive", "rule")
    }
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=5000, help="rows `gitml simulate` sends")
    ap.add_argument("--out", type=Path, default=Path("bench/leak.json"))
    args = ap.parse_args(argv)
    result = run(args.rows)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
