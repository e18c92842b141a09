"""`gitml harvest`: the labelled production rows of a window, as training data.

Reads the prediction log written by `gitml serve` (SQLite or PostgreSQL, `gitml.logstore.logdb`)
joined with its feedback table. The window is the LABEL's arrival time (`feedback.created_at`),
not the prediction's: labels often come weeks late, and a weekly `--since 7d` run must still
pick up a label that arrived this week for a prediction made last month. It writes the rows
whose label arrived in the window to
`data/raw/production/DATE.parquet`: the canonical ingest columns (the request's input columns
and the target, as text: binary the class name of the 0/1 label, regression the number,
multiclass the class name; TRUTH_COLUMN), plus `prediction_id` and `logged_at` (the prediction time,
UTC), so each row can be traced back to the request. The file is then added to DVC.

Left out, and counted (printed and recorded in reports/harvest/DATE.json):

- unlabelled: predictions made in the window with no feedback yet (harvested by the run whose
  window their label arrives in);
- other_version: predicted by another model version than the one harvested (default: the
  version in stage prod; `--all-versions` takes every version);
- other_key: labels sent with another API key than the ones named (`--key NAME`, repeatable;
  default: every key, and labels sent to an open server);
- duplicate: a prediction id already in a harvest file (identical inputs under different ids
  are distinct requests and are kept);
- contract: rows that break the data contract (validate.schema_file), allowed categories
  included: training data must pass the contract the validate stage enforces;
- target_range (regression): a label the training target could not hold, which /feedback
  accepts as any finite number: beyond the training target's range (reports/validation.json)
  by more than that range's span, or negative for a target never negative (LABEL_MARGIN). One
  label of 1e308 would otherwise ruin the next model. Without the report nothing is checked.

The report also counts the window's labels per API key (`labels_by_key`: the name of the key
that posted each label to /feedback, `(none)` for a server without keys), before any is left
out: a key that suddenly sends many labels stands out.

Idempotent: running it twice on the same window writes nothing new (every id is already
harvested). Rows harvested on the same date go into the same file, merged.

Also counted, not left out: `test_overlap`, the written rows whose model inputs equal a row of
the workspace's test split (data/split/test.parquet; the report says when it is absent). The
split stage drops such rows from training and from the recent slice (gitml.pipeline.production,
which is how these rows join training): `gitml simulate --feedback` sends test-split rows, and
the gate's test metrics must not rise by training on them. They stay in the file, so the record
of what production sent is whole.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gitml import layout
from gitml.core import labels
from gitml.core.labels import PositiveClass
from gitml.core.tasks import Task
from gitml.errors import UnavailableError
from gitml.monitor.common import MonitorError
from gitml.monitor.current import read_log
from gitml.pipeline import production
from gitml.pipeline.production import ID, LOGGED_AT

REPORT_DIR = Path("reports/harvest")
# The feedback table's truth per task (gitml.serve.answers.feedback_fields), as read_log names
# it: a regression label row holds 0 and the value; a multiclass one the class's index and name.
TRUTH = ("value", "class_name")
TRUTH_COLUMN = {
    Task.BINARY: "y_true",
    Task.REGRESSION: "feedback_value",
    Task.MULTICLASS: "feedback_class_name",
}
TEST_SPLIT = layout.SPLIT_DIR / "test.parquet"
NO_KEY = "(none)"  # labels_by_key's name for labels sent to a server without keys
# A regression label may lie this many spans of the training target beyond its range (the
# contract's features get 0.1: a label is not refused for a market that moved, only for being
# impossible).
LABEL_MARGIN = 1.0


@dataclass
class HarvestResult:
    path: Path | None  # the file written (None: nothing new)
    written: int
    counts: dict[str, int] = field(default_factory=dict)
    version: str | None = None
    report: Path | None = None
    dvc_added: bool = False
    # written rows equal to a test-split row (the split stage leaves them out of training);
    # rows None: not compared (`note` says why)
    test_overlap: dict[str, Any] = field(default_factory=dict)
    labels_by_key: dict[str, int] = field(default_factory=dict)  # the window's labels, per key
    # regression: the labels kept (low, high); None: not checked (not regression, or no report)
    label_range: tuple[float, float] | None = None


def _class_names(schema: Any, target: str, positive: PositiveClass) -> tuple[str, str]:
    """(negative, positive) class names, from the target's allowed values in the contract."""
    column = schema.columns.get(target)
    allowed: list[str] = []
    for check in getattr(column, "checks", []) or []:
        if check.name == "isin":
            allowed = [str(v) for v in check.statistics.get("allowed_values", [])]
    mine = [v for v in allowed if labels.matches(v, positive)]
    others = [v for v in allowed if not labels.matches(v, positive)]
    if len(others) != 1 or len(mine) != 1:
        raise MonitorError(
            f"data contract: the target {target!r} must allow exactly two values (isin), one of "
            f"them data.positive_class {positive!r}; found {allowed or 'no isin check'}"
        )
    return others[0], mine[0]


