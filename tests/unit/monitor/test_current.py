"""`gitml monitor --current FILE`: gitml predict's output read as it is, the positive class of
any type, and a file without scores refused unless only the inputs are asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from gitml.core.model_meta import ModelMeta
from gitml.monitor.common import MonitorError
from gitml.monitor.current import load_file

META = ModelMeta(model_sha256="0" * 64, threshold=0.4, target="y")


def test_predict_output_is_read_as_it_is(tmp_path: Path) -> None:
    """predict writes `probability` and `label`; the monitor once read only `score` and then
    skipped the estimate and live quality with exit 0."""
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "probability": [0.1, 0.5, 0.9], "label": [0, 1, 1]})
    frame.to_parquet(tmp_path / "predictions.parquet")
    cur = load_file(tmp_path / "predictions.parquet", META)
    assert cur.scores is not None and cur.scores.tolist() == [0.1, 0.5, 0.9]
    assert cur.labels is not None and cur.labels.tolist() == [0, 1, 1]
    assert cur.y_true is None  # no target column: nothing to compare with


def test_a_file_without_scores_is_an_error_naming_the_column(tmp_path: Path) -> None:
    pd.DataFrame({"x": [1.0, 2.0]}).to_csv(tmp_path / "rows.csv", index=False)
    with pytest.raises(
        MonitorError, match=r"no score column \(probability or score\).*--inputs-only"
    ):
        load_file(tmp_path / "rows.csv", META)
    cur = load_file(tmp_path / "rows.csv", META, inputs_only=True)
    assert cur.scores is None and len(cur.frame) == 2


def test_scores_outside_0_1_are_refused(tmp_path: Path) -> None:
    pd.DataFrame({"score": [0.2, 1.5, np.nan]}).to_csv(tmp_path / "s.csv", index=False)
    with pytest.raises(MonitorError, match=r"'score' must hold probabilities in \[0, 1\]; 2 row"):
        load_file(tmp_path / "s.csv", META)


@pytest.mark.parametrize(
    ("positive", "column", "truth"),
    [
        (1, [1, 0, 1, None], [1.0, 0.0, 1.0, np.nan]),
        (0, [1, 0, 1, None], [0.0, 1.0, 0.0, np.nan]),  # "1" is not positive here
        (True, [True, False, None, True], [1.0, 0.0, np.nan, 1.0]),
        (">50K", [">50K", "<=50K", ">50K", None], [1.0, 0.0, 1.0, np.nan]),
    ],
)
def test_the_positive_class_of_any_type(
    tmp_path: Path, positive: Any, column: list[Any], truth: list[float]
) -> None:
    frame = pd.DataFrame({"probability": [0.9, 0.1, 0.8, 0.3], "y": column})
    frame.to_parquet(tmp_path / "p.parquet")
    meta = META.model_copy(update={"positive_class": positive})
    cur = load_file(tmp_path / "p.parquet", meta)
    np.testing.assert_array_equal(cur.y_true, np.array(truth))
