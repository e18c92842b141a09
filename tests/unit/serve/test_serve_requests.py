"""Request models generated from the pandera schema, and the prediction log's pure parts."""

from __future__ import annotations

import math
from pathlib import Path

import pandera.pandas as pa
import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from gitml.core import schema
from gitml.errors import ConfigError
from gitml.logstore import logdb
from gitml.serve.requests import column_specs, example_row, request_model, to_frame

pytestmark = pytest.mark.xdist_group("serving")

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def small_schema() -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "age": pa.Column("float64", pa.Check.in_range(17, 90), coerce=True),
            "hours": pa.Column(
                "float64", pa.Check.in_range(0, 10, include_min=False), nullable=True
            ),
            "color": pa.Column("str", pa.Check.isin(["red", "blue"]), nullable=False),
            "note": pa.Column("str", nullable=True),
            "y": pa.Column("str", pa.Check.isin(["a", "b"])),
        },
        strict=True,
    )


def test_specs_carry_types_ranges_nullability_and_categories(
    small_schema: pa.DataFrameSchema,
) -> None:
    specs = {s.name: s for s in column_specs(small_schema, {"y"})}
    assert list(specs) == ["age", "hours", "color", "note"]  # the target is not an input
    assert (specs["age"].numeric, specs["age"].ge, specs["age"].le) == (True, 17.0, 90.0)
    assert (specs["hours"].gt, specs["hours"].ge, specs["hours"].nullable) == (0.0, None, True)
    assert specs["color"].categories == ("red", "blue")
    assert not specs["color"].numeric and not specs["color"].nullable


def test_generated_model_enforces_the_contract(small_schema: pa.DataFrameSchema) -> None:
    Row = request_model(column_specs(small_schema, {"y"}))
    ok = Row(age=30, color="red")  # nullable columns may be left out
    assert ok.model_dump() == {"age": 30.0, "hours": None, "color": "red", "note": None}

    def fields_of(**row: object) -> set[str]:
        with pytest.raises(ValidationError) as info:
            Row(**row)
        return {str(e["loc"][0]) for e in info.value.errors()}

    assert fields_of(age=91, color="red") == {"age"}  # out of range
    assert fields_of(age=30, hours=0, color="red") == {"hours"}  # exclusive bound
    assert fields_of(age="old", color="red") == {"age"}  # wrong type
    assert fields_of(age=30, hours=True, color="red") == {"hours"}  # not scored as 1.0
    assert Row(age="30.5", color="red").model_dump()["age"] == 30.5  # a number as text: read
    assert fields_of(color="red") == {"age"}  # missing required column
    assert fields_of(age=30, color=None) == {"color"}  # not nullable
    assert fields_of(age=math.inf, color="red") == {"age"}
    assert fields_of(age=30, color="red", hour=1) == {"hour"}  # a near miss of an input
    assert "shoe" not in Row(age=30, color="red", shoe=1).model_dump()  # another: ignored
    # An unseen category is NOT refused: the model handles it, the server counts it.
    assert Row(age=30, color="green").model_dump()["color"] == "green"


def test_project_schema_gives_a_model_that_accepts_its_own_example() -> None:
    specs = column_specs(schema.load(ROOT / "schema/adult.schema.yaml"), {"income"})
    assert "income" not in [s.name for s in specs]
    Row = request_model(specs)
    row = example_row(specs)
    assert Row(**row).model_dump() == row
    json_schema = Row.model_json_schema()
    assert set(json_schema["required"]) == {s.name for s in specs if not s.nullable}
    props = json_schema["properties"]
    assert (props["age"]["minimum"], props["age"]["maximum"]) == (17.0, 90.0)
    assert "Private" in props["workclass"]["examples"]  # documented, not enforced


def test_to_frame_gives_training_dtypes(small_schema: pa.DataFrameSchema) -> None:
    specs = column_specs(small_schema, {"y"})
    df = to_frame([{"age": 30.0, "color": "red"}, {"age": 40, "color": "x", "note": None}], specs)
    assert [str(t) for t in df.dtypes] == ["float64", "float64", "str", "str"]
    assert df["hours"].isna().all() and df["note"].isna().all()


def test_range_check_on_text_column_is_a_config_error() -> None:
    bad = pa.DataFrameSchema({"c": pa.Column("str", pa.Check.in_range(0, 1))})
    with pytest.raises(ConfigError, match="'c'"):
        column_specs(bad, set())


def test_mask_url_hides_the_password_everywhere() -> None:
    masked = logdb.mask_url("postgresql://alice:s3cret@db.example:5432/log")
    assert "s3cret" not in masked and "alice" in masked and "db.example" in masked
    assert "s3cret" not in logdb.mask_url("nonsense://alice:s3cret@[bad")


def test_check_url_refuses_unusable_urls_without_the_password() -> None:
    with pytest.raises(ConfigError) as info:
        logdb.check_url("nosuchdb://bob:hunter2@host/x")
    assert "hunter2" not in str(info.value)
    assert logdb.check_url(logdb.DEFAULT_LOG_URL) == logdb.DEFAULT_LOG_URL


def _row(i: int) -> dict[str, object]:
    return {
        "id": f"00000000-0000-4000-8000-{i:012d}",
        "created_at": logdb._now(),
        "model_version": "workspace",
        "features": {"age": 30.0 + i},
        "score": 0.5,
        "label": 1,
        "threshold": 0.4,
        "unseen": [],
    }


def test_close_flushes_every_queued_row(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/log.db"
    log = logdb.PredictionLog(url, batch_size=7)
    log.log_predictions([_row(i) for i in range(100)])
    log.log_feedback(str(_row(3)["id"]), 0)
    log.log_feedback(str(_row(3)["id"]), 1)  # a second label replaces the first
    log.close()
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(logdb.predictions)) == 100
        labels = conn.execute(sa.select(logdb.feedback.c.label)).scalars().all()
    assert labels == [1]
    assert (log.written, log.dropped) == (102, 0)


