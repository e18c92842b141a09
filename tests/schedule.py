"""The order in which `pytest -n 2 --dist loadgroup` hands out its work, longest first.

loadgroup deals out work units (one `xdist_group`, or one ungrouped test) from a queue to
whichever worker runs short. xdist sorts that queue by the number of tests in a unit, so the
workflow scenarios (12 tests, the longest unit) started seventh, and the single longest test
(`python -m bench --smoke`, ~190 s) was dealt out after test_bad_inputs.py: one worker ran it
alone at the end of the run while the other had nothing left. Longest first (LPT scheduling)
ends the run on short unit tests on both workers instead: the groups in `GROUP_ORDER`, then the
other groups, then `LONGEST_MODULES`, then the other test modules that hold a `slow` test, then
the rest; collection order within each.

Only the order changes: every test still runs, each group still on one worker.
"""

from __future__ import annotations

import os

import pytest

# Longest first, by their seconds in a `make test` of 2026-12-07 (loaded 2-core machine:
# workflows 695, serving 538, promotion 330, pipeline 151, report, monitor ~140, scaling 124).
# A group not listed runs after these, before the ungrouped tests.
GROUP_ORDER = ("workflows", "serving", "promotion", "pipeline", "report", "monitor", "scaling")
# Ungrouped modules longer than most groups: first among the ungrouped tests.
LONGEST_MODULES = ("tests/integration/test_bench_quick.py",)


def group_of(item: pytest.Item) -> str | None:
    """The unit's name as xdist's loadgroup forms it (its marks' names, sorted and joined)."""
    names = {
        str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
        for mark in item.iter_markers("xdist_group")
    }
    return "_".join(sorted(names)) if names else None


def rank(items: list[pytest.Item]) -> dict[str, tuple[int, int]]:
    """nodeid → its place: (0, i) the i-th listed group, (1, 0) other groups, (2, 0) a test of
    `LONGEST_MODULES`, (2, 1) of another module with a `slow` test, (3, 0) the rest."""
    slow_modules = {item.path for item in items if item.get_closest_marker("slow")}
    ranks = {}
    for item in items:
        group = group_of(item)
        if group in GROUP_ORDER:
            ranks[item.nodeid] = (0, GROUP_ORDER.index(group))
        elif group is not None:
            ranks[item.nodeid] = (1, 0)
        elif item.nodeid.split("::")[0] in LONGEST_MODULES:
            ranks[item.nodeid] = (2, 0)
        else:
            ranks[item.nodeid] = (2, 1) if item.path in slow_modules else (3, 0)
    return ranks


def pytest_configure(config: pytest.Config) -> None:
    # the controller builds the queue: in the workers' collection order, not by test count
    if getattr(config.option, "dist", "no") == "loadgroup":
        config.option.loadscopereorder = False


@pytest.hookimpl(tryfirst=True)  # before xdist appends "@group" to the node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # only where the order is the queue's: an xdist worker of a loadgroup run
    # (a pytest started inside a test inherits PYTEST_XDIST_WORKER, but not xdist's option)
    if os.environ.get("PYTEST_XDIST_WORKER") and getattr(config.option, "loadgroup", False):
        ranks = rank(items)
        items.sort(key=lambda item: ranks[item.nodeid])  # stable: collection order within
