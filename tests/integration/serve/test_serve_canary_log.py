"""What the server logs for `gitml canary`'s serving side: every answered row with the time its
version's model call took, and a call that raised as a failure of that version (500), which a
client's invalid request (422) is not. In-process (TestClient) on tests/served_model's model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest

from gitml.monitor import canary_run
from gitml.serve.resolve import resolve
from gitml.serve.routing import Loaded, Routing
from tests.served_model import model_repo

pytestmark = pytest.mark.xdist_group("serving")


class Broken:
    """A model whose every call raises, as a version with a bug in its scoring would."""

    threshold = 0.4

    def proba_rows(self, rows: list[dict[str, Any]]) -> np.ndarray:
        raise ValueError("a bug in the canary's scoring")


def test_rows_carry_their_latency_and_a_failing_version_is_logged(
    tmp_path: Path, adult_sample: pd.DataFrame
) -> None:
    from fastapi.testclient import TestClient

    from gitml.serve.app import build

    resolved = resolve(model_repo(tmp_path / "repo", adult_sample, "logistic_regression"))
    url = f"sqlite:///{tmp_path / 'log.db'}"
    since = datetime.now(UTC) - timedelta(minutes=1)
    app, log, metrics = build(resolved, url)
    with TestClient(app) as client:
        ok = client.post("/predict", json=[resolved.example] * 3)
        answers = app.state.answers
        prod = answers.routing.prod
        answers.routing = Routing(prod, Loaded(cast(Any, Broken()), "v-broken", None), share=1.0)
        failed = client.post(
            "/predict", json=[resolved.example] * 2, headers={"X-Request-Key": "k"}
        )
        invalid = client.post("/predict", json={**resolved.example, "age": "old"},
                              headers={"X-Request-Key": "k"})  # fmt: skip
    assert ok.status_code == 200, ok.text
    assert failed.status_code == 500
    assert failed.json()["detail"] == (
        "model v-broken failed to score 2 row(s) (ValueError); the failure is logged"
    )
    assert invalid.status_code == 422  # the client's error: no model was asked
    assert log.dropped == 0
    labels = {"path": "/predict", "status": "500"}
    assert metrics.registry.get_sample_value("gitml_http_requests_total", labels) == 1
    broken, served = canary_run.load_samples(
        url, "v-broken", prod.version, since, datetime.now(UTC)
    )
    assert (broken.failed, len(broken.scores)) == (2, 0)
    assert (served.failed, len(served.scores)) == (0, 3)
    assert served.latency_ms is not None
    lat = served.latency_ms
    # one call scored the three rows: each row carries its time, a real one (ms, not s)
    assert len(set(lat.tolist())) == 1 and 0.001 < lat[0] < 1000