def test_writers_of_one_sqlite_file_take_turns_on_its_lock_file(tmp_path: Path) -> None:
    """While another process's writer holds the turn, a log neither opens nor writes the file;
    once the turn is free it commits at once, dropping nothing (no busy-handler sleeps)."""
    import fcntl
    import os
    import threading

    db = tmp_path / "logs" / "log.db"
    (tmp_path / "logs").mkdir()
    other = os.open(f"{db}.lock", os.O_RDWR | os.O_CREAT)  # another open file: another writer
    fcntl.flock(other, fcntl.LOCK_EX)
    committed = threading.Event()
    log = logdb.PredictionLog(f"sqlite:///{db}")
    try:
        log.log_predictions([_row(1)], lambda ok: ok and committed.set())
        assert not committed.wait(0.5)
        assert not db.exists()  # creating the tables waits for the turn too
        fcntl.flock(other, fcntl.LOCK_UN)
        assert committed.wait(5)
    finally:
        os.close(other)
        log.close()
    assert (log.written, log.dropped) == (1, 0)
    assert logdb.WriterTurn.for_url("sqlite://").path is None  # in memory: nothing to share
    assert logdb.WriterTurn.for_url("postgresql://u@h/db").path is None


def test_unreachable_database_counts_dropped_rows_and_never_raises() -> None:
    drops: list[int] = []
    log = logdb.PredictionLog(
        "postgresql://gitml:pw@127.0.0.1:1/none", on_drop=drops.append, retry_seconds=60
    )
    log.log_predictions([_row(i) for i in range(5)])
    log.close()
    assert log.dropped == 5 and sum(drops) == 5 and log.written == 0
    assert log.last_error is not None and ":pw@" not in log.last_error


def test_feedback_ids_are_checked_against_the_log_in_one_query(tmp_path: Path) -> None:
    log = logdb.PredictionLog(f"sqlite:///{tmp_path}/log.db")
    try:
        done: list[bool] = []
        log.log_predictions([_row(1), _row(2)], done.append)
        log.close()  # drained: both rows committed
        ids = [_row(1)["id"], "00000000-0000-4000-8000-000000000000"]
        assert log.unknown_ids(ids) == ["00000000-0000-4000-8000-000000000000"]
    finally:
        log.close()
    down = logdb.PredictionLog("postgresql://gitml:pw@127.0.0.1:1/none", retry_seconds=60)
    assert down.unknown_ids(["x"]) is None  # cannot ask: the label is taken, as before
    down.close()


def test_a_port_in_use_is_named_before_anything_loads() -> None:
    import socket

    from gitml.errors import UnavailableError
    from gitml.serve.ports import check_port

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(UnavailableError, match=f"port {port} on 127.0.0.1 is in use"):
            check_port("127.0.0.1", port)
    check_port("127.0.0.1", port)  # free again


def test_text_fields_are_bounded_by_str_length_or_256() -> None:
    sch = pa.DataFrameSchema(
        {"code": pa.Column("str", pa.Check.str_length(1, 5)), "name": pa.Column("str")}
    )
    specs = {s.name: s for s in column_specs(sch, set())}
    assert (specs["code"].max_length, specs["name"].max_length) == (5, 256)
    Row = request_model(tuple(specs.values()))
    assert Row(code="abcde", name="n" * 256).model_dump()["code"] == "abcde"
    with pytest.raises(ValidationError, match="at most 5 characters"):
        Row(code="abcdef", name="n")
    with pytest.raises(ValidationError, match="at most 256 characters"):
        Row(code="a", name="n" * 257)


def test_feedback_takes_the_class_name_the_answer_gave() -> None:
    """/predict answers `predicted_class: "yes"`; /feedback takes that name (and the other
    class's) besides 0/1, and says which names it knows when given another."""
    from gitml.serve.requests import feedback_model

    Feedback = feedback_model({"yes": 1, "no": 0})
    assert Feedback(prediction_id="p", label="yes").label == 1  # type: ignore[arg-type]
    assert Feedback(prediction_id="p", label="no").label == 0  # type: ignore[arg-type]
    assert Feedback(prediction_id="p", label=1).label == 1
    expected = r"label 'maybe' is neither 0 nor 1 nor a class name: 'yes' \(1\), 'no' \(0\)"
    with pytest.raises(ValidationError, match=expected):
        Feedback(prediction_id="p", label="maybe")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="finite_number"):  # as before: bad-inputs row 5
        Feedback.model_validate({"prediction_id": "p", "label": math.nan})
    with pytest.raises(ValidationError, match="less_than_equal"):
        Feedback(prediction_id="p", label=2)
    plain = feedback_model({})  # no class names known: 0/1 only
    with pytest.raises(
        ValidationError, match=r"label 'yes' is neither 0 nor 1$|neither 0 nor 1 \["
    ):
        plain(prediction_id="p", label="yes")  # type: ignore[arg-type]


def test_class_labels_come_from_the_target_s_allowed_values() -> None:
    from gitml.serve.resolve import _class_labels

    adult = schema.load(ROOT / "schema/adult.schema.yaml")  # income isin ['<=50K', '>50K']
    assert _class_labels(adult, "income", ">50K") == {"<=50K": 0, ">50K": 1}
    assert _class_labels(adult, "income", "rich") == {}  # no allowed value is positive
    assert _class_labels(adult, "income", None) == {}
    assert _class_labels(adult, "age", ">50K") == {}  # not two allowed values
