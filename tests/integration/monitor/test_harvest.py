"""`gitml harvest` on a SQLite prediction log of real Adult rows: what is kept, what is left out
and counted, idempotency, the DVC file, and the split rule that lets the rows join training."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from gitml.io.files import read_json
from gitml.logstore import logdb
from gitml.monitor import harvest
from gitml.pipeline import production
from tests.helpers import ROOT, run
from tests.integration.monitor.oldlog import create_old_log

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
        "other_key": 0,
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


def test_the_cli_prints_the_counts(
    adult: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
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
    assert (
        "harvest: 40 logged, left out 5 unlabelled, 0 other version, 0 other key, 0 duplicate"
        in proc.stdout
    )
    assert "→ 34 written to data/raw/production/d1.parquet" in proc.stdout
    assert "data/split/test.parquet absent: not compared" in proc.stderr

    # with the workspace's test split: the written rows equal to one of its rows are counted
    elsewhere = tmp_path / "other"
    (elsewhere / "data/split").mkdir(parents=True)
    adult.head(10).to_parquet(elsewhere / "data/split/test.parquet")
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "outputs"))
    proc = run(
        [
            "gitml", "harvest", "--log-db", url, "--since", "all", "--all-versions",
            "--no-dvc", "--date", "d1", "-p", str(params),
        ],
        elsewhere,
    )  # fmt: skip
    # ids 0-9 but 3 (it breaks the contract), and 38, 39 (the inputs of 0 and 1 again); oldest
    # first, and id-39 was logged in the same second as id-01
    assert (
        "harvest: 11 of the written rows equal a row of the test split (data/split/test.parquet; "
        "e.g. id-00, id-01, id-39, id-02, id-04): the split stage leaves them out of training"
    ) in proc.stdout
    report = json.loads((elsewhere / "reports/harvest/d1.json").read_text())
    assert report["test_overlap"]["rows"] == 11 and report["test_overlap"]["compared"] == 34
    # in GitHub Actions, a step output too (retrain.yml could skip a retrain of nothing usable)
    outputs = (tmp_path / "outputs").read_text().splitlines()
    assert "written=34" in outputs and "test_overlap=11" in outputs


@pytest.mark.parametrize("target_values", [["a", "b", "c"], [">50K"]])
def test_a_target_without_two_classes_is_a_clear_error(target_values: list[str]) -> None:
    import pandera.pandas as pa

    schema = pa.DataFrameSchema({"income": pa.Column(str, pa.Check.isin(target_values))})
    with pytest.raises(harvest.MonitorError, match="must allow exactly two values"):
        harvest._class_names(schema, "income", ">50K")


def _write(url: str, predictions: list[dict], feedback: list[dict]) -> None:
    engine = logdb.engine_for(url)
    with engine.begin() as conn:
        if predictions:
            conn.execute(logdb.predictions.insert(), predictions)
        if feedback:
            conn.execute(logdb.feedback.insert(), feedback)
    engine.dispose()


def _prediction(i: int, features: dict, created: datetime) -> dict:
    return {
        "id": f"id-{i:03d}",
        "created_at": created,
        "model_version": "v1",
        "features": {k: (None if pd.isna(v) else v) for k, v in features.items()},
        "score": 0.5,
        "label": 1,
        "threshold": 0.5,
        "unseen": [],
    }


def _keys(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    return list(frame[columns].astype(str).itertuples(index=False))


def test_test_split_rows_sent_back_as_traffic_never_reach_training(
    adult: pd.DataFrame, adult_sample: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The leak a user found: `gitml simulate --feedback` draws from the test split, harvest
    kept those rows and the retrained model was judged on rows it had trained on. Now harvest
    counts them (against the workspace's test split) and the split stage drops them."""
    from gitml.config import DataConfig, SplitConfig, ValidateConfig
    from gitml.pipeline import split, validate

    monkeypatch.chdir(tmp_path)
    (tmp_path / "schema").mkdir()
    shutil.copy(ROOT / SCHEMA, tmp_path / SCHEMA)
    split_dir = tmp_path / "data/split"
    source = DataConfig(extra_sources=["data/raw/production"])
    split.run(adult_sample, DataConfig(), SplitConfig(), split_dir / "a.parquet",
              split_dir / "test.parquet")  # fmt: skip  # the workspace's split, before harvest
    test = pd.read_parquet(split_dir / "test.parquet")

    # simulate-like traffic: 50 rows drawn from the test split, 30 from elsewhere, all labelled
    now = datetime(2026, 12, 7, 5, 43, tzinfo=UTC)
    drawn = pd.concat([test.sample(50, random_state=0), adult.tail(30)], ignore_index=True)
    inputs = [c for c in test.columns if c != "income"]
    preds = [
        _prediction(i, row, now - timedelta(hours=3) + timedelta(minutes=i))
        for i, row in enumerate(drawn[inputs].to_dict("records"))
    ]
    labels = [
        {
            "prediction_id": p["id"],
            "label": int(y == ">50K"),
            "created_at": now - timedelta(hours=1),
        }
        for p, y in zip(preds, drawn["income"], strict=True)
    ]
    url = f"sqlite:///{tmp_path / 'log.db'}"
    _write(url, preds, labels)
    in_test = set(_keys(test, inputs))
    equal = [k in in_test for k in _keys(drawn, inputs)]
    assert all(equal[:50])

    result = harvest.run(url, timedelta(days=7), SCHEMA, "income", ">50K", date="d1", now=now,
                         dvc_add=False, repo=tmp_path)  # fmt: skip
    assert result.written == 80  # the file keeps them: a record of what production sent
    overlap = result.test_overlap
    assert overlap["rows"] == sum(equal) and overlap["compared"] == 80
    assert overlap["test_split"] == "data/split/test.parquet"
    ids = [p["id"] for p, e in zip(preds, equal, strict=True) if e]
    assert overlap["examples"] == ids[:5]  # oldest first: the file's order
    report = read_json(tmp_path / "reports/harvest/d1.json")
    assert report["test_overlap"] == overlap
    assert report["window"].startswith("feedback time")

    # validate counts them too (reports/validation.json), then the split stage leaves them out
    checked = validate.check(
        adult_sample, source, ValidateConfig(schema_file=str(SCHEMA)),
        validate.schema_mod.load(SCHEMA), SplitConfig(),
    )  # fmt: skip
    assert checked.test_overlap == {k: overlap[k] for k in ("rows", "examples", "compared")}
    paths = [split_dir / f"{side}.parquet" for side in ("train", "test", "recent")]
    done = split.run(adult_sample, source, SplitConfig(), *paths)
    assert done.test_overlap["rows"] == sum(equal)
    assert done.production_rows + done.recent_rows == 80 - sum(equal)
    pd.testing.assert_frame_equal(pd.read_parquet(split_dir / "test.parquet"), test)
    train = pd.read_parquet(split_dir / "train.parquet")
    assert len(train) == len(adult_sample) - len(test) + done.production_rows
    # (the source's own train rows may equal test rows: Adult has exact duplicates; untouched)
    for side, rows in (("train", train.tail(done.production_rows)),
                       ("recent", pd.read_parquet(split_dir / "recent.parquet"))):  # fmt: skip
        assert not any(k in in_test for k in _keys(rows, inputs)), side


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.slow)])
def log_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty prediction log: a SQLite file, or a schema of its own on a PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'log.db'}"
        return
    import uuid

    import sqlalchemy as sa

    from tests.pg import url_with

    server = request.getfixturevalue("postgres_url")
    schema = f"gitml_harvest_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(logdb.normalise_url(server))
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield url_with(server, search_path=schema)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_a_label_that_arrives_eight_days_late_is_harvested_by_the_next_weekly_run(
    adult: pd.DataFrame, tmp_path: Path, log_url: str
) -> None:
    """The window is the label's arrival: retrain.yml's weekly `--since 7d` misses no label."""
    from gitml.monitor.current import read_log

    (tmp_path / "schema").mkdir()
    shutil.copy(ROOT / SCHEMA, tmp_path / SCHEMA)
    now = datetime(2026, 12, 7, 5, 43, tzinfo=UTC)
    days = [  # (prediction made, label arrived), days before `now`
        (9, 1),  # predicted before the window, labelled 8 days later, inside it
        (20, 10),  # labelled before the window: the previous run's
        (3, 2),  # both inside
        (2, None),  # no label yet: counted unlabelled
        (9, None),  # no label, predicted before the window: not this run's business
    ]
    rows = adult.head(len(days)).drop(columns=["income"]).to_dict("records")
    preds = [_prediction(i, rows[i], now - timedelta(days=p)) for i, (p, _) in enumerate(days)]
    labels = [
        {"prediction_id": preds[i]["id"], "label": 1, "created_at": now - timedelta(days=f)}
        for i, (_, f) in enumerate(days)
        if f is not None
    ]
    url = log_url
    _write(url, preds, labels)
    args = (url, timedelta(days=7), SCHEMA, "income", ">50K")
    result = harvest.run(*args, date="d1", now=now, dvc_add=False, repo=tmp_path)
    assert result.counts["logged"] == 3 and result.counts["unlabelled"] == 1
    assert result.written == 2
    written = pd.read_parquet(tmp_path / "data/raw/production/d1.parquet")
    assert written["prediction_id"].tolist() == ["id-000", "id-002"]  # oldest prediction first
    assert result.test_overlap["rows"] is None and "absent" in result.test_overlap["note"]

    # a week later the same ids count once; the new label of id-003 is harvested then
    late = {"prediction_id": "id-003", "label": 0, "created_at": now + timedelta(days=3)}
    _write(url, [], [late])
    later = harvest.run(*args, date="d2", now=now + timedelta(days=7), dvc_add=False, repo=tmp_path)
    assert later.written == 1 and later.counts["duplicate"] == 0
    assert pd.read_parquet(tmp_path / "data/raw/production/d2.parquet")[
        "prediction_id"
    ].tolist() == ["id-003"]
    again = harvest.run(*args, date="d3", now=now, dvc_add=False, repo=tmp_path)
    assert again.written == 0 and again.counts["duplicate"] == 2

    # the monitor's window stays the prediction's time
    monitor = read_log(url, now - timedelta(days=7), now, ["id"])
    assert monitor["id"].tolist() == ["id-002", "id-003"]


