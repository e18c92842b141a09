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
"""

from __future__ import annotations

import hashlib
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

    def score(self, rows: list[dict[str, Any]], key: str | None) -> list[tuple[str, Loaded, float]]:
        """(prediction id, the model that scored the row, its score) per row, in order.

        With a key the whole request goes to one version; without one each row is routed by
        its own prediction id. Rows routed to one version are scored in one call.
        """
        ids = [str(uuid.uuid4()) for _ in rows]
        if key is not None or self.canary is None:
            chosen = self.pick(key) if key is not None else self.prod
            scores = chosen.predictor.proba_rows(rows)
            return [(i, chosen, float(s)) for i, s in zip(ids, scores, strict=True)]
        picks = [self.pick(i) for i in ids]
        out: list[tuple[str, Loaded, float] | None] = [None] * len(rows)
        for loaded in {id(p): p for p in picks}.values():
            where = [n for n, p in enumerate(picks) if p is loaded]
            scores = loaded.predictor.proba_rows([rows[n] for n in where])
            for n, s in zip(where, scores, strict=True):
                out[n] = (ids[n], loaded, float(s))
        return [o for o in out if o is not None]
