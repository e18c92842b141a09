"""The prediction log: SQLAlchemy Core tables written by `gitml serve`, read by `gitml monitor`.

Defined once, here. SQLite (a file under logs/) is the embedded default; PostgreSQL for
production (`--log-db postgresql://…`).

Several server processes (`gitml serve --workers N`) each run one `PredictionLog`, so one
writer per process. SQLite is opened in WAL mode with a busy timeout: readers (`gitml monitor`)
never block the writers, and a committed transaction survives a kill -9 of the server (it is in
the WAL file; only a power cut before the OS flushes it could lose it, as `synchronous=NORMAL`
allows). The writers of one SQLite file take turns on a lock file beside it (`WriterTurn`,
gitml.logstore.turn). Each row's primary key is its prediction id: a row is written once.
Requests a model failed to score are logged apart, in `failures` (no score to log).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from gitml.errors import ConfigError
from gitml.io.dburl import mask_url, normalise_url
from gitml.logstore.turn import WriterTurn, sqlite_file

log = logging.getLogger(__name__)

Done = Callable[[bool], None]  # called with True once committed, False when dropped
Item = tuple[str, list[dict[str, Any]], Done | None]  # (table, rows, done)

DEFAULT_LOG_URL = "sqlite:///logs/predictions.db"

metadata = sa.MetaData()

predictions = sa.Table(
    "predictions",
    metadata,
    # uuid4 string, returned to the client as prediction_id
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),  # UTC
    sa.Column("model_version", sa.String(64), nullable=False),  # e.g. "v0.2.0" or "workspace"
    sa.Column("features", sa.JSON, nullable=False),  # the raw request row, before featurize
    # per task (docs/serving.md): binary P(positive); multiclass the top class's probability;
    # regression the prediction
    sa.Column("score", sa.Float, nullable=False),
    # binary 0/1 at the threshold; multiclass the class's index in `classes`; regression 0
    sa.Column("label", sa.Integer, nullable=False),
    sa.Column("threshold", sa.Float, nullable=False),  # binary's; 0 for the other tasks
    # names of the columns whose category was not seen in training
    sa.Column("unseen", sa.JSON, nullable=False),
    # the name of the API key that sent the request (gitml.serve.keys); NULL on an open server
    sa.Column("key_name", sa.String(64), nullable=True),
    # milliseconds the version took to score the request's rows it was sent (one model call;
    # every row of the call carries it); NULL in a log older than it
    sa.Column("latency_ms", sa.Float, nullable=True),
    # "multiclass" | "regression"; NULL for binary (and every row of a log older than tasks)
    sa.Column("task", sa.String(16), nullable=True),
    sa.Column("probabilities", sa.JSON, nullable=True),  # multiclass: class name -> probability
    sa.Column("class_name", sa.String(256), nullable=True),  # multiclass: the predicted class
)

# Requests a version failed to score (an exception in the model: the server answered 500),
# one row per failed call, so that `gitml canary` counts failures per version. Not client
# errors (4xx): those never reach a model. A log older than it gets the table from create_all.
failures = sa.Table(
    "failures",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),  # uuid4
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),  # UTC
    sa.Column("model_version", sa.String(64), nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),  # rows the failed call had to score
    sa.Column("error", sa.String(64), nullable=False),  # the exception's type name
    sa.Column("key_name", sa.String(64), nullable=True),
)

feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("prediction_id", sa.String(36), primary_key=True),
    # the truth: binary 0/1; multiclass the class's index in `classes`; regression 0
    sa.Column("label", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("key_name", sa.String(64), nullable=True),  # the API key that sent the label
    sa.Column("value", sa.Float, nullable=True),  # regression: the true value
    sa.Column("class_name", sa.String(256), nullable=True),  # multiclass: the true class
)


SQLITE_BUSY_MS = 30_000


def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def engine_for(url: str = DEFAULT_LOG_URL) -> sa.Engine:
    """An engine for the log database; creates the tables (and a SQLite file's folder)."""
    parsed = sa.engine.make_url(normalise_url(url))
    if (db := sqlite_file(parsed)) is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed, pool_pre_ping=True)
    if parsed.get_backend_name() == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    try:
        metadata.create_all(engine)
    except sa.exc.DatabaseError:
        # Another worker created the tables between the check and the CREATE: check again.
        metadata.create_all(engine)
    add_missing_columns(engine)
    return engine


