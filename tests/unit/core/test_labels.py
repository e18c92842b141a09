"""positive_class as written in params.yaml (int, bool, str) against the target's text values."""

from __future__ import annotations

import pandas as pd
import pytest

from gitml.config import DataConfig
from gitml.core import labels


@pytest.mark.parametrize(
    ("label", "positive", "hit"),
    [
        ("1", 1, True),
        ("1.0", 1, True),
        ("0", 1, False),
        ("True", True, True),
        ("true", True, True),
        ("False", True, False),
        ("0", False, True),
        (">50K", ">50K", True),
        ("1.0", "1", True),
        ("yes", "Yes", False),
        (None, 1, False),
    ],
)
def test_matches(label: object, positive: labels.PositiveClass, hit: bool) -> None:
    assert labels.matches(label, positive) is hit


def test_is_positive_maps_the_whole_column() -> None:
    y = pd.Series(["1.0", "0.0", None, "1.0"])
    assert labels.is_positive(y, 1).tolist() == [1, 0, 0, 1]


def test_did_you_mean_lists_the_values_present() -> None:
    assert labels.did_you_mean(["<=50K", ">50K"], ">50k") == (
        "did you mean '>50K'? labels are ['<=50K', '>50K']"
    )
    assert labels.did_you_mean(["approved", "declined"], "yes") == (
        "labels are ['approved', 'declined']"
    )


def test_params_accept_int_bool_and_str() -> None:
    assert DataConfig(positive_class=1).positive_class == 1
    assert DataConfig(positive_class=True).positive_class is True
    assert DataConfig(positive_class="yes").positive_class == "yes"
    assert labels.yaml_value("1") == 1 and labels.yaml_value("approved") == "approved"
