"""The current window of the monitor: the rows the model saw (prediction log or a file)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from gitml.core.model_meta import ModelMeta
from gitml.core.tasks import Task
from gitml.monitor.common import SCORE, MonitorError
from gitml.monitor.reference import _read_table


@dataclass
class Current:
    """The rows the model saw in the window, raw (before featurize)."""

    frame: pd.DataFrame
    source: str
    scores: np.ndarray | None = None
    labels: np.ndarray | None = None  # predicted 0/1 at the model's threshold
    # multiclass: rows x classes probabilities (meta.classes order); `scores` is their maximum,
    # `labels` and `y_true` class codes. Regression: `scores` is the prediction, `y_true` the
    # true value (gitml.monitor.current_tasks)
    probs: np.ndarray | None = None
    y_true: np.ndarray | None = None  # ground truth from feedback (NaN where none)
    start: datetime | None = None
    end: datetime | None = None
    versions: dict[str, int] = field(default_factory=dict)  # rows per model version, kept ones
    logged_unseen_rows: int | None = None
    other_versions: dict[str, int] = field(default_factory=dict)  # rows left out, per version


def read_log(
    url: str,
    start: datetime | None,
    end: datetime,
    columns: list[str],
    by: Literal["prediction", "feedback"] = "prediction",
    feedback_columns: tuple[str, ...] = (),
) -> pd.DataFrame:
    """The logged predictions of a window, each with its feedback label as `y_true` (NaN when
    none) and the name of the API key that sent the label as `feedback_key` (None when none, or
    in a log older than keys), in prediction-time order; `columns` of the predictions table.
    MonitorError names the problem.

    `by` says whose time the window [start, end] is: "prediction" (the monitor: the requests of
    the window, labelled or not), or "feedback" (harvest: the labels that ARRIVED in the window,
    whenever their prediction was made, plus the window's predictions still without a label, so
    they can be counted). A label arriving weeks late then falls in the next run's window.

    `feedback_columns` (the tasks' `value`, `class_name`) are read as NULL from a log without
    them, as are `columns` the log's predictions table lacks."""
    import sqlalchemy as sa

    from gitml.logstore.logdb import feedback, predictions

    def within(time: Any) -> Any:
        return _within(time, start, end)

    def query(feedback_key: Any, present: set[str], extra: list[Any]) -> Any:
        q = (
            sa.select(
                *(_column(predictions, c) if c in present else sa.null().label(c) for c in columns),
                feedback.c.label.label("y_true"),
                feedback_key.label("feedback_key"),
                *extra,
            )
            .select_from(
                predictions.outerjoin(feedback, feedback.c.prediction_id == predictions.c.id)
            )
            .order_by(predictions.c.created_at, predictions.c.id)
        )
        if by == "feedback":
            waiting = sa.and_(feedback.c.prediction_id.is_(None), within(predictions.c.created_at))
            return q.where(sa.or_(within(feedback.c.created_at), waiting))
        return q.where(within(predictions.c.created_at))

    with _connected(url) as conn:
        # A log written before API keys (or latency_ms) lacks the column: read it as NULL
        # (a reader may not alter the database; the server adds it, add_missing_columns).
        names = {c["name"] for c in sa.inspect(conn).get_columns(feedback.name)}
        key = feedback.c.key_name if "key_name" in names else sa.null()
        present = {c["name"] for c in sa.inspect(conn).get_columns(predictions.name)}
        extra = [
            (_column(feedback, c) if c in names else sa.null()).label(f"feedback_{c}")
            for c in feedback_columns
        ]
        return pd.read_sql(query(key, present, extra), conn)


def _column(table: Any, name: str) -> Any:
    """`table`'s column `name`, also one this gitml's table definition lacks (a log written by
    a newer server): then by its SQL name."""
    import sqlalchemy as sa

    if name in table.c:
        return table.c[name]
    return sa.literal_column(f"{table.name}.{name}").label(name)


def read_failures(url: str, start: datetime | None, end: datetime) -> dict[str, int] | None:
    """Rows the server failed to score in [start, end], per model version (the log's
    `failures`); None for a log written before failures were logged (no such table)."""
    import sqlalchemy as sa

    from gitml.logstore.logdb import failures as table

    with _connected(url) as conn:
        if not sa.inspect(conn).has_table(table.name):
            return None
        query = (
            sa.select(table.c.model_version, sa.func.sum(table.c.rows))
            .where(_within(table.c.created_at, start, end))
            .group_by(table.c.model_version)
        )
        return {str(v): int(n) for v, n in conn.execute(query)}


def _within(time: Any, start: datetime | None, end: datetime) -> Any:
    import sqlalchemy as sa

    return sa.and_(time <= end, *([time >= start] if start is not None else []))


@contextlib.contextmanager
def _connected(url: str) -> Iterator[Any]:
    """A connection to the prediction log (which must have its predictions table); every
    problem, from a bad URL to a failing query in the block, as a MonitorError naming it."""
    import sqlalchemy as sa

    from gitml.io.dburl import mask_url, normalise_url
    from gitml.logstore.logdb import predictions

    shown = mask_url(url)
    try:
        parsed = sa.engine.make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        raise MonitorError(
            f"--log-db {shown!r} is not a database URL; e.g. sqlite:///logs/predictions.db or "
            "postgresql://user@host:5432/db"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database or ""
        if db in ("", ":memory:") or not Path(db).exists():
            raise MonitorError(
                f"prediction log {shown}: no such database file; start `gitml serve` (it "
                "creates it) or pass --log-db URL / --current FILE"
            )
    try:
        engine = sa.create_engine(normalise_url(url))
    except Exception as exc:  # a missing driver, a bad option
        raise MonitorError(f"prediction log {shown}: {exc}") from None
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(predictions.name):
                raise MonitorError(
                    f"prediction log {shown}: has no '{predictions.name}' table; "
                    "is this the database `gitml serve --log-db` writes to?"
                )
            yield conn
    except sa.exc.SQLAlchemyError as exc:
        # the driver's own message (DBAPIError.orig), without SQLAlchemy's SQL echo
        text = str(getattr(exc, "orig", None) or exc).strip()
        msg = text.splitlines()[0] if text else type(exc).__name__
        raise MonitorError(f"prediction log {shown}: cannot read it: {msg}") from None
    finally:
        engine.dispose()


def load_log(
    url: str,
    since: timedelta | None,
    now: datetime | None = None,
    version: str | None = None,
    meta: ModelMeta | None = None,
) -> Current:
    """Logged requests of the window, joined with their feedback (SQLAlchemy, any backend).

    With `version`, only the predictions that model version made are kept: the score
    distribution and the live quality belong to one model, and are compared with its own
    evaluation. The rows of other versions are counted in `other_versions`. A multiclass or
    regression `meta` also reads the task's columns (gitml.monitor.current_tasks).
    """
    from gitml.io.dburl import mask_url
    from gitml.monitor import current_tasks

    now = now or datetime.now(UTC)
    start = now - since if since is not None else None
    shown = mask_url(url)
    task_columns = current_tasks.log_columns(meta)
    rows = read_log(
        url,
        start,
        now,
        ["created_at", "model_version", "features", "score", "label", "unseen", *task_columns[0]],
        feedback_columns=task_columns[1],
    )
    other: dict[str, int] = {}
    if version is not None:
        mine = (rows["model_version"] == version).to_numpy()
        other = {str(k): int(v) for k, v in rows.loc[~mine, "model_version"].value_counts().items()}
        rows = rows.loc[mine].reset_index(drop=True)
    frame = pd.DataFrame.from_records(
        [f if isinstance(f, dict) else json.loads(f) for f in rows["features"]],
        index=range(len(rows)),
    )
    unseen = [u if isinstance(u, list) else json.loads(u or "[]") for u in rows["unseen"]]
    cur = Current(
        frame=frame,
        source=f"prediction log {shown}",
        scores=rows["score"].to_numpy("float64"),
        labels=rows["label"].to_numpy("int64"),
        y_true=pd.to_numeric(rows["y_true"], errors="coerce").to_numpy("float64"),
        start=start,
        end=now,
        versions={str(k): int(v) for k, v in rows["model_version"].value_counts().items()},
        logged_unseen_rows=sum(1 for u in unseen if u),
        other_versions=other,
    )
    if meta is not None and task_columns != ((), ()):
        _set_outputs(cur, current_tasks.from_log(rows, meta))
    return cur


def _set_outputs(cur: Current, out: Any) -> Current:
    """`cur` with a multiclass or regression window's outputs (current_tasks.Outputs)."""
    cur.scores, cur.labels, cur.probs, cur.y_true = out.scores, out.labels, out.probs, out.y_true
    return cur


def _own_names(frame: pd.DataFrame, meta: ModelMeta) -> pd.DataFrame:
    """The file's columns under their canonical names where it uses the user's own ones (as
    `gitml predict` writes them back: the input file's names, `mean radius`)."""
    renames = {
        own: canonical
        for canonical, own in meta.original_names.items()
        if own in frame.columns and canonical not in frame.columns
    }
    return frame.rename(columns=renames) if renames else frame


# The score column of a file: `gitml predict` writes `probability`; `score` is the log's name.
SCORE_COLUMNS = ("probability", SCORE)


def load_file(path: Path, meta: ModelMeta, *, inputs_only: bool = False) -> Current:
    """Rows from a file: `gitml predict`'s output as it is (inputs, `probability`, `label`), or
    any table with a `score` column; the target column, when present, is the ground truth.

    Without a score column nothing can be estimated, and a silent "no alarm" would mislead: that
    is an error naming the column, unless `inputs_only` (drift of the inputs alone) is asked."""
    frame = _own_names(_read_table(path, str(path)), meta)
    cur = Current(frame=frame, source=f"file {path}")
    if meta.task is not Task.BINARY:
        from gitml.monitor import current_tasks

        return _set_outputs(
            cur, current_tasks.from_file(frame, path, meta, inputs_only=inputs_only)
        )
    column = next((c for c in SCORE_COLUMNS if c in frame), None)
    if column is None:
        if inputs_only:
            return cur
        raise MonitorError(
            f"{path}: no score column ({' or '.join(SCORE_COLUMNS)}), so performance cannot be "
            "estimated; pass the output of `gitml predict` (it writes `probability`), or "
            "--inputs-only to check the inputs' drift alone"
        )
    cur.scores = pd.to_numeric(frame[column], errors="coerce").to_numpy("float64")
    bad = ~np.isfinite(cur.scores) | (cur.scores < 0) | (cur.scores > 1)
    if bad.any():
        raise MonitorError(
            f"{path}: column {column!r} must hold probabilities in [0, 1]; "
            f"{int(bad.sum())} row(s) do not (first at row {int(np.argmax(bad)) + 1})"
        )
    cur.labels = (cur.scores >= meta.threshold).astype("int64")
    target = meta.target
    if target and target in frame:
        from gitml.core import labels

        y = frame[target]
        positive = 1 if meta.positive_class is None else meta.positive_class
        truth = pd.Series(labels.is_positive(y, positive), index=y.index, dtype="float64")
        cur.y_true = truth.where(y.notna()).to_numpy("float64")
    return cur