def _truth(
    task: Task, schema: Any, target: str, positive: PositiveClass | None
) -> Callable[[pd.DataFrame], list[str]]:
    """The target's text for each labelled log row, as ingest stores a target (text): binary
    the class name of 0/1, regression the number (`repr`, which reads back exactly), multiclass
    the class name /feedback validated against the model's classes."""
    column = TRUTH_COLUMN[task]
    if task is Task.REGRESSION:
        return lambda rows: [repr(float(v)) for v in rows[column]]
    if task is Task.MULTICLASS:
        return lambda rows: [str(v) for v in rows[column]]
    if positive is None:
        raise MonitorError("data.positive_class: a binary target needs it to name its labels")
    negative, positive_name = _class_names(schema, target, positive)
    return lambda rows: [positive_name if int(v) == 1 else negative for v in rows[column]]


def _by_key(
    rows: pd.DataFrame, keys: list[str] | None, counts: dict[str, int]
) -> tuple[pd.DataFrame, dict[str, int]]:
    """(the labelled rows sent with `keys`, every one when None; the labels per key)."""
    by_key = rows["feedback_key"].fillna(NO_KEY).astype(str).value_counts()
    labels_by_key = {str(k): int(v) for k, v in sorted(by_key.items())}
    if keys is None:
        counts["other_key"] = 0
        return rows, labels_by_key
    sent = rows["feedback_key"].isin(keys)
    counts["other_key"] = int((~sent).sum())
    return rows.loc[sent], labels_by_key


def _harvested_ids(out_dir: Path) -> set[str]:
    ids: set[str] = set()
    for path in sorted(out_dir.glob("*.parquet")):
        try:
            ids |= set(pd.read_parquet(path, columns=[ID])[ID].astype(str))
        except Exception as exc:
            raise MonitorError(f"{path}: cannot read its {ID} column: {exc}") from None
    return ids


def _contract_failures(schema: Any, frame: pd.DataFrame) -> set[int]:
    import pandera.pandas as pa

    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        bad = pd.to_numeric(cases["index"], errors="coerce").dropna().astype(int)
        if bad.empty:  # a table-level failure (a missing column): every row fails
            return set(range(len(frame)))
        return set(bad.tolist())
    return set()


def compare_with_test(
    frame: pd.DataFrame,
    target: str,
    test_split: Path,
    exclude: list[str] | None = None,
    root: Path = Path(),
) -> dict[str, Any]:
    """`test_overlap` of the harvest report: the rows of `frame` whose model inputs equal a row
    of the test split at `root / test_split` (production.equal_to_test, the split stage's own
    check)."""
    shown = str(test_split)
    test_split = root / test_split
    if not test_split.is_file():
        return {
            "rows": None,
            "examples": [],
            "test_split": shown,
            "note": f"{shown} absent: not compared (the split stage still leaves rows equal to "
            "a test row out of training)",
        }
    try:
        test = pd.read_parquet(test_split)
        columns = production.inputs(test.columns, target, exclude or [])
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"the test split has column(s) {missing} the harvested rows lack")
        mask = production.equal_to_test(frame, test, columns)
    except Exception as exc:  # a stale or foreign test split: say so, harvest anyway
        return {
            "rows": None,
            "examples": [],
            "test_split": shown,
            "note": f"{shown}: not compared ({exc})",
        }
    return {**production.overlap(frame, mask).as_dict(), "test_split": shown}


