"""Where each stage reads and writes. dvc.yaml declares exactly these paths (a test checks it)."""

from __future__ import annotations

from pathlib import Path

PARAMS = Path("params.yaml")
INGESTED = Path("data/ingested.parquet")
# canonical name -> the name in data.source, for the columns ingest renamed (train copies it
# into model.json: serving and batch predict accept the user's own names)
COLUMN_NAMES = Path("data/column_names.json")
VALIDATED = Path("data/validated.parquet")
VALIDATION_REPORT = Path("reports/validation.json")
SPLIT_DIR = Path("data/split")
PRODUCTION_DIR = Path("data/raw/production")  # gitml harvest writes labelled production rows
FEATURES_DIR = Path("data/features")
TUNE_DIR = Path("reports/tune")
MODEL = Path("models/model.skops")
MODEL_META = Path("models/model.json")
EVALUATE_DIR = Path("reports/evaluate")
METRICS = EVALUATE_DIR / "metrics.json"  # the test metrics every review and gate reads
SLICES = EVALUATE_DIR / "slices.json"
RECENT_METRICS = Path("reports/evaluate/recent.json")  # the recent-traffic slice
PREDICTIONS = Path("data/predictions/test.parquet")
VERIFY_REPORT = Path("reports/verify.json")  # gitml verify: what CI could not reproduce
MONITORING_DIR = Path("reports/monitoring")  # gitml monitor (watches production; not a DVC stage)