def add_missing_columns(engine: sa.Engine) -> list[str]:
    """Bring a log written by an older gitml up to date: add the nullable columns it lacks.

    `create_all` creates missing tables (failures), never missing columns. A column added to
    the tables above since (key_name, latency_ms, the tasks' columns) must be nullable, so the
    old rows read as NULL; readers that may meet an old log they cannot alter check the column first
    (gitml.monitor.current).
    Returns the columns added ("table.column").
    """
    added = []
    for attempt in range(2):
        inspector = sa.inspect(engine)
        missing = [
            (table, column)
            for table in metadata.sorted_tables
            if inspector.has_table(table.name)
            for column in table.columns
            if column.nullable
            and column.name not in {c["name"] for c in inspector.get_columns(table.name)}
        ]
        try:
            with engine.begin() as conn:
                for table, column in missing:
                    kind = column.type.compile(dialect=engine.dialect)
                    conn.execute(
                        sa.text(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}")
                    )
                    added.append(f"{table.name}.{column.name}")
            return added
        except sa.exc.DatabaseError:
            # Another process added it between the look and the ALTER: look again, once.
            added = []
            if attempt:
                raise
    return added


def check_url(url: str) -> str:
    """Refuse a log URL SQLAlchemy cannot parse or has no driver for, before the server starts."""
    try:
        parsed = sa.engine.make_url(normalise_url(url))
        parsed.get_dialect().import_dbapi()  # the driver is installed
    except Exception as exc:
        raise ConfigError(
            f"--log-db {mask_url(url)}: not a usable database URL ({type(exc).__name__}); "
            f"use e.g. {DEFAULT_LOG_URL} or postgresql://user:password@host:5432/dbname"
        ) from None
    return url


