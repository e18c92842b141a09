"""registry.table: the rows `gitml registry` shows, from the versions and their evaluations."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gitml.errors import DataError
from gitml.registry import table
from gitml.registry import versions as registry
from gitml.registry.gate import Evaluation
from gitml.registry.versions import VersionInfo

WHEN = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)


def info(version: str, message: str, stages: tuple[str, ...] = ()) -> VersionInfo:
    return VersionInfo(version, f"{version}-commit", WHEN, message, stages, stages)


@pytest.fixture
def rows(monkeypatch: pytest.MonkeyPatch) -> Any:
    """registry_rows over these versions; each commit's metrics from METRICS (a missing commit
    has no evaluation)."""

    def make(versions: list[VersionInfo], metrics: dict[str, dict[str, Any]]) -> Any:
        def at_rev(repo: Path, rev: str) -> Evaluation:
            if rev not in metrics:
                raise DataError(f"reports/evaluate/metrics.json is not in git at {rev}")
            return Evaluation(metrics[rev], {"columns": {}})

        monkeypatch.setattr(registry, "list_versions", lambda repo: versions)
        monkeypatch.setattr(Evaluation, "at_rev", staticmethod(at_rev))
        return table.registry_rows(Path(), "roc_auc")

    return make


def test_each_version_with_its_metric_and_decision(rows: Any) -> None:
    got = rows(
        [
            info(
                "v0.2.0",
                "model@v0.2.0: promoted to prod\n\nPROMOTE: roc_auc 0.9100; 4/4 rules pass\n\n"
                "PASS floor:roc_auc: ...",
                ("prod",),
            ),
            info("v0.1.0", "registered by hand\nsecond line"),
        ],
        {"v0.2.0-commit": {"roc_auc": 0.91}, "v0.1.0-commit": {"roc_auc": 1}},
    )
    assert got == [
        table.RegistryRow(
            "v0.2.0",
            "v0.2.0-commit",
            WHEN,
            ("prod",),
            0.91,
            "PROMOTE: roc_auc 0.9100; 4/4 rules pass",
        ),
        table.RegistryRow("v0.1.0", "v0.1.0-commit", WHEN, (), 1, "registered by hand"),
    ]


def test_the_first_decision_line_wins_over_the_title(rows: Any) -> None:
    (row,) = rows(
        [info("v0.3.0", "title\nREFUSE: x\nPROMOTE: y")], {"v0.3.0-commit": {"roc_auc": 0.9}}
    )
    assert row.summary == "REFUSE: x"


@pytest.mark.parametrize(
    ("metrics", "primary"),
    [
        ({}, None),  # no evaluation at that commit: shown as "-", not an error
        ({"v-commit": {"pr_auc": 0.8}}, None),  # evaluated without the primary metric
        ({"v-commit": {"roc_auc": None}}, None),
        ({"v-commit": {"roc_auc": "0.9"}}, None),  # not a number
        ({"v-commit": {"roc_auc": 0}}, 0),
    ],
)
def test_primary_metric_is_a_number_or_none(
    rows: Any, metrics: dict[str, Any], primary: float | None
) -> None:
    (row,) = rows([info("v", "")], metrics)
    assert row.primary == primary
    assert row.summary == ""  # an empty tag message


def test_no_versions_no_rows(rows: Any) -> None:
    assert rows([], {}) == []
