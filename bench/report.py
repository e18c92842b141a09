"""Machine facts, the printed lines and the Markdown table of a benchmark run."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

LIBRARIES = ("dvc", "scikit-learn", "optuna", "pandas", "numpy", "skops")


def machine() -> dict[str, Any]:
    libs: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            libs[name] = version(name)
        except PackageNotFoundError:
            libs[name] = None
    return {
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "cpu": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "libraries": libs,
        "load_average_at_start": load_average(),
    }


def load_average() -> list[float] | None:
    """1/5/15-minute load: timings on a busy machine are slower and noisier."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)  # the file counts kB
    except OSError:
        pass
    return None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "auc":
        return f"{value:.4f}"
    if unit == "files":
        return f"{value:.0f} files"
    return f"{value:g} {unit}"


def fmt_ratio(ratio: float | None, unit: str) -> str:
    if ratio is None:
        return "-"
    return f"{ratio:.2%}" if unit == "files" else f"{ratio:.3f}x"


def line(name: str, r: dict[str, Any]) -> str:
    if "error" in r:
        return f"{name:<17} ERROR: {r['error'].splitlines()[0]}"
    goal = {True: "within goal", False: "OUTSIDE goal", None: "no goal"}[r["within_goal"]]
    return (
        f"{name:<17} {fmt(r['figure'], r['unit']):>12}  vs baseline "
        f"{fmt(r['baseline'], r['unit']):>12}  ratio {fmt_ratio(r['ratio'], r['unit']):>8}"
        f"  [{goal}: {r['goal']}]"
    )


def notes(name: str, r: dict[str, Any]) -> str:
    """The benchmark-specific details that matter, in one cell."""
    if "error" in r:
        return "error: " + r["error"].splitlines()[0]
    if "skipped" in r:
        return "skipped: " + r["skipped"]
    if name == "tpe_vs_random":
        seeds = ", ".join(f"seed {s['seed']}: {s['tpe_trials']}" for s in r["per_seed"])
        return f"TPE trials per seed ({seeds}); budget + 1 = never reached"
    if name == "workers_postgres":
        return f"{r['n_trials']} trials each on {r['train_rows']:,} rows; seconds {r['seconds']}"
    if name == "million_rows":
        return (
            f"peak RSS {r['peak_rss_gib']:.2f} GiB (baseline {r['baseline_peak_rss_gib']:.2f} "
            f"GiB); ROC-AUC {r['runs'][1]['roc_auc']} vs {r['runs'][0]['roc_auc']}"
        )
    if name == "cold_pipeline":
        slowest = sorted(r["direct_stage_seconds"].items(), key=lambda kv: -kv[1])[:3]
        top = ", ".join(f"{k} {v:.1f} s" for k, v in slowest)
        text = f"DVC overhead {r['dvc_overhead_seconds']:.2f} s; slowest stages (direct): {top}"
        if r["stages_skipped"]:
            text += (
                f"; DVC skipped {', '.join(r['stages_skipped'])} (locked deps, outputs in git);"
                f" all stages run directly: {r['direct_all_stages_seconds']:.1f} s"
            )
        return text
    if name == "noop_repro":
        ran = ", ".join(r["stages_ran"]) or "none"
        return f"stages run by the no-op repro: {ran}"
    if name == "evaluate_only":
        e = r["edit"]
        ran = ", ".join(r["stages_ran"]) or "none"
        restored = "identical" if r["restored_identical"] else "DIFFERENT"
        return f"{e['key']} {e['from']}→{e['to']}: ran {ran}; after restore outputs {restored}"
    if name == "determinism":
        text = f"dvc.lock identical: {r['lock_identical']}"
        if r["differing_paths"]:
            text += "; differing: " + ", ".join(f"`{p}`" for p in r["differing_paths"])
        if "matches_committed_lock" in r:
            text += f"; matches committed dvc.lock: {r['matches_committed_lock']}"
            if r["committed_lock_differing_outputs"]:
                diff = ", ".join(f"`{p}`" for p in r["committed_lock_differing_outputs"])
                text += f" (differs in {diff})"
        return text
    if name == "tuned_vs_default":
        return f"difference {r['difference']:+.4f}; tuned family {r['tuned_family']}"
    return ""


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    libs = ", ".join(f"{k} {v}" for k, v in m["libraries"].items())
    dirty = results["uncommitted_changes"]
    lines = [
        "# Benchmark results",
        "",
        f"Written by `python -m bench` ({results['mode']} mode) on {results['created']}; "
        "see bench/README.md for what each row measures. Each figure is shown next to a "
        "baseline measured in the same run, and their ratio.",
        "",
        f"- commit: `{results['commit']}`"
        + (
            f" (working tree had {len(dirty)} uncommitted change(s), not benchmarked)"
            if dirty
            else ""
        ),
        f"- cores: {m['cores']} (os.cpu_count); memory: {m['memory_gib']} GiB; cpu: {m['cpu']}",
        f"- python {m['python']}; {libs}",
        f"- platform: {m['platform']}",
        f"- load average (1/5/15 min) at start {m['load_average_at_start']}, "
        f"at end {results['load_average_at_end']}",
        f"- total wall time: {results['total_seconds']:.1f} s",
        "",
        "| benchmark | figure | baseline | ratio | goal | within goal | notes |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results["benchmarks"].items():
        if "error" in r:
            lines.append(f"| {name} | - | - | - | - | - | {notes(name, r)} |")
            continue
        lines.append(
            f"| {name} | {fmt(r['figure'], r['unit'])} ({r['figure_label']}) "
            f"| {fmt(r['baseline'], r['unit'])} ({r['baseline_label']}) "
            f"| {fmt_ratio(r['ratio'], r['unit'])} | {r['goal']} "
            f"| {'yes' if r['within_goal'] else 'no'} | {notes(name, r)} |"
        )
    return "\n".join(lines) + "\n"
