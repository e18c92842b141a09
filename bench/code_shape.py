"""The shape of a Python codebase: function lengths and loosely typed dicts, by `ast`.

    python -m bench.code_shape [PATH ...]      # default: src/gitml

For each tree: the length in lines of every function and method (from its `def` to its last
line, decorators excluded), as median / p95 / max and the count over 80 lines; and the
occurrences of `dict[str, Any]` (also `Dict[str, Any]`) per 1,000 lines of code (non-blank,
non-comment lines). The figures of issue 22's table were measured this way; run it on another
checkout to compare. A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import statistics
from pathlib import Path
from typing import Any

LOOSE = re.compile(r"\b[Dd]ict\[\s*str\s*,\s*Any\s*\]")


def shape(root: Path) -> dict[str, Any]:
    lengths: list[tuple[int, str]] = []
    code_lines = loose = 0
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        code_lines += sum(
            1 for line in text.splitlines() if line.strip() and not line.strip().startswith("#")
        )
        loose += len(LOOSE.findall(text))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                lengths.append((n, f"{path.relative_to(root)}:{node.name}"))
    values = sorted(n for n, _ in lengths)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return {
        "functions": len(values),
        "median": statistics.median(values),
        "p95": p95,
        "max": values[-1],
        "over_80": sum(n > 80 for n in values),
        "longest": [f"{name} ({n})" for n, name in sorted(lengths, reverse=True)[:10]],
        "code_lines": code_lines,
        "dict_str_any": loose,
        "dict_str_any_per_1000": round(1000 * loose / code_lines, 1) if code_lines else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", type=Path, default=[Path("src/gitml")])
    args = ap.parse_args(argv)
    print(json.dumps({str(p): shape(p) for p in args.paths}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
