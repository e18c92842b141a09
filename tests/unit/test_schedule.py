"""tests/schedule.py: `--dist loadgroup` deals the longest work out first."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests import schedule


@dataclass
class Item:
    """What the ordering reads of a pytest item: its id, module path and marks."""

    nodeid: str
    marks: list[pytest.Mark] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return Path(self.nodeid.split("::")[0])

    def iter_markers(self, name: str) -> list[pytest.Mark]:
        return [m for m in self.marks if m.name == name]

    def get_closest_marker(self, name: str) -> pytest.Mark | None:
        return next(iter(self.iter_markers(name)), None)


def group(name: str) -> pytest.Mark:
    return pytest.mark.xdist_group(name).mark


SLOW = pytest.mark.slow.mark


def ordered(items: list[Any], monkeypatch: pytest.MonkeyPatch, *, worker: bool = True) -> list[str]:
    if worker:
        monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    else:
        monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    config = SimpleNamespace(option=SimpleNamespace(loadgroup=True))
    schedule.pytest_collection_modifyitems(config, items)
    return [item.nodeid for item in items]


def collection() -> list[Item]:
    return [
        Item("tests/docs/test_a.py::test_fast"),
        Item("tests/e2e/test_b.py::test_many_1", [group("serving")]),
        Item("tests/e2e/test_b.py::test_many_2", [group("serving")]),
        Item("tests/integration/test_c.py::test_quick"),
        Item("tests/integration/test_c.py::test_long", [SLOW]),
        Item("tests/integration/test_bench_quick.py::test_bench", [SLOW]),
        Item("tests/unit/test_d.py::test_in_a_new_group", [group("zz-new")]),
        Item("tests/workflows/test_e.py::test_scenario", [SLOW, group("workflows")]),
    ]


def test_longest_units_first_then_slow_modules_then_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert ordered(collection(), monkeypatch) == [
        "tests/workflows/test_e.py::test_scenario",  # GROUP_ORDER's first: the longest
        "tests/e2e/test_b.py::test_many_1",
        "tests/e2e/test_b.py::test_many_2",
        "tests/unit/test_d.py::test_in_a_new_group",  # a group not listed: after those
        "tests/integration/test_bench_quick.py::test_bench",  # the longest ungrouped test
        "tests/integration/test_c.py::test_quick",  # its module holds a slow test: kept whole
        "tests/integration/test_c.py::test_long",
        "tests/docs/test_a.py::test_fast",
    ]


def test_a_run_without_xdist_keeps_the_collection_order(monkeypatch: pytest.MonkeyPatch) -> None:
    items = collection()
    assert ordered(items, monkeypatch, worker=False) == [i.nodeid for i in collection()]


def test_the_group_name_is_xdist_s() -> None:
    assert schedule.group_of(Item("t.py::t", [group("b"), group("a")])) == "a_b"
    assert schedule.group_of(Item("t.py::t")) is None


@pytest.mark.parametrize(("dist", "reorder"), [("loadgroup", False), ("load", True)])
def test_the_controller_keeps_the_collection_order_for_loadgroup(dist: str, reorder: bool) -> None:
    config = SimpleNamespace(option=SimpleNamespace(dist=dist, loadscopereorder=True))
    schedule.pytest_configure(config)
    assert config.option.loadscopereorder is reorder


def test_every_listed_group_exists() -> None:
    """A renamed group would silently fall behind the ones listed."""
    marked: set[str] = set()
    for path in Path(__file__).resolve().parents[1].rglob("test_*.py"):
        marked |= set(re.findall(r'xdist_group\("([^"]+)"\)', path.read_text(encoding="utf-8")))
    assert set(schedule.GROUP_ORDER) <= marked
    root = Path(__file__).resolve().parents[2]
    assert all((root / module).is_file() for module in schedule.LONGEST_MODULES)


def test_a_pytest_started_inside_a_worker_keeps_its_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """It inherits PYTEST_XDIST_WORKER but has no xdist option (test_suite_on_own_data)."""
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    items = collection()
    before = [item.nodeid for item in items]
    schedule.pytest_collection_modifyitems(SimpleNamespace(option=SimpleNamespace()), items)  # type: ignore[arg-type]
    assert [item.nodeid for item in items] == before
