"""gitml benchmarks: figures next to a baseline measured in the same run, and their ratio.

Benchmarks are not tests: they print and record, they never assert a goal. Run them from the
project root with `python -m bench` (full size: writes bench/results.json and bench/RESULTS.md)
or `python -m bench --quick` (2,000-row sample; writes to a temp file unless `--out` is given).
`--smoke` is `--quick` smaller still (fewer trials, requests, versions, seconds): the suite's
check that every row still runs (tests/integration/test_bench_quick.py), not figures to read.
Only the committed HEAD is benchmarked: each benchmark works in a fresh `git clone`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import report, scaling, serving, serving_fast, serving_keys, serving_tasks, site
from bench.benchmarks import BENCHMARKS as CORE_BENCHMARKS
from bench.workspace import ROOT, Workspace

__all__ = ["BENCHMARKS", "main", "run"]

# Every row, in the order results.json and RESULTS.md list them.
BENCHMARKS = {
    **CORE_BENCHMARKS,
    **scaling.BENCHMARKS,
    **serving.SERVING_BENCHMARKS,
    **serving_fast.SERVING_FAST_BENCHMARKS,
    **serving_tasks.BENCHMARKS,
    **serving_keys.BENCHMARKS,
    **site.BENCHMARKS,
}

BENCH_DIR = ROOT / "bench"
DEFAULT_RESULTS = BENCH_DIR / "results.json"
DEFAULT_MARKDOWN = BENCH_DIR / "RESULTS.md"


def run(
    quick: bool, only: Sequence[str] | None = None, keep: bool = False, smoke: bool = False
) -> dict[str, Any]:
    """Run the chosen benchmarks (all by default) and return the results document."""
    names = [n for n in BENCHMARKS if not only or n in only]
    start = time.perf_counter()
    results: dict[str, Any] = {
        "mode": "smoke" if smoke else "quick" if quick else "full",
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": report.machine(),
        "benchmarks": {},
    }
    with Workspace(quick=quick, keep=keep, smoke=smoke) as ws:
        results["commit"] = ws.head()
        results["uncommitted_changes"] = ws.dirty()
        if results["uncommitted_changes"]:
            print(
                f"note: {len(results['uncommitted_changes'])} uncommitted change(s) in "
                f"{ws.source} are NOT benchmarked (clones are of HEAD {results['commit'][:10]})"
            )
        m = results["machine"]
        print(
            f"{results['mode']} run on {m['cores']} cores, {m['memory_gib']} GiB, "
            f"python {m['python']}, " + ", ".join(f"{k} {v}" for k, v in m["libraries"].items())
        )
        for name in names:
            t0 = time.perf_counter()
            try:
                r = BENCHMARKS[name](ws)
            except Exception as exc:  # record it and go on: one broken row must not hide the rest
                r = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
            r["wall_seconds"] = round(time.perf_counter() - t0, 3)
            results["benchmarks"][name] = r
            print(report.line(name, r), flush=True)
    results["total_seconds"] = round(time.perf_counter() - start, 3)
    results["load_average_at_end"] = report.load_average()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000-row sample, fewer trials")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="--quick, smaller still: checks every row runs; figures not for reading",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=list(BENCHMARKS),
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="results file (default: bench/results.json for a full run of every benchmark, "
        "else a temp file, so quick or partial runs never overwrite the committed results)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp clones")
    args = parser.parse_args(argv)

    quick = args.quick or args.smoke
    results = run(quick, args.only, args.keep, args.smoke)
    full = not quick and not args.only
    out: Path = args.out or (
        DEFAULT_RESULTS
        if full
        else Path(tempfile.mkstemp(prefix="gitml-bench-", suffix=".json")[1])
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    print(f"results → {out}")
    if not quick:
        md = DEFAULT_MARKDOWN if out.resolve() == DEFAULT_RESULTS else out.with_suffix(".md")
        md.write_text(report.markdown(results))
        print(f"table   → {md}")
    failed = [n for n, r in results["benchmarks"].items() if "error" in r]
    for name in failed:
        print(f"\n{name} failed:\n{results['benchmarks'][name]['traceback']}")
    return 1 if failed else 0
