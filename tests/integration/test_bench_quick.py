"""The benchmarks still run: `python -m bench --smoke` finishes and records every figure.

Only that. Benchmarks record goals, they never enforce them, and neither does this test.
`--smoke` is `--quick` (the 2,000-row sample, every quick size) with fewer trials, requests,
versions and seconds (bench/README.md): each row still runs the code it runs at full size.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from bench import BENCHMARKS

from tests.helpers import ROOT, tool_env

CORE = ("cold_pipeline", "noop_repro", "evaluate_only", "determinism", "tuned_vs_default")
SCALING = ("tpe_vs_random", "workers_postgres", "million_rows", "report_speed")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@pytest.mark.slow
def test_bench_quick_records_every_figure(tmp_path: Path, postgres_url: str) -> None:
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(out)],
        cwd=ROOT,
        env={**tool_env(), "GITML_BENCH_PG_URL": postgres_url},  # workers_postgres' server
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"

    results = json.loads(out.read_text())
    assert results["mode"] == "smoke"
    assert set(results["benchmarks"]) == set(BENCHMARKS)  # every registered row ran
    assert set(CORE) | set(SCALING) <= set(BENCHMARKS)
    for name, figures in results["benchmarks"].items():
        for key in ("figure", "baseline", "ratio"):
            assert _is_number(figures.get(key)), f"{name}.{key} = {figures.get(key)!r}"
