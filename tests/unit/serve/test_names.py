"""The user's own column names (`mean radius`) next to the canonical ones (`mean_radius`):
accepted everywhere, and a near miss named, not guessed at."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from pydantic import ValidationError

from gitml.serve.names import SUGGESTED_MAX, InputNames
from gitml.serve.requests import ColumnSpec, request_model

NAMES = InputNames.of(
    ["mean_radius", "mean_texture", "grade"],
    {"mean_radius": "mean radius", "mean_texture": "mean texture", "target": "Diagnosis"},
)
REQUIRED = ["mean_radius", "mean_texture", "grade"]


def test_only_the_inputs_keep_an_original_name() -> None:
    assert NAMES.original == {"mean_radius": "mean radius", "mean_texture": "mean texture"}
    assert NAMES.aliases["mean radius"] == "mean_radius"
    assert NAMES.aliases["grade"] == "grade"


def test_either_spelling_is_accepted() -> None:
    matched = NAMES.match(["mean radius", "mean_texture", "grade", "id"], REQUIRED, strict=False)
    assert matched.problems == []
    assert matched.found == {
        "mean radius": "mean_radius",
        "mean_texture": "mean_texture",
        "grade": "grade",
    }


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("mean radiuss", "unknown column 'mean radiuss': did you mean 'mean radius'?"),
        ("Mean Radius", "unknown column 'Mean Radius': did you mean 'mean radius'?"),
        ("MEAN_RADIUS", "unknown column 'MEAN_RADIUS': did you mean 'mean radius'?"),
    ],
)
def test_a_near_miss_names_the_expected_name_once(given: str, expected: str) -> None:
    matched = NAMES.match([given, "mean texture", "grade"], REQUIRED, strict=False)
    # one problem: the near miss; not also "mean_radius is missing"
    assert [m for _, _, m in matched.problems] == [expected]


def test_missing_twice_and_unknown() -> None:
    matched = NAMES.match(["mean radius", "mean_radius", "colour"], REQUIRED, strict=True)
    assert [m for _, _, m in matched.problems] == [
        "column 'mean radius' (or 'mean_radius') is given twice, as 'mean radius' and "
        "'mean_radius': send it once",
        "unknown column 'colour'",
        "column 'mean texture' (or 'mean_texture') is missing",
        "column 'grade' is missing",
    ]
    # a file may carry other columns (an id, the target): not a problem when not strict
    assert NAMES.match(["colour", *REQUIRED], REQUIRED, strict=False).problems == []


SPECS = (
    ColumnSpec("mean_radius", True, False, ge=0.0, le=40.0, original="mean radius"),
    ColumnSpec("mean_texture", True, True, original="mean texture"),
    ColumnSpec("grade", False, False),
)


def _errors(body: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as info:
        request_model(SPECS).model_validate(body)
    return info.value.errors()


def test_request_rows_in_the_users_own_names() -> None:
    Row = request_model(SPECS)
    own = Row.model_validate({"mean radius": 12.0, "mean texture": None, "grade": "A"})
    canonical = Row.model_validate({"mean_radius": 12.0, "grade": "A"})
    assert own.model_dump() == {"mean_radius": 12.0, "mean_texture": None, "grade": "A"}
    assert canonical.model_dump() == {"mean_radius": 12.0, "mean_texture": None, "grade": "A"}
    assert "also accepted as 'mean radius'" in str(Row.model_json_schema())


def test_request_errors_one_per_problem_without_the_row() -> None:
    errors = _errors({"mean radiuss": 12.0, "grade": "A", "colour": "red"})
    assert [(e["loc"], e["type"], e["msg"]) for e in errors] == [
        (
            ("mean radiuss",),
            "extra_forbidden",
            "unknown column 'mean radiuss': did you mean 'mean radius'?",
        )
    ]  # 'colour' is no input's near miss: ignored, as gitml predict ignores it
    (missing,) = _errors({"mean radius": 12.0})
    assert (missing["loc"], missing["type"]) == (("grade",), "missing")
    # a missing renamed column is located by the user's name, as they would send it
    (missing,) = _errors({"mean_texture": 1.0, "grade": "A"})
    assert (missing["loc"], missing["msg"]) == (
        ("mean radius",),
        "column 'mean radius' (or 'mean_radius') is missing",
    )
    assert all(not isinstance(e["input"], dict) for e in errors)
    # a value error still names the column under the name it was sent as
    errors = _errors({"mean radius": 99.0, "grade": "A"})
    assert [(e["loc"], e["type"]) for e in errors] == [(("mean radius",), "less_than_equal")]


def test_a_row_in_the_training_file_s_format_is_accepted() -> None:
    """Columns the model does not use (an id, the target) are ignored over HTTP, as gitml
    predict ignores them (it copies them to its output); the answer uses the inputs only."""
    Row = request_model(SPECS)
    row = Row.model_validate({"id": 842302, "mean radius": 12.0, "grade": "A", "Diagnosis": "M"})
    assert row.model_dump() == {"mean_radius": 12.0, "mean_texture": None, "grade": "A"}
    assert "additionalProperties" not in Row.model_json_schema()


def test_a_model_without_original_names_takes_the_canonical_ones() -> None:
    plain = tuple(replace(s, original=None) for s in SPECS)
    errors = [e["msg"] for e in _errors_of(plain, {"mean radius": 1.0, "grade": "A"})]
    assert errors == ["unknown column 'mean radius': did you mean 'mean_radius'?"]


def _errors_of(specs: tuple[ColumnSpec, ...], body: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as info:
        request_model(specs).model_validate(body)
    return info.value.errors()


def test_suggestions_are_remembered_within_a_bound() -> None:
    names = InputNames.of(["mean_radius", "age"], {"mean_radius": "mean radius"})
    assert names.suggest("mean radus") == "mean radius"
    assert names.suggest("mean radus") == "mean radius"  # from the memo
    for i in range(SUGGESTED_MAX + 500):  # a client sending ever new names
        names.suggest(f"extra_{i}")
    assert len(names._suggested) == SUGGESTED_MAX
    assert names.suggest("agee") == "age"  # past the bound: still answered, not remembered
