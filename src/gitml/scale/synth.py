"""`gitml synth`: a larger, SYNTHETIC data set made from a real one, for scale tests only.

Rows are drawn with replacement (seeded) from the source data set in canonical form (what ingest
writes); every numeric value other than zero and missing gets Gaussian noise of `noise` times
the column's standard deviation and is clipped into the column's observed range, so the result
still passes the data contract. Values are not rounded back to integers: a million rows drawn
from 32,561 would otherwise be mostly exact duplicates and fail `validate.max_duplicate_rate`.
Zeros are kept as they are (on Adult, `capital_gain` is 0 for 92% of people: noise would
invent capital income). Text columns and the label are resampled unchanged. The rows are not
real people and the label is not re-derived from the noisy values: use it to time and size the
pipeline, never to judge a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gitml.config import DataConfig
from gitml.errors import ConfigError
from gitml.io.files import write_csv, write_parquet
from gitml.pipeline.ingest import normalise, read_source

SUFFIXES = (".parquet", ".csv")


@dataclass(frozen=True)
class SynthResult:
    path: Path
    rows: int
    source_rows: int
    noisy_columns: list[str]


def synthesize(df: pd.DataFrame, rows: int, seed: int = 0, noise: float = 0.05) -> pd.DataFrame:
    """`rows` rows resampled from `df`, with noise on its numeric columns (see module doc).

    Bad arguments are ConfigErrors (exit code 2: a usage error)."""
    if rows < 1:
        raise ConfigError(f"--rows must be at least 1, got {rows}")
    if noise < 0:
        raise ConfigError(f"--noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    picked = df.iloc[rng.integers(0, len(df), size=rows)].reset_index(drop=True)
    for col in picked.columns:
        if not pd.api.types.is_float_dtype(picked[col]) or noise == 0:
            continue
        source = df[col].to_numpy(dtype="float64", na_value=np.nan)
        present = source[~np.isnan(source)]
        if present.size == 0:
            continue
        values = picked[col].to_numpy(dtype="float64", na_value=np.nan, copy=True)
        moved = ~np.isnan(values) & (values != 0)
        values[moved] += rng.normal(0.0, noise * float(present.std()), size=int(moved.sum()))
        low, high = float(present.min()), float(present.max())
        values[moved] = np.clip(values[moved], low, high)
        picked[col] = values
    return picked


def run(cfg: DataConfig, rows: int, out: Path, seed: int = 0, noise: float = 0.05) -> SynthResult:
    out = Path(out)
    if not out.name.lower().endswith(SUFFIXES):
        raise ConfigError(f"{out}: --out must end in {' or '.join(SUFFIXES)}")
    source = normalise(read_source(cfg), cfg)
    df = synthesize(source, rows, seed, noise)
    if out.name.lower().endswith(".parquet"):
        write_parquet(out, df)
    else:
        write_csv(out, df)
    noisy = [c for c in df.columns if pd.api.types.is_float_dtype(df[c])] if noise else []
    return SynthResult(out, len(df), len(source), noisy)