def run(
    log_url: str,
    since: timedelta | None,
    schema_file: Path,
    target: str,
    positive_class: PositiveClass | None,  # binary's data.positive_class; None otherwise
    *,
    version: str | None = None,
    out_dir: Path = layout.PRODUCTION_DIR,
    date: str | None = None,
    now: datetime | None = None,
    dvc_add: bool = True,
    repo: Path = Path(),
    test_split: Path = TEST_SPLIT,
    exclude: list[str] | None = None,
    keys: list[str] | None = None,
    task: Task = Task.BINARY,
) -> HarvestResult:
    """`since`: the window of the labels' arrival (feedback time), ending at `now`.

    `keys`: keep only the labels sent with these API keys (by name; None: every label).

    `task` (data.task) says where the truth is: binary the feedback's 0/1 `label`, written as
    the class name; regression its `value`; multiclass its `class_name` (TRUTH_COLUMN).

    `test_split` (relative to `repo`): the rows written are compared with it (`test_overlap`);
    `exclude`: columns that are not model inputs (split.group_column/time_column)."""
    from gitml.core import schema as schema_mod

    now = now or datetime.now(UTC)
    date = date or now.strftime("%Y-%m-%d")
    schema = schema_mod.load(repo / schema_file)
    to_target = _truth(task, schema, target, positive_class)  # checked before the log is read
    start = now - since if since is not None else None
    counts: dict[str, int] = {}
    window = (start, now, TRUTH_COLUMN[task])
    rows, labels_by_key = _labelled_rows(log_url, window, version, keys, counts)
    seen = _harvested_ids(repo / out_dir)
    bounds = label_range(repo / layout.VALIDATION_REPORT) if task is Task.REGRESSION else None
    frame = _training_rows(rows, schema, target, to_target, seen, counts, bounds)
    if task is not Task.REGRESSION:
        counts.pop("target_range")
    result = HarvestResult(None, len(frame), counts, version, labels_by_key=labels_by_key)
    result.label_range = bounds
    result.test_overlap = compare_with_test(frame, target, test_split, exclude, repo)
    report = repo / REPORT_DIR / f"{date}.json"
    result.report = _write_report(report, result, start, now, log_url, keys)
    if frame.empty:
        return result
    result.path = _merge(repo / out_dir / f"{date}.parquet", frame)
    if dvc_add:
        _dvc_add(result.path, repo)
        result.dvc_added = True
    return result


