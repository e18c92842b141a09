"""`gitml predict` writes the task's columns: regression `prediction`; multiclass `label` (the
class name) and `probability_<class>` per class; an output with no row still has them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gitml.core.tasks import Task
from gitml.serve import predict
from tests.task_models import DATASETS, pipeline_output, rows_of, served, table

pytestmark = pytest.mark.xdist_group("serving")


@pytest.mark.parametrize("family", ["hist_gradient_boosting", "linear"])
@pytest.mark.parametrize("name", DATASETS)
def test_batch_predict_writes_the_tasks_columns(name: str, family: str, tmp_path: Path) -> None:
    resolved = served(name, family)
    t = table(name)
    inputs = t.inputs.copy()
    csv = tmp_path / "in.csv"
    inputs.to_csv(csv, index=False)  # missing values as empty fields
    result = predict.run(resolved, csv, tmp_path / "out.parquet", chunk_rows=100)
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert result.rows_out == len(inputs) == len(out)
    expected = pipeline_output(resolved, rows_of(t))
    added = [c for c in out.columns if c not in inputs.columns]
    if t.task is Task.REGRESSION:
        assert added == ["prediction"]
        assert np.allclose(out["prediction"], expected, rtol=1e-12, atol=0)
        low, high, mean = expected.min(), expected.max(), expected.mean()
        assert result.counts() == f"predictions {low:.4g} to {high:.4g}, mean {mean:.4g}; "
        return
    classes = resolved.metadata.classes
    assert added == ["label", *(f"probability_{c}" for c in classes)]
    got = out[[f"probability_{c}" for c in classes]].to_numpy()
    assert np.allclose(got, expected, rtol=0, atol=1e-12)
    assert out["label"].tolist() == [classes[i] for i in np.argmax(expected, axis=1)]
    assert sum(result.classes.values()) == len(out)
    assert f"{result.classes[classes[0]]:,} predicted {classes[0]}" in result.counts()


@pytest.mark.parametrize("name", ["mixed-regression", "mixed-multiclass"])
def test_an_output_with_no_row_has_the_tasks_columns(name: str, tmp_path: Path) -> None:
    resolved = served(name, "hist_gradient_boosting")
    bad = table(name).inputs.head(3).assign(x2=500.0)  # above the contract's 100
    bad.to_csv(tmp_path / "in.csv", index=False)
    result = predict.run(resolved, tmp_path / "in.csv", tmp_path / "out.csv", on_error="skip")
    assert result.bad_count == 3 and result.rows_out == 0
    header = (tmp_path / "out.csv").read_text().splitlines()[0].replace('"', "").split(",")
    if name == "mixed-regression":
        assert header[-1:] == ["prediction"]
    else:
        tail = ["label", *(f"probability_{c}" for c in resolved.metadata.classes)]
        assert header[-4:] == tail
