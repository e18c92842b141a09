"""Unit tests run single-threaded.

OpenMP/BLAS thread pools spin-wait for each other on a busy 2-core machine (a 0.05 s model fit
takes 1 s); one thread keeps the unit run fast. Results must not depend on it (docs/design.md:
parallelism must not change results), so this changes speed only.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> Iterator[None]:
    with threadpool_limits(limits=1):
        yield
