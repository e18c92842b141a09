"""Batch predictions: `gitml predict INPUT --out OUTPUT`, streamed chunk by chunk.

CSV or Parquet in and out (by file suffix). pyarrow reads the input in chunks (CSV blocks or
Parquet record batches), so a file larger than memory streams through; each chunk is checked
against the same column specs the server's request model is generated from (type, range,
nullability; an unseen category is accepted and counted), goes through the same
`gitml.core.features.apply`, and is appended to the output. The output holds the input columns plus
the task's (`output_columns`): binary `probability` and `label` (0/1); regression `prediction`;
multiclass `label` (the class name) and `probability_<class>` for each class. It appears only
when the whole file succeeded (temp file + rename).

A bad row is reported with its line number (CSV: line in the file, header = line 1; Parquet:
row number, first row = 1). `--on-error fail` (default) stops at the first chunk with bad rows,
writing nothing; `--on-error skip` leaves them out of the output and reports them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from gitml.core.tasks import Task
from gitml.errors import ConfigError, DataError
from gitml.io.files import _atomic
from gitml.serve.options import OnError
from gitml.serve.predictor import Predictor
from gitml.serve.requests import ColumnSpec, input_names
from gitml.serve.resolve import ResolvedModel

DEFAULT_MISSING = ["", "?", "NA", "N/A", "null"]
CHUNK_ROWS = 65_536
MAX_REPORTED = 20


@dataclass
class BadRow:
    line: int
    column: str
    problem: str
    value: Any

    def __str__(self) -> str:
        return f"{self.line}: {self.column}: {self.problem} (got {self.value!r})"


@dataclass
class PredictResult:
    rows_in: int = 0
    rows_out: int = 0
    bad: list[BadRow] = field(default_factory=list)  # the first MAX_REPORTED bad rows
    bad_count: int = 0
    unseen: dict[str, int] = field(default_factory=dict)
    positives: int = 0  # binary: rows labelled 1
    classes: dict[str, int] = field(default_factory=dict)  # multiclass: rows per predicted class
    # regression: the predictions' sum, lowest and highest, accumulated chunk by chunk
    total: float = 0.0
    low: float = float("inf")
    high: float = float("-inf")
    task: Task = Task.BINARY
    seconds: float = 0.0  # wall time of reading, checking, predicting and writing

    def counts(self) -> str:
        """What was predicted, in a few words (binary: the positives; multiclass: per class;
        regression: the predictions' range and mean)."""
        if self.task is Task.BINARY:
            return f"{self.positives:,} predicted positive, "
        if self.task is Task.REGRESSION:
            if not self.rows_out:
                return ""
            mean = self.total / self.rows_out
            return f"predictions {self.low:.4g} to {self.high:.4g}, mean {mean:.4g}; "
        top = sorted(self.classes.items(), key=lambda kv: -kv[1])[:5]
        return "".join(f"{n:,} predicted {name}, " for name, n in top)

    @property
    def rows_per_second(self) -> float:
        return self.rows_in / self.seconds if self.seconds else 0.0


def file_format(path: Path) -> Literal["csv", "parquet"]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise ConfigError(f"{path}: unknown file type {suffix or '(none)'!r}; use .csv or .parquet")


def check_paths(
    input_path: Path, out_path: Path, on_error: OnError | str = OnError.fail
) -> Literal["csv", "parquet"]:
    """The mistakes a path or an option can hold, caught before the model is loaded (seconds):
    the output's format, or a GitmlError naming the option."""
    if on_error not in set(OnError):
        raise ConfigError(f"--on-error must be skip or fail, got {on_error!r}")
    if not input_path.is_file():
        where = "" if input_path.is_absolute() else f" (looked in {Path.cwd()})"
        raise DataError(f"{input_path}: input file not found{where}")
    file_format(input_path)
    out_fmt = file_format(out_path)
    if input_path.resolve() == out_path.resolve():
        raise ConfigError(f"--out {out_path} is the input file; choose another path")
    if not out_path.parent.is_dir():
        raise ConfigError(f"--out {out_path}: the folder {out_path.parent} does not exist")
    return out_fmt


def _chunks(
    path: Path, specs: tuple[ColumnSpec, ...], missing: list[str], chunk_rows: int
) -> Iterator[tuple[pd.DataFrame, int, dict[str, str]]]:
    """(chunk as read, line number of its first row, its input columns' names -> canonical)."""
    names = input_names(specs)
    if file_format(path) == "parquet":
        try:
            pf = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"{path}: not a readable Parquet file ({exc})") from None
        found = _check_columns(path, pf.schema_arrow.names, specs)
        first = 1
        for batch in pf.iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas(), first, found
            first += batch.num_rows
        return
    # Every column as text: numbers are converted (and bad ones reported) by `_validate`.
    # Block size in bytes: about chunk_rows rows of a ~120-byte line.
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=max(1 << 16, chunk_rows * 128)),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names.aliases},
                strings_can_be_null=True,
                null_values=missing,
            ),
        )
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path}: not a readable CSV file ({exc})") from None
    found = _check_columns(path, reader.schema.names, specs)
    first = 2  # line 1 is the header
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid as exc:
            raise DataError(f"{path}: CSV parse error after line {first - 1}: {exc}") from None
        yield batch.to_pandas(), first, found
        first += batch.num_rows


