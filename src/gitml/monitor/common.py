"""What every part of the monitor shares: its error, its constants and the number rounding of
monitoring.json."""

from __future__ import annotations

import numpy as np

from gitml import layout
from gitml.errors import GitmlError

DEFAULT_OUT = layout.MONITORING_DIR
ALARM_LABEL = "model-drift"
ISSUE_TITLE = "Model drift alarm (gitml monitor)"
SCORE = "score"
# GitHub refuses issue and comment bodies longer than 65,536 characters.
GITHUB_BODY_LIMIT = 65_000


class MonitorError(GitmlError):
    """The monitor could not judge (bad input, missing reference, unreadable log). `gitml
    monitor`'s exit 1 is an alarm, so its errors exit 3 (gitml.cli.app.exit_code): a scheduled
    job never mistakes an error for an alarm or for all-clear."""


def significant(x: float | None, digits: int = 6) -> float | None:
    """A finite number rounded to `digits` significant digits for monitoring.json; else None.
    (`gitml.core.metrics.rounded` rounds to decimal places, for the pipeline's reports.)"""
    if x is None or not np.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")


# The sampling bands (binary and multiclass CBPE) draw labels for at most this many rows: a
# seeded subsample above it, the deviation scaled by sqrt(subsample / rows) (it shrinks as
# 1/sqrt(n)), which keeps memory bounded. Fixed seed: a band is a property of the scores.
MAX_BAND_ROWS = 20_000
BAND_SEED = 20170614


def band_sample(
    *arrays: np.ndarray,
) -> tuple[np.random.Generator, float, tuple[np.ndarray, ...]]:
    """The band's generator, the deviation's scale and the rows it draws for (same rows of
    every array)."""
    rng = np.random.default_rng(BAND_SEED)
    n = len(arrays[0])
    if n <= MAX_BAND_ROWS:
        return rng, 1.0, arrays
    keep = rng.choice(n, MAX_BAND_ROWS, replace=False)
    return rng, float(np.sqrt(MAX_BAND_ROWS / n)), tuple(a[keep] for a in arrays)
