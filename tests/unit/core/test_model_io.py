"""model_io: canonical skops bytes (equal models → equal files), hash check, type allowlist."""

from __future__ import annotations

import copy
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from gitml.config import DataConfig, SplitConfig
from gitml.core import model_io, models
from gitml.core.tasks import Task
from gitml.errors import DataError
from gitml.io.files import file_sha256
from gitml.pipeline import dataset

FAST: dict[str, dict[str, Any]] = {
    "hist_gradient_boosting": {"max_iter": 10},
    "logistic_regression": {"C": 1.0},
}
SETSTATE_CALLS: list[str] = []


class Doubler(TransformerMixin, BaseEstimator):
    """A custom class: skops can write it, gitml must refuse to load it."""

    def fit(self, X: Any, y: Any = None) -> Doubler:
        return self

    def transform(self, X: Any) -> Any:
        return X * 2

    def __setstate__(self, state: dict[str, Any]) -> None:
        SETSTATE_CALLS.append("loaded")  # proof that code from the file would have run
        self.__dict__.update(state)


@pytest.fixture(scope="module")
def data(adult_sample: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, models.Columns]:
    return dataset.split_xy(adult_sample, DataConfig(), SplitConfig())


@pytest.fixture(scope="module", params=sorted(models.families_for(Task.BINARY)))
def fitted(
    request: pytest.FixtureRequest, data: tuple[pd.DataFrame, np.ndarray, models.Columns]
) -> Pipeline:
    X, y, cols = data
    family = request.param
    return models.build(family, FAST[family], cols, seed=0).fit(X, y)


def entries(raw: bytes) -> list[zipfile.ZipInfo]:
    return zipfile.ZipFile(io.BytesIO(raw)).infolist()


def toy_pipeline(step: Any) -> Pipeline:
    rng = np.random.default_rng(0)
    X, y = rng.random((20, 2)), np.array([0, 1] * 10)
    return Pipeline([("f", step), ("m", LogisticRegression())]).fit(X, y)


def write(tmp_path: Path, raw: bytes, name: str = "m.skops") -> Path:
    path = tmp_path / name
    path.write_bytes(raw)
    return path


# --------------------------------------------------------------------------- canonical bytes


def test_two_dumps_of_the_same_model_canonicalise_to_the_same_bytes(fitted: Pipeline) -> None:
    first, second = sio.dumps(fitted), sio.dumps(fitted)
    # a deep copy is the same model held in other objects (other id()s): what a second
    # training run in another process produces
    third = sio.dumps(copy.deepcopy(fitted))
    canonical = model_io.canonical_skops(first)
    assert model_io.canonical_skops(second) == canonical
    assert model_io.canonical_skops(third) == canonical


def test_separately_fitted_twins_give_the_same_file(
    data: tuple[pd.DataFrame, np.ndarray, models.Columns], tmp_path: Path
) -> None:
    X, y, cols = data
    a = models.build("logistic_regression", {"C": 0.5}, cols, 1).fit(X, y)
    b = models.build("logistic_regression", {"C": 0.5}, cols, 1).fit(X, y)
    assert model_io.save_model(a, tmp_path / "a.skops") == model_io.save_model(
        b, tmp_path / "b.skops"
    )
    assert (tmp_path / "a.skops").read_bytes() == (tmp_path / "b.skops").read_bytes()


def test_canonical_archive_has_fixed_times_and_entry_order(fitted: Pipeline) -> None:
    infos = entries(model_io.canonical_skops(sio.dumps(fitted)))
    assert infos[0].filename == "schema.json"
    assert [i.filename for i in infos[1:]] == sorted(i.filename for i in infos[1:])
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}


