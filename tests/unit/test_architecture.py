"""The package's shape: layers import downwards only, no import circles, modules stay small.

grimp builds the import graph (function-level imports included); the rules are ours, and
docs/design.md explains them. An import that climbs a layer, or that reaches sideways into a
sibling package of the same layer, fails here with the offending line.
"""

from __future__ import annotations

from pathlib import Path

import grimp
import networkx as nx
import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "gitml"
# Top to bottom. Packages in one row are siblings: neither may import the other.
LAYERS: list[tuple[str, ...]] = [
    ("__main__",),
    ("cli",),
    ("review", "monitor"),
    ("serve",),
    ("registry", "scale", "project", "logstore", "contracts"),
    ("pipeline",),
    ("config",),
    ("core",),
    ("io",),
    ("errors", "layout", "gitml"),  # "gitml": the package root (its __version__)
]
RANK = {name: i for i, row in enumerate(LAYERS) for name in row}
MAX_LINES = 400


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("gitml")


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_every_package_has_a_layer(graph: grimp.ImportGraph) -> None:
    assert {_part(m) for m in graph.modules} <= set(RANK), "add the new package to LAYERS"


def test_imports_go_down_the_layers(graph: grimp.ImportGraph) -> None:
    bad = []
    for module in sorted(graph.modules):
        for target in sorted(graph.find_modules_directly_imported_by(module)):
            a, b = _part(module), _part(target)
            if a != b and RANK[b] <= RANK[a]:
                for d in graph.get_import_details(importer=module, imported=target):
                    bad.append(f"{module}:{d['line_number']} imports {target} ({a} -> {b})")
    assert bad == [], "imports that climb or cross a layer:\n" + "\n".join(bad)


def _circles(graph: grimp.ImportGraph) -> list[list[str]]:
    g = nx.DiGraph()
    for module in graph.modules:
        g.add_edges_from((module, t) for t in graph.find_modules_directly_imported_by(module))
    return [sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1]


def test_no_import_circle(graph: grimp.ImportGraph) -> None:
    assert _circles(graph) == []


def test_no_import_circle_in_the_benchmarks() -> None:
    assert _circles(grimp.build_graph("bench")) == []


def test_no_module_over_the_size_limit() -> None:
    sizes = {p.relative_to(SRC): len(p.read_text().splitlines()) for p in SRC.rglob("*.py")}
    assert {p: n for p, n in sizes.items() if n > MAX_LINES} == {}


def test_the_cli_starts_without_the_data_stack() -> None:
    """`gitml --help`, check-params and every command's parsing run in thousands of processes
    (each dvc stage, the CLI tests, each act step): pandas, numpy and scikit-learn load only in
    the commands that read a table (about 0.4 s of CPU a process)."""
    import subprocess
    import sys

    heavy = "{'pandas', 'numpy', 'sklearn'}"
    code = f"import sys, gitml.cli.app; print(sorted({heavy} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
