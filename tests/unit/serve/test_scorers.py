"""The compiled calibrators give scikit-learn's numbers bit for bit, without its input checks."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import _SigmoidCalibration
from sklearn.isotonic import IsotonicRegression

from gitml.serve.scorers import calibration_of


@pytest.mark.parametrize(
    "calibrator",
    [
        _SigmoidCalibration(),
        IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1),
        IsotonicRegression(out_of_bounds="nan"),
    ],
    ids=["sigmoid", "isotonic-clip", "isotonic-nan"],
)
def test_calibration_equals_the_calibrators_predict(calibrator: object) -> None:
    rng = np.random.default_rng(0)
    raw = rng.normal(size=500)
    y = (raw + rng.normal(size=500) > 0).astype(float)
    calibrator.fit(raw, y)  # type: ignore[attr-defined]
    # inside, on and beyond the fitted range, and extreme values
    t = np.concatenate([rng.normal(scale=3, size=1000), [raw.min(), raw.max(), -1e300, 1e300]])
    compiled = calibration_of(calibrator)
    assert compiled != calibrator.predict  # type: ignore[attr-defined]  # not the fallback
    expected = calibrator.predict(t)  # type: ignore[attr-defined]
    got = compiled(t)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, expected)  # NaN where scikit-learn gives NaN
    np.testing.assert_array_equal(compiled(t[:1]), expected[:1])


def test_an_unknown_calibrator_keeps_its_own_predict() -> None:
    class Other:
        def predict(self, t: np.ndarray) -> np.ndarray:
            return t

    other = Other()
    assert calibration_of(other) == other.predict
