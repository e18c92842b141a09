"""docs/params.md and docs/cli.md are generated from the code: fail when a committed copy
differs. Rewrite them with `make docs` (or `GITML_WRITE_DOCS=1 pytest tests/docs`)."""

from __future__ import annotations

import pytest

from tests.docs.generate import GENERATED, check_or_write, describe_type, params_md


@pytest.mark.parametrize("name", list(GENERATED))
def test_generated_page_is_up_to_date(name: str) -> None:
    check_or_write(name, GENERATED[name]())


def test_params_page_lists_every_key() -> None:
    """Every key of every section, and the nested search-parameter keys, appear in the page."""
    from gitml.config import CategoricalParam, FloatParam, IntParam, Params

    text = params_md()
    for section_name, section in Params.model_fields.items():
        assert f"## `{section.alias or section_name}`" in text
        model = section.annotation
        assert model is not None
        for key, field in model.model_fields.items():  # type: ignore[union-attr]
            assert f"| `{field.alias or key}` |" in text, (section_name, key)
    for model in (FloatParam, IntParam, CategoricalParam):
        assert f"`{model.__name__}`:" in text


def test_types_read_as_words() -> None:
    from typing import Annotated, Literal

    from pydantic import Field

    assert describe_type(int | None) == "integer or `null`"
    assert describe_type(Literal["f1", "youden"]) == 'one of `"f1"`, `"youden"`'
    assert describe_type(Annotated[float, Field(gt=0, lt=1)]) == "number (> 0, < 1)"
    assert describe_type(dict[Literal["a"], float]) == 'mapping one of `"a"` → number'