def _old_log(url: str) -> None:
    """The two tables as a gitml before API keys created them: no key_name column."""
    create_old_log(url, ("key_name",))


def test_harvest_by_key_and_a_log_older_than_keys(adult: pd.DataFrame, tmp_path: Path) -> None:
    (tmp_path / "schema").mkdir()
    shutil.copy(ROOT / SCHEMA, tmp_path / SCHEMA)
    url = f"sqlite:///{tmp_path / 'log.db'}"
    _old_log(url)
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    rows = adult.head(12).drop(columns=["income"]).to_dict("records")
    preds = [_prediction(i, r, now - timedelta(hours=2)) for i, r in enumerate(rows)]
    label = {"label": 1, "created_at": now - timedelta(hours=1)}
    args = (url, timedelta(days=1), SCHEMA, "income", ">50K")
    kw = {"now": now, "dvc_add": False, "repo": tmp_path, "exclude": []}
    # harvest reads the old log as it is (a reader may not alter it): every label is keyless
    _write_old(url, preds[:4], [{"prediction_id": p["id"], **label} for p in preds[:4]])
    old = harvest.run(*args, date="d0", **kw)
    assert old.labels_by_key == {"(none)": 4} and old.counts["other_key"] == 0
    assert harvest.run(*args, date="d0", keys=["app"], **kw).counts["other_key"] == 4

    # the server's log opens it and adds the column; the old rows read as NULL
    import sqlalchemy as sa

    assert logdb.add_missing_columns(logdb.engine_for(url)) == []  # engine_for did it
    names = {c["name"] for c in sa.inspect(sa.create_engine(url)).get_columns("feedback")}
    assert "key_name" in names
    _write(
        url,
        preds[4:],
        [
            {"prediction_id": p["id"], **label, "key_name": "app" if i < 5 else "bulk"}
            for i, p in enumerate(preds[4:])
        ],
    )
    result = harvest.run(*args, date="d1", keys=["app"], **kw)
    assert result.labels_by_key == {"(none)": 4, "app": 5, "bulk": 3}
    assert result.counts["other_key"] == 4 + 3  # the old ones are written already: d0
    assert result.written == 5
    written = pd.read_parquet(tmp_path / "data/raw/production/d1.parquet")
    assert sorted(written["prediction_id"]) == [p["id"] for p in preds[4:9]]
    report = read_json(tmp_path / "reports/harvest/d1.json")
    assert report["keys"] == ["app"] and report["labels_by_key"] == result.labels_by_key


