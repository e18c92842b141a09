"""docs/params.md and docs/cli.md are generated from the code: fail when a committed copy
differs. Rewrite them with `make docs` (or `GITML_WRITE_DOCS=1 pytest tests/docs`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docs.generate import GENERATED, ROOT, check_or_write, describe_type, params_md


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


# --------------------------------------------------------------------------- links

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "data/raw/README.md"]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    heads = re.findall(r"^#{1,6} (.+)$", text, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve_inside_the_repository(page: Path) -> None:
    """Every relative link names a file of this repository (and a heading of it, with #)."""
    bad = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.is_relative_to(ROOT) or not dest.exists():
            bad.append(f"{target}: no such file in the repository")
        elif anchor and anchor not in _anchors(dest):
            bad.append(f"{target}: no heading #{anchor}")
    assert bad == [], f"{page.relative_to(ROOT)}: " + "; ".join(bad)


def test_nothing_refers_outside_the_repository() -> None:
    """The founders' design lived in the workspace (../shared); the repository holds its own."""
    hits = [
        f"{path.relative_to(ROOT)}:{n}"
        for top in ("src", "tests", "bench", "docs", ".github", "schema")
        for path in (ROOT / top).rglob("*")
        if path.is_file() and path.suffix in {".py", ".md", ".yml", ".yaml", ".toml"}
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "shared/DESIGN" in line and path != Path(__file__)
    ]
    for name in ("README.md", "params.yaml", "dvc.yaml", "Makefile", "pyproject.toml"):
        if "shared/DESIGN" in (ROOT / name).read_text(encoding="utf-8"):
            hits.append(name)
    assert hits == []
