"""validate's thresholds as `gitml init` measures them on the kept columns, with headroom, and
the decision record init prints (key, value, why)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass
class Decision:
    key: str  # params key (or file) decided
    value: str
    why: str


def round_down(x: float, digits: int = 3) -> float:
    return math.floor(x * 10**digits) / 10**digits


def round_up(x: float, digits: int = 2) -> float:
    return math.ceil(x * 10**digits) / 10**digits


@dataclass(frozen=True)
class Limits:
    """validate's thresholds, measured on the kept columns with headroom, so that new data of
    the same kind passes."""

    max_missing: float
    max_dup: float
    min_rows: int
    min_minority: float | None
    max_categories: int
    why: dict[str, str]

    @classmethod
    def measure(
        cls,
        kept: list[Any],
        kept_frame: pd.DataFrame,
        minority: tuple[float, str] | None,
        rows: int,
        time: str | None,
    ) -> Limits:
        """`minority`: the rarer label's (rarest class's) share and what it is; None for a
        regression target (no label balance)."""
        worst = max(kept, key=lambda c: c.missing_rate, default=None)
        worst_rate = worst.missing_rate if worst else 0.0
        dup = float(kept_frame.duplicated().mean()) if len(kept_frame) else 0.0
        share, what = minority or (None, "")
        cats = [c.distinct for c in kept if c.kind == "categorical" and c.name != time]
        worst_name = f" ({worst.name})" if worst and worst_rate else ""
        return cls(
            max_missing=min(1.0, round_up(worst_rate + max(0.05, worst_rate * 0.25))),
            max_dup=min(1.0, round_up(dup + max(0.02, dup * 0.5))),
            min_rows=max(1, rows // 2),
            min_minority=None if share is None else max(0.001, round_down(share * 0.5)),
            max_categories=max(20, 2 * max(cats, default=0)),
            why={
                "max_missing_rate": f"worst column {worst_rate:.1%}{worst_name} + headroom",
                "max_duplicate_rate": f"{dup:.1%} duplicate rows + headroom",
                "min_rows": f"half of the {rows} rows profiled",
                "min_minority_rate": f"half of {what}'s {share or 0:.1%}",
                "max_categories": f"twice the most categories kept ({max(cats, default=0)})",
            },
        )

    def settings(self, schema_path: Path) -> dict[str, Any]:
        values = {
            "schema_file": str(schema_path),
            "max_missing_rate": self.max_missing,
            "max_duplicate_rate": self.max_dup,
            "min_rows": self.min_rows,
            "min_minority_rate": self.min_minority,
            "max_categories": self.max_categories,
        }
        return {k: v for k, v in values.items() if v is not None}

    def decisions(self, schema_path: Path) -> list[Decision]:
        why = {**self.why, "schema_file": "the schema draft written now: review it"}
        order = ("max_missing_rate", "max_duplicate_rate", "min_rows", "min_minority_rate",
                 "max_categories", "schema_file")  # fmt: skip
        values = self.settings(schema_path)
        return [Decision(f"validate.{k}", f"{values[k]}", why[k]) for k in order if k in values]