def _labelled_rows(
    log_url: str,
    window: tuple[datetime | None, datetime, str],
    version: str | None,
    keys: list[str] | None,
    counts: dict[str, int],
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The log's rows whose label arrived in the window (start, end, the task's truth column:
    a row without it is unlabelled), of `version` (None: every one) and sent with `keys`;
    counts what is left out; the labels per key."""
    start, now, truth = window
    columns = ["id", "created_at", "model_version", "features"]
    rows = read_log(log_url, start, now, columns, by="feedback", feedback_columns=TRUTH)
    counts["logged"] = len(rows)
    labelled = rows[truth].notna()
    counts["unlabelled"] = int((~labelled).sum())
    rows, labels_by_key = _by_key(rows.loc[labelled], keys, counts)
    counts["other_version"] = 0
    if version is not None:
        mine = rows["model_version"] == version
        counts["other_version"] = int((~mine).sum())
        rows = rows.loc[mine]
    return rows, labels_by_key


def _training_rows(
    rows: pd.DataFrame,
    schema: Any,
    target: str,
    to_target: Callable[[pd.DataFrame], list[str]],
    seen: set[str],
    counts: dict[str, int],
    bounds: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """The logged rows as ingest's columns (the target as `to_target` writes it, text), with
    their id and prediction time; ids in `seen` (harvested before), rows breaking the
    contract and (`bounds`, regression) labels outside the range left out and counted."""
    inputs = pd.DataFrame.from_records(
        [f if isinstance(f, dict) else json.loads(f) for f in rows["features"]],
        index=range(len(rows)),
    )
    columns = list(schema.columns)
    frame = inputs.reindex(columns=[c for c in columns if c != target])
    frame[target] = to_target(rows)
    frame = frame[columns]
    # Only ids decide: identical inputs are legitimate distinct requests (Adult itself has
    # 10.6% exact duplicate rows), so they are kept; an id harvested before is not.
    dup = rows["id"].astype(str).isin(seen).to_numpy()
    counts["duplicate"] = int(dup.sum())
    bad = _contract_failures(schema, frame)
    contract = pd.Series(frame.index.isin(sorted(bad)), index=frame.index).to_numpy() & ~dup
    counts["contract"] = int(contract.sum())
    outside = np.zeros(len(frame), dtype=bool)
    if bounds is not None:
        value = pd.to_numeric(frame[target], errors="coerce").to_numpy(dtype="float64")
        outside = ~((value >= bounds[0]) & (value <= bounds[1])) & ~dup & ~contract
    counts["target_range"] = int(outside.sum())
    keep = ~dup & ~contract & ~outside
    frame = frame.loc[keep].copy()
    frame[ID] = rows["id"].astype(str).to_numpy()[keep]
    frame[LOGGED_AT] = pd.to_datetime(rows["created_at"], utc=True).to_numpy()[keep]
    counts["written"] = len(frame)
    return frame


def label_range(report: Path, margin: float = LABEL_MARGIN) -> tuple[float, float] | None:
    """The regression labels harvest keeps: the training target's range in the validate
    stage's report (quality.target min and max), widened by `margin` of its span each side
    and not below 0 for a target never negative; None when the report or its summary is
    missing (nothing is checked)."""
    try:
        summary = json.loads(report.read_text(encoding="utf-8"))["quality"]["target"]
        low, high = float(summary["min"]), float(summary["max"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not (np.isfinite(low) and np.isfinite(high)):
        return None
    from gitml.core.schema import span_widened  # pandera: not at import, as run() does

    return span_widened(low, high, margin)


def _write_report(
    path: Path,
    result: HarvestResult,
    start: datetime | None,
    now: datetime,
    log_url: str,
    keys: list[str] | None,
) -> Path:
    """reports/harvest/DATE.json."""
    from gitml.io.files import write_json

    return write_json(
        path,
        {"date": path.stem, "window": "feedback time (when the label arrived)",
         "window_start": None if start is None else start.isoformat(timespec="seconds"),
         "window_end": now.isoformat(timespec="seconds"), "version": result.version,
         "log": _masked(log_url), "counts": result.counts, "test_overlap": result.test_overlap,
         "keys": keys, "labels_by_key": result.labels_by_key,
         **({} if result.label_range is None else {"label_range": list(result.label_range)})},
    )  # fmt: skip


def _merge(path: Path, frame: pd.DataFrame) -> Path:
    """Write the rows to the day's file; a second harvest the same day merges into it, oldest
    first."""
    from gitml.io.files import write_parquet

    if path.exists():
        frame = pd.concat([pd.read_parquet(path), frame], ignore_index=True)
    frame = frame.sort_values([LOGGED_AT, ID], kind="stable").reset_index(drop=True)
    return write_parquet(path, frame)


def _dvc_add(path: Path, repo: Path) -> None:
    proc = subprocess.run(
        ["dvc", "add", str(path.relative_to(repo) if path.is_absolute() else path)],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise UnavailableError(
            f"dvc add {path}: failed (exit {proc.returncode}): {proc.stderr.strip()[:400]}; "
            "the file is written: run `dvc add` yourself, or pass --no-dvc"
        )


def _masked(url: str) -> str:
    from gitml.io.dburl import mask_url

    return mask_url(url)
