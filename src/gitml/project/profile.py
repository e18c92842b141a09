"""Profile a data file for `gitml init`: how to read it, and what each column looks like.

Reads a bounded sample (the first MAX_ROWS rows), with the same normalisation as the ingest
stage, so the decisions are made on the table the pipeline will see.
"""

from __future__ import annotations

import csv
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import fsspec
import pandas as pd

from gitml.config import DataConfig
from gitml.core.names import normalise_name
from gitml.errors import DataError
from gitml.pipeline import ingest

MAX_ROWS = 100_000
SNIFF_BYTES = 64 * 1024
DELIMITERS = ",;\t|"
ID_NAME = re.compile(r"(^|_)(id|uuid|guid|key|index|row_?num(ber)?|record)$")
FREE_TEXT_WORDS = 3.0  # mean words per value
# A date (2024-07-15, 15/07/2024, 7.15.24), optionally with a time of day and a zone.
DATE = re.compile(
    r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?"
)


@dataclass
class Sample:
    frame: pd.DataFrame  # canonical form (ingest.normalise), target included
    delimiter: str
    encoding: str
    rows: int  # rows profiled
    truncated: bool  # the file has more rows than were profiled


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # numeric | categorical | text
    distinct: int
    missing_rate: float
    drop_reason: str | None = None


def _head_bytes(location: str) -> bytes:
    with fsspec.open(location, "rb", compression="infer") as fh:
        return bytes(fh.read(SNIFF_BYTES))


def detect_text_format(location: str) -> tuple[str, str]:
    """(delimiter, encoding) of a CSV-like file, from its first 64 KiB."""
    head = _head_bytes(location)
    for encoding in ("utf-8", "cp1252", "latin-1"):
        try:
            text = head.decode(encoding)
            break
        except UnicodeDecodeError as exc:
            if exc.start >= len(head) - 4:  # a character cut by the 64 KiB boundary
                text = head[: exc.start].decode(encoding)
                break
    lines = text.splitlines()[:50]
    if len(lines) > 1 and not text.endswith(("\n", "\r")):
        lines = lines[:-1]  # the last line may be cut
    sample = "\n".join(lines)
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        counts = {d: lines[0].count(d) for d in DELIMITERS} if lines else {}
        delimiter = max(counts, key=counts.__getitem__) if counts and max(counts.values()) else ","
        if location.lower().endswith(".tsv") and not counts.get(delimiter):
            delimiter = "\t"
    return delimiter, encoding


def read_sample(source: str, target: str, max_rows: int = MAX_ROWS) -> Sample:
    location = (
        str(ingest.builtin_path(source.removeprefix("builtin:")))
        if source.startswith("builtin:")
        else source
    )
    if "://" not in location and not Path(location).exists():
        raise DataError(f"{source}: file not found (looked in {Path.cwd()})")
    lower = location.lower()
    delimiter, encoding = ",", "utf-8"
    if lower.endswith(ingest.PARQUET_SUFFIXES):
        import pyarrow.parquet as pq

        try:
            with fsspec.open(location, "rb") as fh:
                pf = pq.ParquetFile(fh)
                total = pf.metadata.num_rows
                batch = next(pf.iter_batches(batch_size=max_rows), None)
                raw = batch.to_pandas() if batch is not None else pf.schema_arrow.empty_table()
        except (OSError, ValueError) as exc:
            raise DataError(f"{source}: cannot read as Parquet: {exc}") from None
        truncated = total > max_rows
    elif lower.endswith(ingest.CSV_SUFFIXES):
        delimiter, encoding = detect_text_format(location)
        try:
            raw = pd.read_csv(
                location,
                sep=delimiter,
                dtype=str,
                keep_default_na=False,
                encoding=encoding,
                skipinitialspace=True,
                nrows=max_rows + 1,
            )
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise DataError(f"{source}: cannot read as CSV: {str(exc).strip()}") from None
        truncated = len(raw) > max_rows
        raw = raw.head(max_rows)
    else:
        raise DataError(
            f"{source}: unknown file type {Path(location).suffix or '(no extension)'!r}; use one "
            f"of {', '.join(ingest.PARQUET_SUFFIXES + ingest.CSV_SUFFIXES)}"
        )
    cfg = DataConfig(source=source, target=target, delimiter=delimiter, encoding=encoding)
    frame = ingest.normalise(raw, cfg)
    return Sample(frame, delimiter, encoding, len(frame), truncated)


def integral(col: pd.Series) -> bool:
    present = col.dropna()
    return bool(len(present)) and bool((present == present.round()).all())


def describe(col: pd.Series, ids: set[str], max_categories: int) -> Column:
    """What a column is, and why it should not be a feature (drop_reason), if so."""
    name = str(col.name)
    n = len(col)
    present = col.dropna()
    distinct = int(present.nunique())
    missing = float(col.isna().mean()) if n else 0.0
    numeric = pd.api.types.is_numeric_dtype(col)
    kind = "numeric" if numeric else "categorical"
    unique_share = distinct / max(len(present), 1)
    reason: str | None = None
    if name in ids:
        reason = "identifier (named by --id)"
    elif distinct == 0:
        reason = "always missing"
    elif distinct == 1:
        reason = f"one value only ({present.iloc[0]!r}): carries no information"
    elif numeric:
        if ID_NAME.search(name) and integral(col) and unique_share >= 0.95:
            reason = f"identifier: its name, and {unique_share:.0%} of the values are distinct"
        elif integral(col) and unique_share == 1 and len(present) >= 20:
            ordered = present.sort_values().to_numpy()
            if (ordered[1:] - ordered[:-1] == 1).all():
                reason = "row number: consecutive distinct integers"
    else:
        words = float(present.astype(str).str.count(r"\S+").mean())
        if present.astype(str).str.fullmatch(DATE).all():
            reason = (
                f"dates (e.g. {str(present.iloc[0])!r}): every new row would bring a day the "
                f"model never saw; to test on the latest rows pass --time {shlex.quote(name)}"
            )
        elif words >= FREE_TEXT_WORDS and unique_share >= 0.5:
            kind = "text"
            reason = (
                f"free text ({words:.1f} words a value, {unique_share:.0%} distinct): "
                "the models do not read text"
            )
        elif unique_share >= 0.95 and len(present) >= 20:
            reason = f"identifier: {unique_share:.0%} of the values are distinct"
        elif distinct > max_categories:
            reason = (
                f"high-cardinality code ({distinct} distinct values > validate.max_categories "
                f"{max_categories}): too many categories to learn from"
            )
        elif ID_NAME.search(name) and unique_share >= 0.5:
            reason = f"identifier: its name, and {unique_share:.0%} of the values are distinct"
    return Column(name, kind, distinct, missing, reason)


def profile(frame: pd.DataFrame, target: str, keep: set[str], ids: set[str]) -> list[Column]:
    """Every column but the target; `keep` (the time column) is never dropped."""
    max_categories = 200
    out = []
    for name in frame.columns:
        if name == target:
            continue
        col = describe(frame[name], {normalise_name(i) for i in ids}, max_categories)
        if name in keep:
            col = Column(col.name, col.kind, col.distinct, col.missing_rate, None)
        out.append(col)
    return out
