"""Short GIL slices while a follower loads a candidate (gitml.serve.follow).

CPython lets a thread hold the GIL for the switch interval (5 ms) before another thread gets
it; while the follower's thread reads, verifies and compiles a model, the event loop would wait
up to that long at every turn of a request. bench/swap_cost.py measured the requests' tail with
0.5 ms against 5 ms and a lower OS priority for the loading thread (which did not help: the OS
parks the thread while it holds the GIL).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator

# The GIL's switch interval while a candidate loads (CPython's: 5 ms): how long the event loop
# may wait for the GIL the loading thread holds, at every turn of a request (bench/README.md).
LOAD_SWITCH_INTERVAL = 0.0005

_SLICES = threading.Lock()
_LOADING = [0, 0.0]  # followers of this process loading now; the switch interval before them


@contextlib.contextmanager
def short_gil_slices() -> Iterator[None]:
    """LOAD_SWITCH_INTERVAL while any follower of the process loads (the tests run several)."""
    with _SLICES:
        if _LOADING[0] == 0:
            _LOADING[1] = sys.getswitchinterval()
            sys.setswitchinterval(min(_LOADING[1], LOAD_SWITCH_INTERVAL))
        _LOADING[0] += 1
    try:
        yield
    finally:
        with _SLICES:
            _LOADING[0] -= 1
            if _LOADING[0] == 0:
                sys.setswitchinterval(_LOADING[1])
