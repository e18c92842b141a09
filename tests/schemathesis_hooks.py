"""Schemathesis hooks (SCHEMATHESIS_HOOKS=tests.schemathesis_hooks): hostile numbers and text.

Schemathesis generates from the OpenAPI schema, and valid JSON has no NaN, so on its own it
never sends the inputs that broke `gitml serve` (a 500 on `NaN`, a 50 MB category written to
the log). Here every generated body may also get one field replaced by NaN, Infinity,
-Infinity, 1e999, a 300-character or a 2-MB string, and bodies are written with Python's
`json.dumps`, which spells the non-finite numbers as the tokens a careless client sends.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis
from hypothesis import strategies as st

HOSTILE: list[Any] = [
    float("nan"),
    float("inf"),
    float("-inf"),
    1e308,
    -1e308,
    "x" * 300,
    "ü" * 2_000_000,  # 4 MB of UTF-8: under the 10 MB body limit, over any text limit
]


@schemathesis.serializer("application/json")
def json_with_non_finite(ctx: Any, value: Any) -> bytes:
    if isinstance(value, bytes):  # raw bytes schemathesis chose to send as they are
        return value
    # allow_nan: NaN, Infinity, -Infinity tokens; str(): a Binary value, as schemathesis sends it
    return json.dumps(value, default=str).encode()


def _spoil(row: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    if not row:
        return st.just(row)
    return st.tuples(st.sampled_from(sorted(row)), st.sampled_from(HOSTILE)).map(
        lambda kv: {**row, kv[0]: kv[1]}
    )


@schemathesis.hook
def flatmap_body(context: Any, body: Any) -> st.SearchStrategy[Any]:
    if isinstance(body, dict):
        return st.one_of(st.just(body), _spoil(body))
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return st.one_of(st.just(body), _spoil(body[0]).map(lambda first: [first, *body[1:]]))
    return st.just(body)