def _check_columns(path: Path, names: list[str], specs: tuple[ColumnSpec, ...]) -> dict[str, str]:
    """The file's input columns (its own names or the canonical ones) -> canonical; DataError
    naming each column missing or given twice, and the expected name of a near miss."""
    matched = input_names(specs).match(names, [s.name for s in specs], strict=False)
    if matched.problems:
        listed = "\n  ".join(message for _, _, message in matched.problems)
        raise DataError(
            f"{path}: the columns do not match the model's inputs:\n  {listed}\n"
            "(name each input column as in your training file, or by its snake_case name)"
        )
    return matched.found


def in_own_names(bad: list[BadRow], found: dict[str, str]) -> list[BadRow]:
    """Bad rows named by the file's own column (`mean radius`), as POST /predict names them,
    not by the canonical name validation used (`mean_radius`)."""
    own = {canonical: name for name, canonical in found.items()}
    return [replace(b, column=own.get(b.column, b.column)) for b in bad]


def validate_chunk(
    chunk: pd.DataFrame, specs: tuple[ColumnSpec, ...], first_line: int
) -> tuple[pd.DataFrame, np.ndarray, list[BadRow], int]:
    """Typed model inputs, a mask of good rows, the first bad rows found and the bad count.

    Vectorised form of the request model's rules (same ColumnSpec): pydantic row by row would
    cost more than the model itself on a large file.
    """
    good = np.ones(len(chunk), dtype=bool)
    bad: list[BadRow] = []
    typed: dict[str, Any] = {}

    def flag(mask: np.ndarray, column: str, problem: str, values: pd.Series) -> None:
        nonlocal good
        hit = mask & good
        for i in np.flatnonzero(hit)[: MAX_REPORTED - len(bad)] if len(bad) < MAX_REPORTED else []:
            value = values.iloc[i]
            bad.append(
                BadRow(first_line + int(i), column, problem, None if pd.isna(value) else value)
            )
        good &= ~mask

    for spec in specs:
        raw = chunk[spec.name]
        absent = raw.isna().to_numpy()
        if spec.numeric:
            num = pd.to_numeric(raw, errors="coerce").astype("float64")
            flag((num.isna().to_numpy() & ~absent), spec.name, "not a number", raw)
            values = num.to_numpy()
            with np.errstate(invalid="ignore"):
                flag(~np.isfinite(values) & ~np.isnan(values), spec.name, "not finite", raw)
                for bound, op, text in (
                    (spec.ge, np.less, ">="),
                    (spec.gt, np.less_equal, ">"),
                    (spec.le, np.greater, "<="),
                    (spec.lt, np.greater_equal, "<"),
                ):
                    if bound is not None:
                        flag(op(values, bound), spec.name, f"must be {text} {bound:g}", raw)
            typed[spec.name] = num
        else:
            strings = raw.astype("str")
            flag(
                (strings.str.len().fillna(1).to_numpy() == 0) & ~absent,
                spec.name,
                "empty text",
                raw,
            )
            typed[spec.name] = strings
        if not spec.nullable:
            flag(absent, spec.name, "missing value in a required column", raw)
    frame = pd.DataFrame(typed, index=chunk.index)
    return frame, good, sorted(bad, key=lambda b: b.line), int((~good).sum())


def run(
    resolved: ResolvedModel,
    input_path: Path,
    out_path: Path,
    *,
    on_error: OnError | str = OnError.fail,
    missing_markers: list[str] | None = None,
    chunk_rows: int = CHUNK_ROWS,
    progress: Callable[[int], None] | None = None,
    fast_path: bool = True,
) -> PredictResult:
    """Predict every row of `input_path` into `out_path`; DataError on bad rows with `fail`.

    `fast_path`: score through the compiled model (gitml.serve.fast, checked equal to the
    Pipeline first); a model it cannot compile goes through the Pipeline.
    """
    out_fmt = check_paths(input_path, out_path, on_error)
    specs = resolved.specs
    result = PredictResult()
    predictor = Predictor.prepare(resolved, fast_path)
    result.task = predictor.task

    def write(tmp: Path) -> None:
        out = _Output(tmp, out_fmt)
        try:
            for chunk, first, found in _chunks(
                input_path, specs, missing_markers or DEFAULT_MISSING, chunk_rows
            ):
                result.rows_in += len(chunk)
                typed, good, bad, nbad = validate_chunk(chunk.rename(columns=found), specs, first)
                result.bad.extend(in_own_names(bad[: MAX_REPORTED - len(result.bad)], found))
                result.bad_count += nbad
                if nbad and on_error == "fail":
                    raise DataError(_bad_message(input_path, result))
                if good.any():
                    kept = typed[good] if nbad else typed  # all good: no copy
                    rows = _as_numbers(chunk[good] if nbad else chunk, kept, found, specs)
                    out.write(_scored(predictor, kept, rows, result))
                if progress is not None:
                    progress(len(chunk))
            if out.writer is None:  # no row kept: still a valid, empty output with the columns
                out.write_empty(specs, output_columns(predictor))
        finally:
            out.close()

    start = time.perf_counter()
    _atomic(out_path, write)
    result.seconds = time.perf_counter() - start
    return result


def _as_numbers(
    rows: pd.DataFrame, kept: pd.DataFrame, found: dict[str, str], specs: tuple[ColumnSpec, ...]
) -> pd.DataFrame:
    """`rows` with each numeric input the file gave as text (a CSV's columns are read as text)
    replaced by its validated number: written back as text, a CSV output would quote every
    number ("17.99"), which a spreadsheet reads as text."""
    numeric = {s.name for s in specs if s.numeric}
    as_text = [
        name
        for name, column in found.items()
        if column in numeric and not pd.api.types.is_numeric_dtype(rows[name])
    ]
    if not as_text:
        return rows
    return rows.assign(**{name: kept[found[name]].to_numpy() for name in as_text})


def output_columns(predictor: Predictor) -> dict[str, str]:
    """The columns batch predict adds for the model's task (name -> dtype)."""
    if predictor.task is Task.BINARY:
        return {"probability": "float64", "label": "int64"}
    if predictor.task is Task.REGRESSION:
        return {"prediction": "float64"}
    return {"label": "str"} | {f"probability_{c}": "float64" for c in predictor.classes}


def _scored(
    predictor: Predictor, kept: pd.DataFrame, rows: pd.DataFrame, result: PredictResult
) -> pd.DataFrame:
    """`rows` (as read) with the task's columns; the counts go into `result`."""
    scores = predictor.proba_frame(kept)
    for col, n in predictor.unseen_in_frame(kept).items():
        result.unseen[col] = result.unseen.get(col, 0) + n
    out = rows.reset_index(drop=True)
    if predictor.task is Task.BINARY:
        out["probability"] = scores
        out["label"] = predictor.labels(scores)
        result.positives += int(out["label"].sum())
    elif predictor.task is Task.REGRESSION:
        out["prediction"] = scores
        if len(scores):
            result.total += float(np.sum(scores))
            result.low = min(result.low, float(np.min(scores)))
            result.high = max(result.high, float(np.max(scores)))
    else:  # the most probable class (the first of equals, as scikit-learn's predict)
        names = np.asarray(predictor.classes, dtype=object)
        out["label"] = names[np.argmax(scores, axis=1)]
        for i, name in enumerate(predictor.classes):
            out[f"probability_{name}"] = scores[:, i]
        for label, n in out["label"].value_counts().items():
            result.classes[str(label)] = result.classes.get(str(label), 0) + int(n)
    result.rows_out += len(out)
    return out


class _Output:
    """The output file, written chunk by chunk with the first chunk's Arrow schema."""

    def __init__(self, path: Path, fmt: str) -> None:
        self.path, self.fmt = path, fmt
        self.writer: Any = None
        self.schema: pa.Schema | None = None

    def write(self, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self.writer is None:
            self.schema = table.schema
            self.writer = (
                pq.ParquetWriter(self.path, table.schema)
                if self.fmt == "parquet"
                else pacsv.CSVWriter(self.path, table.schema)
            )
        self.writer.write_table(table.cast(self.schema))

    def write_empty(self, specs: tuple[ColumnSpec, ...], added: dict[str, str]) -> None:
        empty = pd.DataFrame(
            {s.name: pd.Series(dtype="float64" if s.numeric else "str") for s in specs}
        )
        for name, dtype in added.items():
            empty[name] = pd.Series(dtype=dtype)
        table = pa.Table.from_pandas(empty, preserve_index=False)
        if self.fmt == "parquet":
            pq.write_table(table, self.path)
        else:
            pacsv.write_csv(table, self.path)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _bad_message(path: Path, result: PredictResult) -> str:
    shown = "\n  ".join(str(b) for b in result.bad)
    more = result.bad_count - len(result.bad)
    tail = f"\n  … and {more} more" if more > 0 else ""
    return (
        f"{path}: rows break the data contract (line: column: problem):\n  {shown}{tail}\n"
        "Fix them, or pass --on-error skip to leave them out; nothing was written."
    )
