"""models/model.json as one typed contract (gitml.core.model_meta)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitml.core.model_meta import ModelMeta
from gitml.errors import DataError
from tests.helpers import ROOT


def test_the_committed_model_json_round_trips_byte_for_byte() -> None:
    """train writes ModelMeta.to_json(): the file the pipeline committed reads back unchanged,
    so typing the contract did not change the pipeline's outputs."""
    path = ROOT / "models/model.json"
    meta = ModelMeta.read(path)
    text = json.dumps(meta.to_json(), indent=2, sort_keys=True) + "\n"
    assert text == path.read_text(encoding="utf-8")
    assert meta.features.numeric and meta.calibration.method in ("isotonic", "sigmoid", "none")


def test_an_older_or_broken_file_gets_an_error_naming_the_key_and_the_fix(tmp_path: Path) -> None:
    old = tmp_path / "model.json"
    old.write_text(json.dumps({"threshold": 0.4, "family": "x"}))
    with pytest.raises(DataError, match=r"model_sha256: field required.*run `dvc repro`"):
        ModelMeta.read(old)
    old.write_text(json.dumps({"model_sha256": "a" * 64, "threshold": "high"}))
    with pytest.raises(DataError, match=r"threshold: input should be a valid number"):
        ModelMeta.read(old)
    old.write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        ModelMeta.read(old)
    with pytest.raises(DataError, match="not found; run `dvc repro`"):
        ModelMeta.read(tmp_path / "missing.json")


def test_keys_of_a_newer_gitml_are_ignored_and_the_positive_class_keeps_its_type() -> None:
    for positive in (1, True, ">50K"):
        meta = ModelMeta.parse(
            {"model_sha256": "a" * 64, "threshold": 0.5, "positive_class": positive, "new": 1},
            "x",
        )
        assert meta.positive_class == positive and type(meta.positive_class) is type(positive)
        assert "new" not in meta.to_json()
