"""Window lengths as people write them: '30m', '24h', '7d', '2w', '1d12h', or 'all'."""

from __future__ import annotations

import re
from datetime import timedelta

SINCE_HELP = "a duration such as 30m, 24h, 7d, 2w, 1d12h, or 'all'"

_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([wdhms])")


def parse_since(text: str) -> timedelta | None:
    """A window length ('7d', '24h', '30m', '2w', '1d12h'); 'all' (no limit) gives None.

    Hand-written (five units): pandas.Timedelta deprecates the lower-case 'd' and 'w' that
    people write, and reads a bare number as nanoseconds.
    """
    compact = text.strip().lower().replace(" ", "")
    if compact == "all":
        return None
    if not compact or _PART.sub("", compact):
        raise ValueError(f"{text!r} is not a duration; use {SINCE_HELP}")
    delta = sum(
        (timedelta(**{_UNITS[unit]: float(n)}) for n, unit in _PART.findall(compact)),
        timedelta(),
    )
    if delta < timedelta(seconds=1):
        raise ValueError(f"{text!r}: the window must be at least one second; use {SINCE_HELP}")
    return delta
