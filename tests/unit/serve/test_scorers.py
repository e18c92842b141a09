"""The compiled calibrators give scikit-learn's numbers bit for bit, without its input checks, and
scikit-learn's error where scikit-learn raises one."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.calibration import _SigmoidCalibration
from sklearn.isotonic import IsotonicRegression

from gitml.serve.scorers import calibration_of


def outcome(fn: Any, t: np.ndarray) -> tuple[str, Any]:
    """("ok", values) or ("raised", the exception's type)."""
    try:
        return "ok", np.asarray(fn(t))
    except Exception as exc:
        return "raised", type(exc)


@pytest.mark.parametrize(
    ("calibrator", "constant"),
    [
        (_SigmoidCalibration(), False),
        (IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1), False),
        (IsotonicRegression(out_of_bounds="nan"), False),
        (IsotonicRegression(out_of_bounds="raise"), False),
        (IsotonicRegression(out_of_bounds="clip"), True),  # one threshold: a constant
    ],
    ids=["sigmoid", "isotonic-clip", "isotonic-nan", "isotonic-raise", "isotonic-constant"],
)
def test_calibration_equals_the_calibrators_predict(calibrator: Any, constant: bool) -> None:
    rng = np.random.default_rng(0)
    raw = rng.normal(size=500)
    y = np.zeros(500) if constant else (raw + rng.normal(size=500) > 0).astype(float)
    calibrator.fit(raw, y)
    compiled = calibration_of(calibrator)
    assert compiled != calibrator.predict  # compiled, not the fallback
    inside = rng.uniform(raw.min(), raw.max(), size=1000)
    cases = {
        "inside the fitted range": np.concatenate([inside, [raw.min(), raw.max()]]),
        "one row": inside[:1],
        "beyond it": np.concatenate([inside, [raw.min() - 1, raw.max() + 1, -1e300, 1e300]]),
        "infinite": np.array([0.0, np.inf]),
        "minus infinite": np.array([-np.inf]),
        "NaN": np.array([np.nan, 0.0]),
    }
    for name, t in cases.items():
        want, got = outcome(calibrator.predict, t), outcome(compiled, t)
        assert want[0] == got[0], (name, want, got)
        if want[0] == "ok":
            assert got[1].dtype == np.float64, name
            np.testing.assert_array_equal(got[1], want[1], err_msg=name)  # NaN where NaN
        else:
            assert got[1] is want[1], name  # the same error as scikit-learn's


def test_an_unknown_calibrator_keeps_its_own_predict() -> None:
    class Other:
        def predict(self, t: np.ndarray) -> np.ndarray:
            return t

    other = Other()
    assert calibration_of(other) == other.predict
