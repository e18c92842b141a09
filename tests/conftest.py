"""Shared fixtures: small samples of the real data and throw-away pipeline repositories."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from gitml.config import DataConfig
from gitml.pipeline.ingest import normalise, read_source
from tests.helpers import make_repo

# The `postgres_url` fixture: GITML_TEST_PG_URL's server, or a temporary one (tests/pg.py);
# the order of `--dist loadgroup`'s work, longest first (tests/schedule.py).
pytest_plugins = ["tests.pg", "tests.schedule"]


@pytest.fixture(scope="session")
def adult() -> pd.DataFrame:
    """The whole built-in data set in canonical (ingested) form."""
    cfg = DataConfig()
    return normalise(read_source(cfg), cfg)


@pytest.fixture(scope="session")
def adult_sample(adult: pd.DataFrame) -> pd.DataFrame:
    """2,000 rows, seeded: big enough for every rule and both classes in every fold."""
    return adult.sample(n=2000, random_state=0).reset_index(drop=True)


@pytest.fixture
def repo_factory(tmp_path: Path) -> Callable[..., Path]:
    def factory(
        raw: pd.DataFrame, params: dict[str, Any] | None = None, name: str = "repo"
    ) -> Path:
        return make_repo(tmp_path / name, raw, params)

    return factory
