"""`gitml harvest` on a SQLite prediction log of real Adult rows: what is kept, what is left out
and counted, idempotency, the DVC file, and the split rule that lets the rows join training."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from gitml.io.files import read_json
from gitml.monitor import harvest
from gitml.pipeline import production
from gitml.serve import logdb
from tests.conftest import ROOT, run

SCHEMA = Path("schema/adult.schema.yaml")


def _log(url: str, adult: pd.DataFrame) -> dict[str, int]:
    """40 predictions: 30 labelled by v1 (one breaks the contract, two repeat earlier inputs),
    5 labelled by v0, 5 unlabelled."""
    now = datetime.now(UTC)
    rows, truth = [], {}
    sample = adult.head(38).drop(columns=["income"]).to_dict("records")
    sample[3]["age"] = -4  # breaks the contract's range
    sample += [sample[0], sample[1]]  # 38, 39: the same requests again
    for i, features in enumerate(sample):
        created = now - timedelta(minutes=60 - i)
        if i == 39:
            created = rows[1]["created_at"]  # logged twice in the same second: a retry
        rows.append(
            {
                "id": f"id-{i:02d}",
                "created_at": created,
                "model_version": "v0" if 30 <= i < 35 else "v1",
                "features": {k: (None if pd.isna(v) else v) for k, v in features.items()},
                "score": 0.5,
                "label": 1,
                "threshold": 0.5,
                "unseen": [],
            }
        )
        if not 25 <= i < 30:  # 25-29 have no feedback
            truth[f"id-{i:02d}"] = int(adult["income"].iloc[i % 38] == ">50K")
    engine = logdb.engine_for(url)
    with engine.begin() as conn:
        conn.execute(logdb.predictions.insert(), rows)
        conn.execute(
            logdb.feedback.insert(),
            [{"prediction_id": k, "label": v, "created_at": now} for k, v in truth.items()],
        )
    engine.dispose()
    return truth


def test_harvest_keeps_labelled_rows_counts_the_rest_and_is_idempotent(
    adult: pd.DataFrame, tmp_path: Path
) -> None:
    (tmp_path / "schema").mkdir()
    shutil.copy(ROOT / SCHEMA, tmp_path / SCHEMA)
    run(["git", "init", "-q"], tmp_path)
    run(["dvc", "init", "-q"], tmp_path)
    url = f"sqlite:///{tmp_path / 'log.db'}"
    _log(url, adult)
    args = (url, timedelta(days=1), SCHEMA, "income", ">50K")
    result = harvest.run(*args, version="v1", date="2026-11-30", repo=tmp_path)
    assert result.counts == {
        "logged": 40,
        "unlabelled": 5,
        "other_version": 5,
        "duplicate": 0,  # id-38, id-39 repeat the inputs of id-00, id-01: distinct requests
        "contract": 1,
        "written": 29,
    }
    path = tmp_path / "data/raw/production/2026-11-30.parquet"
    assert result.path == path and result.dvc_added
    assert (tmp_path / "data/raw/production/2026-11-30.parquet.dvc").is_file()
    rows = pd.read_parquet(path)
    assert len(rows) == 29 and "id-03" not in set(rows["prediction_id"])
    assert list(rows.columns) == [*adult.columns, "prediction_id", "logged_at"]
    by_id = rows.set_index("prediction_id")
    assert by_id.loc["id-05", "income"] == adult["income"].iloc[5]  # 1/0 back to class names
    assert by_id.loc["id-05", "age"] == adult["age"].iloc[5]
    assert read_json(tmp_path / "reports/harvest/2026-11-30.json")["counts"] == result.counts

    again = harvest.run(*args, version="v1", date="2026-11-30", repo=tmp_path)
    assert again.path is None and again.written == 0 and again.counts["duplicate"] == 29
    assert pd.read_parquet(path).equals(rows)

    # the rows join training by the split rule: the newest quarter is the recent slice
    train, test = adult.head(5), adult.iloc[1000:1100]  # no harvested row's inputs
    joined, recent, overlap = production.join(
        train, test, ["data/raw/production"], 0.25, "income", root=tmp_path
    )
    assert len(joined) == 5 + 21 and len(recent) == 8  # ceil(29 / 4)
    assert list(recent.columns) == list(adult.columns)
    assert overlap.rows == 0 and overlap.compared == 29


def test_the_cli_prints_the_counts(adult: pd.DataFrame, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    _log(url, adult)
    params = tmp_path / "params.yaml"
    params.write_text(json.dumps({"validate": {"schema_file": str(ROOT / SCHEMA)}}))
    proc = run(
        [
            "gitml", "harvest", "--log-db", url, "--since", "all", "--all-versions",
            "--no-dvc", "--date", "d1", "-p", str(params),
        ],
        tmp_path,
    )  # fmt: skip
    assert "harvest: 40 logged, left out 5 unlabelled, 0 other version, 0 duplicate" in proc.stdout
    assert "→ 34 written to data/raw/production/d1.parquet" in proc.stdout


@pytest.mark.parametrize("target_values", [["a", "b", "c"], [">50K"]])
def test_a_target_without_two_classes_is_a_clear_error(target_values: list[str]) -> None:
    import pandera.pandas as pa

    schema = pa.DataFrameSchema({"income": pa.Column(str, pa.Check.isin(target_values))})
    with pytest.raises(harvest.MonitorError, match="must allow exactly two values"):
        harvest._class_names(schema, "income", ">50K")