class PredictionLog:
    """Writes predictions and feedback off the request path: a queue and one writer thread.

    `log_*` never block and never raise: a full queue or a database error counts the rows as
    dropped (`on_drop`), so an outage of the log database degrades monitoring, not predictions.
    `close()` drains the queue before it returns, so a clean shutdown loses no row.

    `log_predictions(rows, done)` calls `done(True)` once the rows are committed (`done(False)`
    when they were dropped), from the writer thread: the server answers a request after its
    rows are committed, so a kill -9 loses no acknowledged prediction. The writer commits
    whatever is queued when it is free (group commit: under load many requests share one
    transaction; unloaded, a row is committed at once).
    """

    def __init__(
        self,
        url: str = DEFAULT_LOG_URL,
        *,
        batch_size: int = 500,
        linger_seconds: float = 0.0,
        max_queue: int = 100_000,
        retry_seconds: float = 1.0,
        on_write: Callable[[int], None] | None = None,
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        self.url = check_url(url)
        self.batch_size = batch_size
        self.linger_seconds = linger_seconds
        self.retry_seconds = retry_seconds
        self.on_write = on_write or (lambda n: None)
        self.on_drop = on_drop or (lambda n: None)
        self.written = 0
        self.dropped = 0
        self.last_error: str | None = None
        self._engine: sa.Engine | None = None
        self._reader: sa.Engine | None = None  # `unknown_ids`, from the server's threads
        self._reader_lock = threading.Lock()
        self._turn = WriterTurn.for_url(self.url)
        self._next_connect = 0.0
        self._queue: queue.Queue[Item | None] = queue.Queue(max_queue)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="gitml-prediction-log", daemon=True)
        self._thread.start()

    def log_predictions(self, rows: list[dict[str, Any]], done: Done | None = None) -> None:
        # One queue item per request: its rows are committed (or dropped) together.
        self._put(("predictions", rows, done), len(rows))

    def log_feedback(
        self,
        prediction_id: str,
        label: int,
        done: Done | None = None,
        key_name: str | None = None,
        value: float | None = None,
        class_name: str | None = None,
    ) -> None:
        """The truth of a prediction: `label` (binary 0/1, multiclass the class's index) and,
        per task, `value` (regression) or `class_name` (multiclass)."""
        row = {"prediction_id": prediction_id, "label": label, "created_at": _now(),
               "key_name": key_name, "value": value, "class_name": class_name}  # fmt: skip
        self._put(("feedback", [row], done), 1)

    def log_failure(
        self, version: str, rows: int, error: str, key_name: str | None, done: Done | None = None
    ) -> None:
        """A call of `version` that raised instead of scoring `rows` rows (`failures`)."""
        row = {"id": str(uuid.uuid4()), "created_at": _now(), "model_version": version,
               "rows": rows, "error": error[:64], "key_name": key_name}  # fmt: skip
        self._put(("failures", [row], done), 1)

    def unknown_ids(self, ids: list[str]) -> list[str] | None:
        """The `ids` no logged prediction has (one query), or None when the log cannot be read
        (feedback is then taken as before: an outage must not turn labels away). Blocks: call
        it off the event loop. Never raises."""
        try:
            with self._reader_lock:
                if self._reader is None:
                    self._reader = engine_for(self.url)
                reader = self._reader
            with reader.connect() as conn:
                query = sa.select(predictions.c.id).where(predictions.c.id.in_(ids))
                known = set(conn.execute(query).scalars())
        except Exception as exc:
            log.warning("prediction log: cannot check feedback ids: %s", type(exc).__name__)
            return None
        return [i for i in ids if i not in known]

    def _put(self, item: Item, n: int) -> None:
        if self._closed:
            self._drop(n, "the log is closed", [item])
            return
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._drop(n, "queue full (the log database is too slow or down)", [item])

    def _drop(self, n: int, why: str, items: list[Item] | None = None) -> None:
        self.dropped += n
        self.last_error = why
        self.on_drop(n)
        _notify(items or [], False)

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, then stop the writer thread."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout)
        if self._engine is not None:
            self._engine.dispose()
        if self._reader is not None:
            self._reader.dispose()
        if not self._thread.is_alive():  # else the writer may still hold its turn
            self._turn.close()

    def _run(self) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            batch: list[Item] = []
            # Linger a moment so that rows arriving close together share one transaction: a
            # commit per request would spend the server's CPU (and GIL) on the log, not on
            # predictions. A row lands in the database at most `linger_seconds` later.
            deadline = time.monotonic() + self.linger_seconds
            while True:
                if item is None:
                    stop = True
                    break
                batch.append(item)
                if len(batch) >= self.batch_size:
                    break
                try:
                    wait = deadline - time.monotonic()
                    item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._write(batch)

    def _connect(self) -> sa.Engine | None:
        if self._engine is None and time.monotonic() >= self._next_connect:
            try:
                # In turn too: two workers creating the tables of a new file (and switching it
                # to WAL) at once made one fail with "database is locked" and drop its rows.
                with self._turn():
                    self._engine = engine_for(self.url)
            except Exception as exc:
                self._next_connect = time.monotonic() + self.retry_seconds
                self.last_error = f"cannot connect to {mask_url(self.url)}: {type(exc).__name__}"
                log.warning("prediction log: %s", self.last_error)
        return self._engine

    def _write(self, batch: list[Item]) -> None:
        n = sum(len(rows) for _, rows, _ in batch)
        engine = self._connect()
        if engine is None:
            self._drop(n, self.last_error or "no database", batch)
            return
        inserts = {
            table.name: [row for name, rows, _ in batch if name == table.name for row in rows]
            for table in (predictions, failures)
        }
        # Feedback may arrive twice for one prediction: the latest label wins (delete + insert
        # is an upsert every SQL dialect runs).
        fb = {
            row["prediction_id"]: row
            for table, rows, _ in batch
            if table == "feedback"
            for row in rows
        }
        try:
            with self._turn(), engine.begin() as conn:
                for table in (predictions, failures):
                    if inserts[table.name]:
                        conn.execute(table.insert(), inserts[table.name])
                if fb:
                    conn.execute(feedback.delete().where(feedback.c.prediction_id.in_(list(fb))))
                    conn.execute(feedback.insert(), list(fb.values()))
        except Exception as exc:
            self.last_error = f"write to {mask_url(self.url)} failed: {type(exc).__name__}"
            log.warning("prediction log: %s; %d rows dropped", self.last_error, n)
            self.dropped += n
            self.on_drop(n)
            _notify(batch, False)
            # A broken connection pool is rebuilt on the next batch.
            engine.dispose()
            self._engine = None
            return
        self.written += n
        self.on_write(n)
        _notify(batch, True)


def unknown_ids_message(ids: list[str]) -> str:
    """What POST /feedback answers (404) for ids no logged prediction has."""
    return (
        f"unknown prediction_id {', '.join(ids)}: no prediction with this id is in the "
        "prediction log; send the prediction_id POST /predict answered (for a prediction made "
        "a moment ago, retry in a second)"
    )


def _notify(items: list[Item], ok: bool) -> None:
    for _, _, done in items:
        if done is not None:
            try:
                done(ok)
            except Exception:  # a callback must not kill the writer thread
                log.exception("prediction log: a completion callback failed")


def _now() -> datetime:
    return datetime.now(UTC)
