"""Atomic writes and hashing.

Every output is written to a temporary file in the destination folder, fsynced, then renamed
over the destination, so a killed stage leaves either the old file or the new one, never half
of one. Readers here turn low-level failures into DataError with the path in the message.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from gitml.errors import DataError

if TYPE_CHECKING:  # the CLI reads params.yaml through this module: pandas only when a table is
    import pandas as pd


def write_atomic(path: Path | str, data: bytes | str) -> Path:
    """Write bytes or UTF-8 text to `path` atomically."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    return _atomic(Path(path), lambda tmp: tmp.write_bytes(payload))


def write_json(path: Path | str, obj: Any) -> Path:
    """Stable JSON: sorted keys, fixed indentation, trailing newline (diff-friendly in git)."""
    return write_atomic(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")


def write_parquet(path: Path | str, df: pd.DataFrame) -> Path:
    # No pandas index and no creation timestamps: the same frame gives the same bytes.
    return _atomic(Path(path), lambda tmp: df.to_parquet(tmp, index=False, engine="pyarrow"))


def write_csv(path: Path | str, df: pd.DataFrame) -> Path:
    return write_atomic(path, df.to_csv(index=False, lineterminator="\n"))


def _atomic(path: Path, write: Callable[[Path], object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


@contextlib.contextmanager
def atomic_dir(path: Path | str) -> Iterator[Path]:
    """Build a whole folder in a sibling temp folder; swap it in only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        old = path.with_name(f".{path.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if path.exists():
            path.replace(old)
        tmp.replace(path)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_parquet(path: Path | str) -> pd.DataFrame:
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: not found; run the stage that writes it (dvc repro)")
    try:
        return pd.read_parquet(path, engine="pyarrow")
    except Exception as exc:  # pyarrow raises several unrelated types for a corrupt file
        raise DataError(f"{path}: cannot read Parquet: {exc}") from None


def read_json(path: Path | str) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: not found; run the stage that writes it (dvc repro)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON: {exc}") from None


def file_sha256(path: Path | str) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def yaml_problem(exc: yaml.YAMLError) -> str:
    """`line L, column C: problem (context at line L)` — pyyaml's own text names no file."""
    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem_mark is None:
        return str(exc)
    mark = exc.problem_mark
    text = f"line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
    if exc.context and exc.context_mark is not None:
        text += f" ({exc.context} that starts at line {exc.context_mark.line + 1})"
    return text


def read_table(data: bytes | Path, name: str) -> pd.DataFrame:
    """A CSV or Parquet table (chosen by the extension of `name`), from a path or from bytes
    read at a git revision; DataError naming the file."""
    import pandas as pd

    suffixes = "".join(Path(name).suffixes).lower()
    src = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        if suffixes.endswith((".parquet", ".pq")):
            return pd.read_parquet(src)
        if suffixes.endswith((".csv", ".csv.gz")):
            return pd.read_csv(src)
    except FileNotFoundError:
        raise DataError(f"{name}: file not found") from None
    except Exception as exc:  # pandas/pyarrow raise many types for a corrupt file
        raise DataError(f"{name}: cannot read it: {exc}") from None
    raise DataError(f"{name}: unknown file type; use a .csv, .csv.gz or .parquet file")
