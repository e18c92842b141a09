"""The compiled fast path (gitml.serve.fast) gives the Pipeline's probabilities, or refuses.

Both families tune can pick, fitted in-process on the 2,000-row sample (tests/served_model), all
five derived features on. Compared with `Pipeline.predict_proba` on the whole held-out split, on
rows with missing values, unseen categories and the schema's extreme numbers, one row at a time
and as a batch frame (the `gitml predict` path).
"""

from __future__ import annotations

import copy
import gc
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import RobustScaler

from gitml.core import features
from gitml.errors import DataError
from gitml.serve import fast
from gitml.serve.requests import to_frame
from gitml.serve.resolve import ResolvedModel, resolve
from tests.helpers import hostile_rows
from tests.served_model import model_repo

pytestmark = pytest.mark.xdist_group("serving")

FAMILIES = ["hist_gradient_boosting", "logistic_regression"]
# Both families as tune fits them, and each wrapped in a calibrator (train.calibration).
MODELS = [(f, "none") for f in FAMILIES] + [
    ("hist_gradient_boosting", "isotonic"),
    ("logistic_regression", "sigmoid"),
]


@pytest.fixture(scope="module", params=MODELS, ids=lambda m: "-".join(m))
def served(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    adult_sample: pd.DataFrame,
) -> tuple[Path, ResolvedModel]:
    family, calibration = request.param
    folder = tmp_path_factory.mktemp(f"{family}-{calibration}") / "repo"
    repo = model_repo(folder, adult_sample, family, calibration)
    return repo, resolve(repo)


def pipeline_proba(resolved: ResolvedModel, rows: list[dict[str, Any]]) -> np.ndarray:
    frame = features.apply(to_frame(rows, resolved.specs), resolved.derived)
    return np.asarray(resolved.model.predict_proba(frame[resolved.feature_order])[:, 1])


def records(df: pd.DataFrame, resolved: ResolvedModel) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(
        df[[s.name for s in resolved.specs]].to_json(orient="records")
    )
    return rows


def test_fast_path_equals_the_pipeline(served: tuple[Path, ResolvedModel]) -> None:
    repo, resolved = served
    model = fast.compile_model(resolved.model, resolved.specs, resolved.derived)
    assert isinstance(model, fast.FastModel), model
    test = records(pd.read_parquet(repo / "data/split/test.parquet"), resolved)
    hostile = hostile_rows(resolved.specs, test[:300])
    assert any(v is None for r in hostile for v in r.values())
    for rows in (test, hostile):
        expected = pipeline_proba(resolved, rows)
        got = model.proba_rows(rows)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
        one_by_one = np.array([model.proba_rows([r])[0] for r in rows[:50]])
        np.testing.assert_allclose(one_by_one, expected[:50], rtol=0, atol=1e-12)
        frame = model.proba_frame(to_frame(rows, resolved.specs))
        np.testing.assert_allclose(frame, expected, rtol=0, atol=1e-12)
        # In fact bit for bit: same scikit-learn arithmetic in the same order.
        assert np.array_equal(got, expected) and np.array_equal(frame, expected)


def test_load_check_refuses_a_compiled_model_that_differs(
    served: tuple[Path, ResolvedModel], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, resolved = served
    # a bug in the compiled path only (its scorer flips the probability); the Pipeline is intact
    right_hgb, right_logreg = fast.hgb_scorer, fast.logreg_scorer

    def flipped_hgb(*args: Any) -> Any:
        score, order = right_hgb(*args)
        return (lambda x: 1.0 - score(x)), order

    def flipped_logreg(*args: Any) -> Any:
        score = right_logreg(*args)
        return lambda x: 1.0 - score(x)

    right_calibrated = fast.calibrated_classes  # one calibrator (binary) or one per class

    def flipped_calibrated(*args: Any) -> Any:
        score = right_calibrated(*args)
        return lambda x: 1.0 - score(x)

    monkeypatch.setattr(fast, "hgb_scorer", flipped_hgb)
    monkeypatch.setattr(fast, "logreg_scorer", flipped_logreg)
    monkeypatch.setattr(fast, "calibrated_classes", flipped_calibrated)
    with pytest.raises(DataError, match="differs from the model's Pipeline"):
        fast.prepare(resolved.model, resolved.specs, resolved.derived, resolved.example)

    from gitml.serve.app import build

    with pytest.raises(DataError, match="refusing to serve"):
        build(resolved, "sqlite://")


def test_what_it_cannot_compile_is_served_by_the_pipeline(
    served: tuple[Path, ResolvedModel], caplog: pytest.LogCaptureFixture
) -> None:
    from fastapi.testclient import TestClient

    from gitml.serve.app import build

    _, resolved = served
    odd = ResolvedModel(**{**resolved.__dict__, "model": copy.deepcopy(resolved.model)})
    pre = odd.model.steps[0][1]
    name, _trans, cols = pre.transformers_[0]
    scaler = RobustScaler().fit(pd.DataFrame(np.zeros((2, len(cols))), columns=cols))
    pre.transformers_[0] = (name, scaler, cols)
    reason = fast.compile_model(odd.model, odd.specs, odd.derived)
    assert reason == "numeric step RobustScaler"
    with caplog.at_level(logging.INFO, logger="uvicorn.error"):
        app, _log, _ = build(odd, "sqlite://")
    assert "fast path off, predicting through the scikit-learn Pipeline: numeric step" in (
        caplog.text
    )
    with TestClient(app) as client:
        resp = client.post("/predict", json=resolved.example)
    assert resp.status_code == 200
    assert resp.json()["probability"] == pipeline_proba(odd, [resolved.example])[0]


def test_predict_endpoint_and_batch_command_use_it_and_agree(
    served: tuple[Path, ResolvedModel], tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from gitml.serve import predict
    from gitml.serve.app import build

    repo, resolved = served
    assert isinstance(
        fast.compile_model(resolved.model, resolved.specs, resolved.derived), fast.FastModel
    )
    test = pd.read_parquet(repo / "data/split/test.parquet")
    rows = records(test, resolved)
    app, _log, _ = build(resolved, f"sqlite:///{tmp_path}/log.db")
    with TestClient(app) as client:
        served_scores = [p["probability"] for p in client.post("/predict", json=rows).json()]
    predict.run(resolved, repo / "data/split/test.parquet", tmp_path / "out.parquet")
    batch = pd.read_parquet(tmp_path / "out.parquet")["probability"].to_numpy()
    expected = pipeline_proba(resolved, rows)
    assert np.array_equal(np.array(served_scores), expected)
    assert np.array_equal(batch, expected)


def test_predict_body_is_a_valid_prediction(served: tuple[Path, ResolvedModel]) -> None:
    """/predict builds its JSON itself (no response-model pass): it must still be one."""
    from fastapi.testclient import TestClient

    from gitml.serve.answers import Prediction
    from gitml.serve.app import build

    _, resolved = served
    app, _, _ = build(resolved, "sqlite://")
    with TestClient(app) as client:
        one = client.post("/predict", json={**resolved.example, "workclass": "Nowhere"})
        many = client.post("/predict", json=[resolved.example] * 3)
        # the start-up heap is frozen: full collections under load skip it (bench/README.md)
        assert gc.get_freeze_count() > 10_000
    assert gc.get_freeze_count() == 0
    assert one.headers["content-type"] == "application/json"
    assert Prediction.model_validate(one.json()).unseen == ["workclass"]
    assert [Prediction.model_validate(p).label in (0, 1) for p in many.json()] == [True] * 3
