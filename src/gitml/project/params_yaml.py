"""params.yaml as `gitml init` edits it: ruamel.yaml round-trips the file, so every key it does
not set keeps its value and its comment; a key it sets gets the reason as its comment."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

COMMENT_COLUMN = 33  # where params.yaml's end-of-line comments start


def load_doc(path: Path) -> tuple[YAML, CommentedMap]:
    rt = YAML()
    rt.preserve_quotes = True
    rt.width = 100
    rt.indent(mapping=2, sequence=2, offset=0)  # as DVC writes it: `dvc exp run -S` keeps the rest
    # No representer for None: ruamel's add_representer changes the class for every YAML in the
    # process (DVC's too), and its default (an empty value) is what `dvc exp run -S` writes.
    if not path.exists():
        return rt, CommentedMap()
    doc = rt.load(path.read_text(encoding="utf-8"))
    return rt, doc if isinstance(doc, CommentedMap) else CommentedMap()


def yaml_section(doc: CommentedMap, name: str) -> CommentedMap:
    if not isinstance(doc.get(name), CommentedMap):
        doc[name] = CommentedMap()
    return doc[name]


def set_key(section: CommentedMap, key: str, value: Any, why: str | None = None) -> None:
    """Set a key; its end-of-line comment (the template's, about Adult) becomes `why`."""
    section[key] = value
    section.ca.items.pop(key, None)
    if why:
        section.yaml_add_eol_comment(why, key, column=COMMENT_COLUMN)


def dump_doc(rt: YAML, doc: CommentedMap) -> str:
    buf = io.StringIO()
    rt.dump(doc, buf)
    # one blank line before each section, whatever comments the edits moved
    text = re.sub(r"\n+(?=[A-Za-z_]+:)", "\n\n", buf.getvalue())
    return text.lstrip("\n")


def flow_map(items: dict[str, Any]) -> CommentedMap:
    mapping = CommentedMap(items)
    mapping.fa.set_flow_style()
    return mapping


def flow_seq(items: list[Any]) -> CommentedSeq:
    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq
