"""The rows `gitml registry` shows: each version with its stage, commit, date, primary metric
and decision."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from gitml.errors import DataError
from gitml.registry import versions as registry
from gitml.registry.gate import Evaluation


@dataclass(frozen=True)
class RegistryRow:
    version: str
    commit: str
    registered_at: datetime
    stages: tuple[str, ...]
    primary: float | None
    summary: str


def registry_rows(repo: Path, primary_metric: str) -> list[RegistryRow]:
    rows = []
    for v in registry.list_versions(repo):
        try:
            value = Evaluation.at_rev(repo, v.commit).metrics.get(primary_metric)
        except DataError:
            value = None
        lines = [x for x in v.message.splitlines() if x.startswith(("PROMOTE", "REFUSE"))]
        rows.append(
            RegistryRow(
                v.version,
                v.commit,
                v.registered_at,
                v.stages,
                value if isinstance(value, int | float) else None,
                lines[0] if lines else v.message.splitlines()[0] if v.message else "",
            )
        )
    return rows
