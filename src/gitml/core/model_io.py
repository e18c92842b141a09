"""Model files: skops (no pickle), written in a canonical byte form, loaded with a type allowlist.

`skops.io.dump` names the zip entries after memory addresses (`id()` of each object) and stamps
the current time into the zip, so two dumps of the same model differ byte for byte and DVC
sees a new hash on every run. skops has no option for this, so `canonical_skops` (hand-written)
renumbers those ids in order of appearance and rewrites the zip with a fixed timestamp and entry
order. The renumbering is a bijection, so object identity (shared references) is preserved.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import skops.io as sio
from sklearn.pipeline import Pipeline

from gitml.errors import DataError
from gitml.io.files import file_sha256, write_atomic

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)

# Types outside skops' default-trusted set that a gitml model may contain. Anything else in a
# model file is refused: loading is only as safe as this list is short.
TRUSTED_TYPES = frozenset(
    {
        "builtins.slice",
        # functools.partial wraps check_array inside the fitted ColumnTransformer; the wrapped
        # function is itself checked against this list.
        "functools.partial",
        "numpy.dtype",
        "numpy.float64",
        "numpy.int64",
        "numpy.ndarray",
        "numpy.random._mt19937.MT19937",
        "numpy.random.mtrand.RandomState",
        "sklearn._loss.link.Interval",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.loss.HalfBinomialLoss",
        # train.calibration: CalibratedClassifierCV holds one _CalibratedClassifier (the
        # estimator and its map: IsotonicRegression or _SigmoidCalibration)
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.calibration.CalibratedClassifierCV",
        "sklearn.isotonic.IsotonicRegression",
        "sklearn.compose._column_transformer.ColumnTransformer",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.impute._base.SimpleImputer",
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.preprocessing._encoders.OneHotEncoder",
        "sklearn.preprocessing._encoders.OrdinalEncoder",
        "sklearn.utils._bunch.Bunch",
        "sklearn.utils.validation.check_array",
    }
)


def canonical_skops(raw: bytes) -> bytes:
    """Rewrite a skops archive so that equal models give equal bytes."""
    src = zipfile.ZipFile(io.BytesIO(raw))
    schema = json.loads(src.read("schema.json"))
    ids: dict[int, int] = {}
    files: dict[str, str] = {}

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            # Sorted: numbering must follow content, not the order skops emitted attributes in.
            for key, value in sorted(node.items()):
                if key == "__id__" and isinstance(value, int):
                    out[key] = ids.setdefault(value, len(ids))
                elif key == "file" and isinstance(value, str) and value in names:
                    out[key] = files.setdefault(value, f"{len(files)}{Path(value).suffix}")
                else:
                    out[key] = walk(value)
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    names = set(src.namelist()) - {"schema.json"}
    schema = walk(schema)
    unreferenced = sorted(names - set(files))
    if unreferenced:
        raise RuntimeError(f"skops archive has unreferenced entries {unreferenced}")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        entries = [("schema.json", json.dumps(schema, sort_keys=True).encode())]
        entries += sorted(((new, src.read(old)) for old, new in files.items()), key=lambda e: e[0])
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            dst.writestr(info, data)
    return buf.getvalue()


def save_model(model: Pipeline, path: Path) -> str:
    """Write the model canonically; return its sha256."""
    write_atomic(path, canonical_skops(sio.dumps(model)))
    return file_sha256(path)


def load_model(path: Path | str, expected_sha256: str | None = None) -> Pipeline:
    """Load a model file after checking its hash and that it holds only trusted types."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: model file not found; run `dvc repro` (or `dvc pull`)")
    if expected_sha256 is not None:
        actual = file_sha256(path)
        if actual != expected_sha256:
            raise DataError(
                f"{path}: hash {actual[:12]}… does not match the recorded {expected_sha256[:12]}…; "
                "refusing to load a model file that was changed after it was recorded"
            )
    try:
        untrusted = set(sio.get_untrusted_types(file=path))
    except Exception as exc:  # a corrupt zip raises zipfile/json/KeyError types
        raise DataError(f"{path}: not a readable skops model file: {exc}") from None
    refused = sorted(untrusted - TRUSTED_TYPES)
    if refused:
        raise DataError(f"{path}: refusing to load untrusted types {refused}")
    model = sio.load(path, trusted=sorted(untrusted))
    if not isinstance(model, Pipeline):
        raise DataError(f"{path}: holds a {type(model).__name__}, expected a Pipeline")
    return model
