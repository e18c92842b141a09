"""The model site: `gitml site` on a repository of 50 registered versions.

The repository is synthetic but real-sized: each version commits this project's own evaluation
files (ROC and PR curves of ~3,000 points each, slices, importance, params, dvc.lock) with its
metrics and importance nudged, GTO tags with gitml's messages (register, prod assign,
superseded, and a rollback at the end), and each version's decision record as a git note.
Figure: the whole build (read + render 53 pages with three curve charts per version).
Baseline, same run: `gitml registry`'s table (GTO plus two `git show` per version), the
fastest thing that reads every version today. Detail: the same files read with one `git show`
per file per version, as the site must not. Smoke mode: 10 versions, one build.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.workspace import ROOT, Workspace
from bench.workspace import result as bench_result

VERSIONS = 50
GOAL_SECONDS = 10.0
RUNS = 3
FILES = [
    "reports/evaluate/metrics.json",
    "reports/evaluate/slices.json",
    "reports/evaluate/importance.csv",
    "reports/evaluate/plots/sklearn/roc.json",
    "reports/evaluate/plots/sklearn/precision_recall.json",
    "reports/evaluate/plots/sklearn/calibration.json",
    "params.yaml",
    "dvc.lock",
    "dvc.yaml",
]


def _git(repo: Path, *args: str, when: int | None = None) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@gitml.invalid",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@gitml.invalid")  # fmt: skip
    if when is not None:
        env["GIT_COMMITTER_DATE"] = env["GIT_AUTHOR_DATE"] = f"{when} +0000"
    proc = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {proc.stderr}")
    return proc.stdout.strip()


def _record(version: str, prod: str | None, m: dict[str, Any]) -> str:
    """The decision record `gitml promote` keeps as a git note (a promotion by CI)."""
    rule = {"name": "floor:roc_auc", "value": m["roc_auc"], "threshold": 0.85, "passed": True,
            "detail": f"roc_auc is {m['roc_auc']:.4f}; it must be at least 0.85"}  # fmt: skip
    return json.dumps({
        "timestamp": "2026-12-01T10:00:00Z", "outcome": "promoted",
        "summary": f"PROMOTE: roc_auc {m['roc_auc']:.4f} vs prod {prod}; 1/1 rules pass",
        "note": "", "candidate": {"ref": "HEAD", "commit": None, "version": version},
        "prod": {"version": prod, "commit": None}, "rules": [rule],
        "decided_by": {"name": "bench", "email": "bench@gitml.invalid"},
        "ci": {"run_url": "https://github.com/o/r/actions/runs/1", "workflow": "promote"},
    })  # fmt: skip


def make_repo(repo: Path, versions: int = VERSIONS) -> str:
    """`versions` registered versions; returns the version that ends in prod."""
    # Imported here: `python -m bench` loads HEAD's gitml only if no bench module imported the
    # working tree's first (Workspace.use_head_code).
    from gitml.registry.record import NOTES_REF

    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    originals = {f: (ROOT / f).read_bytes() for f in FILES}
    metrics = json.loads(originals["reports/evaluate/metrics.json"])
    t = 1_760_000_000
    prod: str | None = None
    previous_prod: str | None = None
    for i in range(versions):
        for f, raw in originals.items():
            (repo / f).parent.mkdir(parents=True, exist_ok=True)
            (repo / f).write_bytes(raw)
        m = metrics | {
            "roc_auc": round(0.90 + 0.0005 * i, 6),
            "pr_auc": round(0.80 + 0.0004 * i, 6),
        }
        (repo / FILES[0]).write_text(json.dumps(m, indent=2, sort_keys=True))
        # every version's importance differs (identical charts would be rendered once)
        lines = originals[FILES[2]].decode().splitlines()
        scaled = [lines[0]] + [
            f"{f},{float(x) * (1 + i / 100):.6f},{s}"
            for f, x, s in (r.split(",") for r in lines[1:])
        ]
        (repo / FILES[2]).write_text("\n".join(scaled) + "\n")
        with (repo / "params.yaml").open("a") as fh:
            fh.write(f"# version {i}\n")
        _git(repo, "add", "-A")
        t += 60
        _git(repo, "commit", "-qm", f"train version {i}", when=t)
        version = f"v0.{i + 1}.0"
        auc = f"{m['roc_auc']:.4f}"
        decision = (
            f"PROMOTE: roc_auc {auc}; 2/2 rules pass\n\n"
            f"PASS floor:roc_auc: roc_auc is {auc}; it must be at least 0.85\n"
            "PASS max_drop:roc_auc: not worse than prod"
        )
        message = f"model@{version}: promoted\n\n{decision}"
        _git(repo, "notes", f"--ref={NOTES_REF}", "add", "-m", _record(version, prod, m), "HEAD",
             when=t + 1)  # fmt: skip
        _git(repo, "tag", "-a", f"model@{version}", "-m", message, when=t + 1)
        _git(repo, "tag", "-a", f"model#prod#{2 * i + 1}", "-m", "promoted", when=t + 2)
        if prod is not None:
            _git(repo, "tag", "-a", f"model#prod!#{2 * i + 2}", f"model@{prod}^{{}}", "-m",
                 f"model@{prod} leaves prod: superseded by {version}", when=t + 3)  # fmt: skip
        previous_prod, prod = prod, version
    if previous_prod is not None:  # roll prod back once at the end
        why = f"rollback: prod model@{prod} -> {previous_prod}\n\nreason: bench"
        n = 2 * versions
        _git(repo, "tag", "-a", f"model#prod!#{n + 1}", "-m", why, when=t + 30)
        _git(repo, "tag", "-a", f"model#prod#{n + 2}", f"model@{previous_prod}^{{}}", "-m", why,
             when=t + 31)  # fmt: skip
        prod = previous_prod
    return prod or ""


def _naive_read(repo: Path, commits: list[str]) -> float:
    start = time.perf_counter()
    for c in commits:
        for f in FILES:
            subprocess.run(["git", "show", f"{c}:{f}"], cwd=repo, capture_output=True)
    return time.perf_counter() - start


def site_build(ws: Workspace) -> dict[str, Any]:
    from gitml.registry import versions as registry
    from gitml.registry.table import registry_rows
    from gitml.review.site import build, model

    repo = ws.tmp / "site-repo"
    versions, runs = ws.size(VERSIONS, VERSIONS, 10), ws.size(RUNS, RUNS, 1)
    t0 = time.perf_counter()
    prod = make_repo(repo, versions)
    setup = time.perf_counter() - t0
    builds, cpus, loads, tables = [], [], [], []
    result = None
    for _ in range(runs):  # interleaved, so load on the machine hits both alike
        t, cpu = time.perf_counter(), time.process_time()
        result = build(repo, ws.tmp / "site-out")
        builds.append(time.perf_counter() - t)
        cpus.append(time.process_time() - cpu)  # every thread of this process
        t = time.perf_counter()
        model.load(repo)
        loads.append(time.perf_counter() - t)
        t = time.perf_counter()
        rows = registry_rows(repo, "roc_auc")
        tables.append(time.perf_counter() - t)
    assert result is not None
    if (result.versions, result.prod, len(rows)) != (versions, prod, versions):
        raise RuntimeError(f"the site shows {result.versions} versions, prod {result.prod}; "
                           f"expected {versions}, prod {prod}")  # fmt: skip
    commits = [v.commit for v in registry.list_versions(repo)]
    figure, baseline = statistics.median(builds), statistics.median(tables)
    return bench_result(
        figure=figure,
        figure_label=f"`gitml site` build, {versions} versions ({len(result.pages)} pages), "
        f"median of {runs}",
        baseline=baseline,
        baseline_label=f"`gitml registry` table of the same {versions} versions, median of {runs}",
        unit="s",
        goal=f"< {GOAL_SECONDS:.0f} s",
        within_goal=figure < GOAL_SECONDS,
        build_seconds=[round(s, 3) for s in builds],
        build_cpu_seconds=[round(s, 3) for s in cpus],
        load_average=[round(x, 2) for x in os.getloadavg()],
        read_seconds=round(statistics.median(loads), 3),
        naive_read_seconds=round(_naive_read(repo, commits), 3),
        naive_read_label=f"one `git show` per file per version ({len(FILES) * versions} processes)",
        setup_seconds=round(setup, 3),
    )


BENCHMARKS = {"site_build": site_build}