def test_canonical_ids_are_dense_from_zero(fitted: Pipeline) -> None:
    raw = model_io.canonical_skops(sio.dumps(fitted))
    schema = json.loads(zipfile.ZipFile(io.BytesIO(raw)).read("schema.json"))
    found: set[int] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "__id__":
                    found.add(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    assert found == set(range(len(found)))  # no memory address left in the file


def test_loaded_model_predicts_exactly_the_same(
    fitted: Pipeline, data: tuple[pd.DataFrame, np.ndarray, models.Columns], tmp_path: Path
) -> None:
    X, _, _ = data
    sha = model_io.save_model(fitted, tmp_path / "model.skops")
    assert sha == file_sha256(tmp_path / "model.skops")
    loaded = model_io.load_model(tmp_path / "model.skops", expected_sha256=sha)
    assert np.array_equal(loaded.predict_proba(X), fitted.predict_proba(X))


def test_canonicalising_preserves_shared_references() -> None:
    shared = np.arange(5.0)
    scaler = StandardScaler().fit(np.random.default_rng(0).random((10, 2)))
    scaler.note_a = shared
    scaler.note_b = shared
    pipe = toy_pipeline(scaler)
    raw = model_io.canonical_skops(sio.dumps(pipe))
    loaded = sio.loads(raw, trusted=sio.get_untrusted_types(data=raw))
    assert loaded.steps[0][1].note_a is loaded.steps[0][1].note_b
    assert np.array_equal(loaded.steps[0][1].note_a, shared)


def test_canonical_form_is_a_fixed_point(fitted: Pipeline) -> None:
    once = model_io.canonical_skops(sio.dumps(fitted))
    assert model_io.canonical_skops(once) == once


def test_a_loaded_model_saves_to_the_same_bytes(fitted: Pipeline, tmp_path: Path) -> None:
    # load → save must not change the hash DVC/GTO recorded: the model is the same model
    sha = model_io.save_model(fitted, tmp_path / "a.skops")
    again = model_io.load_model(tmp_path / "a.skops", expected_sha256=sha)
    assert model_io.save_model(again, tmp_path / "b.skops") == sha


# --------------------------------------------------------------------------- refusing files


def test_a_changed_model_file_is_refused(fitted: Pipeline, tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    sha = model_io.save_model(fitted, path)
    model_io.load_model(path, expected_sha256=sha)  # fine before the change

    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="does not match") as info:
        model_io.load_model(path, expected_sha256=sha)
    assert "model.skops" in str(info.value)

    # a perfectly valid model that is not the recorded one is refused too
    other = model_io.save_model(toy_pipeline(StandardScaler()), tmp_path / "other.skops")
    assert other != sha
    with pytest.raises(DataError, match="does not match"):
        model_io.load_model(tmp_path / "other.skops", expected_sha256=sha)


def test_a_lambda_is_refused(tmp_path: Path) -> None:
    pipe = toy_pipeline(FunctionTransformer(lambda X: X + 1))
    path = write(tmp_path, sio.dumps(pipe))
    with pytest.raises(DataError, match="untrusted") as info:
        model_io.load_model(path)
    assert "lambda" in str(info.value)


def test_a_custom_class_is_refused_before_any_of_its_code_runs(tmp_path: Path) -> None:
    pipe = toy_pipeline(Doubler())
    raw = sio.dumps(pipe)
    path = write(tmp_path, raw)
    SETSTATE_CALLS.clear()
    with pytest.raises(DataError, match="untrusted") as info:
        model_io.load_model(path, expected_sha256=file_sha256(path))
    assert "Doubler" in str(info.value)
    assert SETSTATE_CALLS == []
    # the file is a valid skops file: only the allowlist stopped it
    sio.loads(raw, trusted=sio.get_untrusted_types(data=raw))
    assert SETSTATE_CALLS == ["loaded"]


def test_every_type_in_a_gitml_model_is_on_the_allowlist(fitted: Pipeline) -> None:
    untrusted = set(sio.get_untrusted_types(data=sio.dumps(fitted)))
    assert untrusted <= model_io.TRUSTED_TYPES


def test_a_bare_estimator_is_refused(tmp_path: Path) -> None:
    lr = LogisticRegression().fit(np.eye(4), [0, 1, 0, 1])
    path = write(tmp_path, sio.dumps(lr))
    with pytest.raises(DataError, match="Pipeline"):
        model_io.load_model(path)


def test_a_corrupt_or_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        model_io.load_model(tmp_path / "absent.skops")
    path = write(tmp_path, b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="skops"):
        model_io.load_model(path)


def test_save_model_replaces_the_file_and_leaves_no_temp_file(
    fitted: Pipeline, tmp_path: Path
) -> None:
    path = tmp_path / "model.skops"
    path.write_bytes(b"previous model")
    sha = model_io.save_model(fitted, path)
    assert file_sha256(path) == sha
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.skops"]
