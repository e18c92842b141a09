"""The canary split (gitml.serve.routing): the share holds, a key always reaches one version,
and the bucket of a key is the same in another process (no salted `hash()`)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any, cast

import numpy as np

from gitml.serve.routing import Loaded, Routing, bucket


class Scorer:
    def __init__(self, value: float) -> None:
        self.value, self.calls = value, 0

    def proba_rows(self, rows: list[dict[str, Any]]) -> np.ndarray:
        self.calls += 1
        return np.full(len(rows), self.value)


def loaded(version: str, value: float) -> Loaded:
    return Loaded(cast(Any, Scorer(value)), version, None)


def test_the_share_holds_and_a_key_is_sticky() -> None:
    routing = Routing(loaded("v1", 0.1), loaded("v2", 0.2), share=0.1)
    keys = [f"customer-{i}" for i in range(10_000)]
    picks = {k: routing.pick(k).version for k in keys}
    share = sum(v == "v2" for v in picks.values()) / len(keys)
    assert abs(share - 0.1) <= 0.015, share
    assert all(routing.pick(k).version == picks[k] for k in keys[:2000])
    # a larger share keeps every key the smaller one sent to the canary (buckets are fixed)
    wider = Routing(routing.prod, routing.canary, share=0.3)
    assert all(wider.pick(k).version == "v2" for k, v in picks.items() if v == "v2")


def test_no_canary_or_no_share_is_prod() -> None:
    assert Routing(loaded("v1", 0.1)).pick("k").version == "v1"
    off = Routing(loaded("v1", 0.1), loaded("v2", 0.2), share=0.0)
    assert {off.pick(str(i)).version for i in range(500)} == {"v1"}


def test_score_routes_a_keyed_request_whole_and_rows_by_their_id() -> None:
    routing = Routing(loaded("v1", 0.1), loaded("v2", 0.2), share=0.5)
    rows: list[dict[str, Any]] = [{"x": i} for i in range(200)]
    keyed = routing.score(rows, "one-customer")
    assert len({v.version for _, v, _, _ in keyed}) == 1
    mixed = routing.score(rows, None)
    assert {v.version for _, v, _, _ in mixed} == {"v1", "v2"}
    for pid, version, score, _ in mixed:  # each row's score came from the version it names
        assert routing.pick(pid) is version and score == (0.1 if version.version == "v1" else 0.2)
    assert routing.canary is not None
    calls = [cast(Scorer, x.predictor).calls for x in (routing.prod, routing.canary)]
    assert sum(calls) == 3  # the keyed request: one call; the mixed one: one per version


def test_bucket_is_the_same_in_another_process() -> None:
    code = "from gitml.serve.routing import bucket; print(repr(bucket('customer-42')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert float(out.stdout) == bucket("customer-42")
