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
