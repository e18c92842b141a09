"""Which loaded model scores a request: prod, or the canary for a sticky share of request keys.

A `Loaded` is one verified, compiled and warmed model, never changed after it is built; a
`Routing` is the pair (prod, canary) with the canary's share, also immutable. The app holds one
`Routing` and the follower (gitml.serve.follow) replaces it whole, between requests: a request
reads it once and scores with what it read, so a swap never changes the model under a request
that already started, and every answer names the version that scored it.

The split is sticky: a key (the client's `X-Request-Key` header, else the prediction id) goes
to the canary when the first 8 bytes of its sha256, read as a fraction of 2**64, fall below the
share. The same key reaches the same version in every process and every run (Python's own
`hash()` is salted per process and would not).

Each model call is timed (the prediction log's `latency_ms`), and a call that raises is a
`ScoringError` naming the version (the log's `failures`): `gitml canary` compares both.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import Any

from gitml.serve.predictor import Predictor


@dataclass(frozen=True)
class Loaded:
    """One model ready to score: the predictor and the version it answers as."""

    predictor: Predictor
    version: str
    positive: str | None  # the positive class's name in answers (may be an int or bool in meta)

    @classmethod
    def of(cls, predictor: Predictor) -> Loaded:
        raw = predictor.resolved.metadata.positive_class
        return cls(predictor, predictor.resolved.version, None if raw is None else str(raw))


def bucket(key: str) -> float:
    """A key's place in [0, 1): stable across processes, runs and machines."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class Routing:
    prod: Loaded
    canary: Loaded | None = None
    share: float = 0.0  # of request keys sent to the canary, 0..1

    def pick(self, key: str) -> Loaded:
        if self.canary is None or self.share <= 0.0:
            return self.prod
        return self.canary if bucket(key) < self.share else self.prod

    def score(
        self, rows: list[dict[str, Any]], key: str | None
    ) -> list[tuple[str, Loaded, Any, float]]:
        """(prediction id, the model that scored the row, its output (a number; a vector of class
        probabilities for multiclass), the seconds that model's call took) per row, in order.
        ScoringError when a model raises.

        With a key the whole request goes to one version; without one each row is routed by
        its own prediction id. Rows routed to one version are scored in one call, timed with
        perf_counter (two clock reads a call: nothing against the call itself).
        """
        ids = [str(uuid.uuid4()) for _ in rows]
        if key is not None or self.canary is None:
            chosen = self.pick(key) if key is not None else self.prod
            scores, took = _timed(chosen, rows)
            return [(i, chosen, s, took) for i, s in zip(ids, scores, strict=True)]
        picks = [self.pick(i) for i in ids]
        out: list[tuple[str, Loaded, Any, float] | None] = [None] * len(rows)
        for loaded in {id(p): p for p in picks}.values():
            where = [n for n, p in enumerate(picks) if p is loaded]
            scores, took = _timed(loaded, [rows[n] for n in where])
            for n, s in zip(where, scores, strict=True):
                out[n] = (ids[n], loaded, s, took)
        return [o for o in out if o is not None]


class ScoringError(Exception):
    """A version raised while scoring rows: a failure of that version (the server answers 500
    and logs it per version), not of the client's request, which passed validation."""

    def __init__(self, loaded: Loaded, rows: int) -> None:
        super().__init__(f"model {loaded.version} failed to score {rows} row(s)")
        self.version, self.rows = loaded.version, rows


def _timed(loaded: Loaded, rows: list[dict[str, Any]]) -> tuple[Any, float]:
    start = time.perf_counter()
    try:
        scores = loaded.predictor.proba_rows(rows)
    except Exception as exc:
        raise ScoringError(loaded, len(rows)) from exc
    return scores, time.perf_counter() - start