def _write_old(url: str, predictions: list[dict], feedback: list[dict]) -> None:
    """Rows into the old tables, without going through logdb.engine_for (which upgrades)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO predictions (id, created_at, model_version, features, score, label, "
                "threshold, unseen) VALUES (:id, :created_at, :model_version, :features, :score, "
                ":label, :threshold, :unseen)"
            ),
            [{**p, "features": json.dumps(p["features"]), "unseen": "[]"} for p in predictions],
        )
        conn.execute(
            sa.text(
                "INSERT INTO feedback (prediction_id, label, created_at) "
                "VALUES (:prediction_id, :label, :created_at)"
            ),
            feedback,
        )
    engine.dispose()


def test_an_old_postgres_log_gets_the_key_column(postgres_url: str) -> None:
    """The same upgrade on PostgreSQL, where the ALTER runs in a transaction of its own."""
    import uuid

    import sqlalchemy as sa

    from gitml.io.dburl import normalise_url
    from tests.pg import url_with

    name = f"gitml_old_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(normalise_url(postgres_url))
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    url = normalise_url(url_with(postgres_url, search_path=name))
    try:
        _old_log(url)
        engine = logdb.engine_for(url)  # what a server's log does when it connects
        for table in ("predictions", "feedback"):
            columns = {c["name"]: c for c in sa.inspect(engine).get_columns(table)}
            assert columns["key_name"]["nullable"], table
        assert logdb.add_missing_columns(engine) == []  # once is enough
        engine.dispose()
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()
