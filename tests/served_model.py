"""A served model without `dvc repro`: a Pipeline fitted in-process, laid out as train writes it.

`model_repo(path, sample, family)` writes models/model.skops (canonical skops), models/model.json
(sha256, threshold, derived features, schema hash), params.yaml, the schema and
data/split/{train,test}.parquet, so `gitml.serve.resolve.resolve(path)` loads it through the
real hash check and skops allowlist. Seconds, not the minutes of a pipeline run.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import yaml
from sklearn.model_selection import StratifiedKFold

from gitml.config import DataConfig, SplitConfig
from gitml.core import features, models
from gitml.core.model_io import save_model
from gitml.pipeline import dataset
from gitml.pipeline.train import calibrate
from tests.helpers import ROOT, default_params

# What ingest records for builtin:adult (its file says `education-num`): served rows may use either.
ADULT_NAMES = {
    c.replace("-", "_"): c
    for c in ("education-num", "marital-status", "capital-gain", "capital-loss", "hours-per-week",
              "native-country")
}  # fmt: skip
DERIVED = ["net_capital", "log_capital_gain", "log_capital_loss", "is_married", "hours_per_age"]
PARAMS = {
    "hist_gradient_boosting": {"max_iter": 40, "max_leaf_nodes": 15},
    "logistic_regression": {"C": 1.0},
}


def model_repo(
    path: Path,
    sample: pd.DataFrame,
    family: str = "hist_gradient_boosting",
    calibration: str = "none",
) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "schema", path / "schema", dirs_exist_ok=True)
    params = default_params()
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    test = sample.sample(frac=0.25, random_state=1)
    train = sample.drop(test.index)
    (path / "data" / "split").mkdir(parents=True, exist_ok=True)
    train.to_parquet(path / "data" / "split" / "train.parquet", index=False)
    test.to_parquet(path / "data" / "split" / "test.parquet", index=False)
    data_cfg = DataConfig()
    X, y, cols = dataset.split_xy(features.apply(train, DERIVED), data_cfg, SplitConfig())
    model = models.build(family, PARAMS[family], cols, 0)
    if calibration == "none":
        model.fit(X, y)
    else:  # as train does with train.calibration: the estimator wrapped, fitted out of fold
        folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
        model = calibrate(model, calibration, X, y, folds)
    (path / "models").mkdir(exist_ok=True)
    sha = save_model(model, path / "models" / "model.skops")
    schema_text = (path / params["validate"]["schema_file"]).read_text(encoding="utf-8")
    meta = {
        "family": family,
        "model_sha256": sha,
        "threshold": 0.4,
        "target": data_cfg.target,
        "positive_class": data_cfg.positive_class,
        "derived_features": DERIVED,
        "original_names": ADULT_NAMES,
        "schema_sha256": hashlib.sha256(schema_text.encode()).hexdigest(),
    }
    (path / "models" / "model.json").write_text(json.dumps(meta, indent=2))
    return path
