"""The prediction log: SQLAlchemy Core tables written by `gitml serve`, read by `gitml monitor`.

Defined once, here. SQLite (a file under logs/) is the embedded default; PostgreSQL for
production (`--log-db postgresql://…`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from gitml.errors import ConfigError
from gitml.io.dburl import mask_url, normalise_url

log = logging.getLogger(__name__)

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
    sa.Column("score", sa.Float, nullable=False),  # P(positive)
    sa.Column("label", sa.Integer, nullable=False),  # 0/1 at the threshold
    sa.Column("threshold", sa.Float, nullable=False),
    # names of the columns whose category was not seen in training
    sa.Column("unseen", sa.JSON, nullable=False),
)

feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("prediction_id", sa.String(36), primary_key=True),
    sa.Column("label", sa.Integer, nullable=False),  # ground truth 0/1
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


def engine_for(url: str = DEFAULT_LOG_URL) -> sa.Engine:
    """An engine for the log database; creates the tables (and a SQLite file's folder)."""
    parsed = sa.engine.make_url(normalise_url(url))
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed, pool_pre_ping=True)
    metadata.create_all(engine)
    return engine


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
    """

    def __init__(
        self,
        url: str = DEFAULT_LOG_URL,
        *,
        batch_size: int = 500,
        linger_seconds: float = 0.1,
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
        self._next_connect = 0.0
        self._queue: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue(max_queue)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="gitml-prediction-log", daemon=True)
        self._thread.start()

    def log_predictions(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self._put(("predictions", row))

    def log_feedback(self, prediction_id: str, label: int) -> None:
        self._put(
            ("feedback", {"prediction_id": prediction_id, "label": label, "created_at": _now()})
        )

    def _put(self, item: tuple[str, dict[str, Any]]) -> None:
        if self._closed:
            self._drop(1, "the log is closed")
            return
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._drop(1, "queue full (the log database is too slow or down)")

    def _drop(self, n: int, why: str) -> None:
        self.dropped += n
        self.last_error = why
        self.on_drop(n)

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, then stop the writer thread."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout)
        if self._engine is not None:
            self._engine.dispose()

    def _run(self) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            batch: list[tuple[str, dict[str, Any]]] = []
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
                    item = self._queue.get(timeout=max(deadline - time.monotonic(), 0.0))
                except queue.Empty:
                    break
            if batch:
                self._write(batch)

    def _connect(self) -> sa.Engine | None:
        if self._engine is None and time.monotonic() >= self._next_connect:
            try:
                self._engine = engine_for(self.url)
            except Exception as exc:
                self._next_connect = time.monotonic() + self.retry_seconds
                self.last_error = f"cannot connect to {mask_url(self.url)}: {type(exc).__name__}"
                log.warning("prediction log: %s", self.last_error)
        return self._engine

    def _write(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        engine = self._connect()
        if engine is None:
            self._drop(len(batch), self.last_error or "no database")
            return
        preds = [row for table, row in batch if table == "predictions"]
        # Feedback may arrive twice for one prediction: the latest label wins (delete + insert
        # is an upsert every SQL dialect runs).
        fb = {row["prediction_id"]: row for table, row in batch if table == "feedback"}
        try:
            with engine.begin() as conn:
                if preds:
                    conn.execute(predictions.insert(), preds)
                if fb:
                    conn.execute(feedback.delete().where(feedback.c.prediction_id.in_(list(fb))))
                    conn.execute(feedback.insert(), list(fb.values()))
        except Exception as exc:
            self.last_error = f"write to {mask_url(self.url)} failed: {type(exc).__name__}"
            log.warning("prediction log: %s; %d rows dropped", self.last_error, len(batch))
            self.dropped += len(batch)
            self.on_drop(len(batch))
            # A broken connection pool is rebuilt on the next batch.
            engine.dispose()
            self._engine = None
            return
        self.written += len(batch)
        self.on_write(len(batch))


def _now() -> datetime:
    return datetime.now(UTC)
