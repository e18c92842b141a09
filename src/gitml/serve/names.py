"""The names a model's input columns may be given: canonical, or as in the user's own file.

Ingest renames columns to snake_case (`mean radius` -> `mean_radius`), and train records the
renaming in models/model.json (`original_names`). Every way into a model (POST /predict,
`gitml predict`, `gitml monitor --current`) accepts either spelling of each column. A name that
is neither (another case, a typo) is not guessed at: the message names the expected one
(`normalise_name` equality first, then difflib's closest spelling).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from gitml.core.names import normalise_name

CUTOFF = 0.8  # difflib similarity for "did you mean": a typo or two, not another column


@dataclass(frozen=True)
class Matched:
    """How the names given (a file's header, a request's keys) map to the model's columns."""

    found: dict[str, str] = field(default_factory=dict)  # name given -> canonical
    # (name or column, kind, message); kind: "unknown" | "twice" | "missing"
    problems: list[tuple[str, str, str]] = field(default_factory=list)


SUGGESTED_MAX = 1024


@dataclass(frozen=True)
class InputNames:
    columns: tuple[str, ...]  # canonical, in the model's order
    original: Mapping[str, str] = field(default_factory=dict)  # canonical -> the user's name
    # suggest()'s answers: a request in the training file's format sends the same extra names
    # (an id, the target) in every row, and difflib costs ~15 µs a name on the event loop
    _suggested: dict[str, str | None] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, columns: Iterable[str], original: Mapping[str, str]) -> InputNames:
        cols = tuple(columns)
        return cls(cols, {c: original[c] for c in cols if original.get(c, c) != c})

    @property
    def aliases(self) -> dict[str, str]:
        """Every accepted name -> its canonical column."""
        out = {c: c for c in self.columns}
        out.update({o: c for c, o in self.original.items()})
        return out

    def shown(self, column: str) -> str:
        """A column as the user knows it: their own name first."""
        own = self.original.get(column)
        return f"{own!r} (or {column!r})" if own else repr(column)

    def suggest(self, name: str) -> str | None:
        """The accepted name that `name` (not accepted) most likely means, if any."""
        if name in self._suggested:
            return self._suggested[name]
        canonical = normalise_name(name)
        if canonical in self.columns:
            guess: str | None = self.original.get(canonical, canonical)
        else:
            close = difflib.get_close_matches(name, list(self.aliases), n=1, cutoff=CUTOFF)
            guess = close[0] if close else None
        if len(self._suggested) < SUGGESTED_MAX:  # bounded: names come from clients
            self._suggested[name] = guess
        return guess

    def match(self, names: Iterable[str], required: Iterable[str], *, strict: bool) -> Matched:
        """Map `names` to the columns; a problem per column given twice, per unknown name
        (`strict`: every one; else only near misses, a file may carry other columns) and per
        required column missing that no near miss already explains. Messages name no values."""
        aliases, result = self.aliases, Matched()
        unknown = []
        for name in names:
            column = aliases.get(name)
            if column is None:
                unknown.append(name)
            elif column in result.found.values():
                first = next(k for k, v in result.found.items() if v == column)
                result.problems.append(
                    (name, "twice", f"column {self.shown(column)} is given twice, as {first!r} "
                     f"and {name!r}: send it once")
                )  # fmt: skip
            else:
                result.found[name] = column
        given = set(result.found.values())
        explained: set[str] = set()
        for name in unknown:
            guess = self.suggest(name)
            if guess is not None and aliases[guess] not in given | explained:
                explained.add(aliases[guess])
                message = f"unknown column {name!r}: did you mean {guess!r}?"
                result.problems.append((name, "unknown", message))
            elif strict:
                result.problems.append((name, "unknown", f"unknown column {name!r}"))
        for column in required:
            if column not in given and column not in explained:
                message = f"column {self.shown(column)} is missing"
                result.problems.append((self.original.get(column, column), "missing", message))
        return result
