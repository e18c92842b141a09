"""Scaling benchmarks: TPE vs random search, PostgreSQL workers, 1M rows, report speed.

- `tpe_vs_random`: for each of 5 seeds (quick: 3; smoke: 1), RandomizedSearchCV runs 40 trials
  (quick: 5; smoke: 3) over the `hist_gradient_boosting` space of params.yaml on the primary
  clone's featurized train split, scored by CV ROC-AUC on the same folds the tune stage uses;
  then Optuna TPE (same seed, no pruning) runs until its best CV ROC-AUC reaches
  RandomizedSearchCV's best. Figure = median trials TPE needed (budget + 1 when it never got
  there); baseline = the random-search budget. Goal ≤ 20 of 40.
- `workers_postgres`: the tune stage's code on the PostgreSQL server `GITML_BENCH_PG_URL` names
  (default postgresql://postgres@127.0.0.1:5432/test; the tests pass their own server), with
  `tune.workers` 2 and then 1, the same number of trials each (full: 40 on all train rows;
  quick: 6 on the sample, smoke: 4); figure = trials per minute with 2 workers, from the first
  trial's start to the last one's end (the seconds to spawn a worker are a constant;
  wall-clock rates are in the details), baseline = with 1. Goal ≥ 1.8x (needs 2 idle cores).
  Studies are deleted afterwards.
- `million_rows`: `gitml synth` writes 1,000,000 and 100,000 rows (quick: 6,000 and 2,000)
  from the built-in data, and a fresh clone of each runs `dvc repro` with a small tune budget
  on a 20,000-row stratified subsample (`tune.subsample`; train and evaluate use all rows).
  Figure = wall seconds at 1M, baseline = at 100k; peak RSS (the largest process of the run,
  from getrusage of the finished children) in the details. Goal ≤ 11x and ≤ 4 GB.
- `report_speed`: `gitml report --base HEAD` in the primary clone after its pipeline run;
  baseline = `gitml --version` (process start-up alone). Goal < 5 s. Skipped with a note when
  the benchmarked commit has no `gitml report`.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bench.workspace import Workspace, deep_update, result

PG_URL = os.environ.get("GITML_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
TPE_GOAL = 20
WORKERS_GOAL = 1.8
SCALE_GOAL_RATIO = 11.0
SCALE_GOAL_GIB = 4.0
REPORT_GOAL_SECONDS = 5.0


def _skipped(note: str, goal: str) -> dict[str, Any]:
    """A row that could not be measured on this commit: zeros, and the reason."""
    return {
        **result(
            figure=0.0,
            figure_label="not measured",
            baseline=0.0,
            baseline_label="not measured",
            unit="s",
            goal=goal,
            within_goal=None,
        ),
        "ratio": 0.0,
        "skipped": note,
    }


def _train(ws: Workspace) -> tuple[Any, Any, Any, Any]:
    from gitml.config import load_params
    from gitml.io.files import read_parquet
    from gitml.pipeline import dataset

    a = ws.primary()
    params = load_params(a.path / "params.yaml")
    train = read_parquet(a.path / "data" / "features" / "train.parquet")
    X, y, cols = dataset.split_xy(train, params.data, params.split)
    return params, X, y, cols


# --------------------------------------------------------------------------- TPE vs random


class _LogUniformInt:
    """scipy has no log-uniform integer distribution; RandomizedSearchCV only needs `rvs`."""

    def __init__(self, low: int, high: int) -> None:
        from scipy.stats import loguniform

        self.dist = loguniform(low, high + 1)
        self.low, self.high = low, high

    def rvs(self, random_state: Any = None, size: Any = None) -> Any:
        value = np.floor(self.dist.rvs(random_state=random_state, size=size)).astype(int)
        return np.clip(value, self.low, self.high)


def _distributions(space: dict[str, Any]) -> dict[str, Any]:
    from scipy.stats import loguniform, randint, uniform

    from gitml.config import CategoricalParam, FloatParam, IntParam

    out: dict[str, Any] = {}
    for name, spec in space.items():
        key = f"model__{name}"
        if isinstance(spec, FloatParam):
            out[key] = (
                loguniform(spec.low, spec.high)
                if spec.log
                else uniform(spec.low, spec.high - spec.low)
            )
        elif isinstance(spec, IntParam):
            out[key] = (
                _LogUniformInt(spec.low, spec.high)
                if spec.log
                else randint(spec.low, spec.high + 1)
            )
        elif isinstance(spec, CategoricalParam):
            out[key] = list(spec.choices)
    return out


def tpe_vs_random(ws: Workspace) -> dict[str, Any]:
    import optuna
    from sklearn.model_selection import RandomizedSearchCV

    from gitml.core import models
    from gitml.pipeline import tune

    params, X, y, cols = _train(ws)
    budget, seeds = ws.size((40, [0, 1, 2, 3, 4]), (5, [0, 1, 2]), (3, [0]))
    family = "hist_gradient_boosting"
    space = params.tune.search_space[family]
    cfg = params.tune.model_copy(update={"search_space": {family: space}})
    cv = tune.folds(X, y, cfg.cv_folds, cfg.seed)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    needed: list[int] = []
    per_seed: list[dict[str, Any]] = []
    for seed in seeds:
        search = RandomizedSearchCV(
            models.build(family, {}, cols, cfg.seed),
            _distributions(space),
            n_iter=budget,
            scoring=cfg.metric,
            cv=cv,
            random_state=seed,
            refit=False,
        )
        search.fit(X, y)
        target = float(np.max(search.cv_results_["mean_test_score"]))
        study = optuna.create_study(
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=seed),
            pruner=optuna.pruners.NopPruner(),
        )
        objective = tune.objective_factory(cfg, X, y, cols, cv, [])
        trials = budget + 1  # "never reached it within the same budget"
        for n in range(1, budget + 1):
            study.optimize(objective, n_trials=1)
            if study.best_value >= target:
                trials = n
                break
        needed.append(trials)
        per_seed.append(
            {
                "seed": seed,
                "random_best": round(target, 6),
                "tpe_trials": trials,
                "tpe_best": round(float(study.best_value), 6),
            }
        )
    median = float(statistics.median(needed))
    goal = TPE_GOAL if not ws.quick else budget // 2
    return result(
        figure=median,
        figure_label=f"TPE trials to reach RandomizedSearchCV's best, median of {len(seeds)} seeds",
        baseline=float(budget),
        baseline_label=f"RandomizedSearchCV trials ({family} space)",
        unit="trials",
        goal=f"≤ {goal} of {budget}",
        within_goal=median <= goal,
        per_seed=per_seed,
        train_rows=len(y),
        cv_folds=cfg.cv_folds,
    )


# --------------------------------------------------------------------------- PostgreSQL workers


def workers_postgres(ws: Workspace) -> dict[str, Any]:
    import optuna

    from gitml.config import TuneConfig
    from gitml.io import dburl
    from gitml.pipeline import tune

    if "workers" not in TuneConfig.model_fields:
        return _skipped("the benchmarked commit has no tune.workers", f"≥ {WORKERS_GOAL}x")
    params, _, _, _ = _train(ws)
    a = ws.primary()
    from gitml.io.files import read_parquet

    train = read_parquet(a.path / "data" / "features" / "train.parquet")
    n_trials = ws.size(40, 6, 4)
    rates: dict[int, float] = {}
    wall_rates: dict[int, float] = {}
    seconds: dict[int, float] = {}
    for workers in (2, 1):
        name = f"gitml-bench-{uuid.uuid4().hex[:10]}"
        cfg = params.tune.model_copy(
            update={
                "storage": PG_URL,
                "study_name": name,
                "workers": workers,
                "n_trials": n_trials,
                "enqueue_defaults": False,
            }
        )
        out = ws.tmp / f"tune-{workers}"
        start = time.perf_counter()
        try:
            tune.run(cfg, params.data, params.split, train, "bench", out, show_progress=False)
            seconds[workers] = time.perf_counter() - start
            trials = optuna.load_study(
                study_name=name, storage=dburl.normalise_url(PG_URL)
            ).get_trials(deepcopy=False, states=tune.FINISHED)
        finally:
            with contextlib.suppress(KeyError):
                optuna.delete_study(study_name=name, storage=dburl.normalise_url(PG_URL))
        # From the first trial's start to the last one's end: process start-up (a few seconds
        # to spawn a worker and import scikit-learn) is a constant, not throughput.
        first = min(t.datetime_start for t in trials if t.datetime_start)
        last = max(t.datetime_complete for t in trials if t.datetime_complete)
        rates[workers] = len(trials) / (last - first).total_seconds() * 60
        wall_rates[workers] = len(trials) / seconds[workers] * 60
    ratio = rates[2] / rates[1]
    return result(
        figure=rates[2],
        figure_label="trials per minute, 2 workers on PostgreSQL",
        baseline=rates[1],
        baseline_label="trials per minute, 1 worker on PostgreSQL",
        unit="trials/min",
        goal=f"≥ {WORKERS_GOAL}x (2 idle cores)",
        within_goal=ratio >= WORKERS_GOAL,
        seconds={str(k): round(v, 3) for k, v in seconds.items()},
        wall_trials_per_minute={str(k): round(v, 3) for k, v in wall_rates.items()},
        n_trials=n_trials,
        train_rows=len(train),
    )


# --------------------------------------------------------------------------- a million rows


def _peak_rss_run(ws: Workspace, cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (GiB) of the largest process `cmd` started, children included.

    A fresh Python wrapper runs the command, so RUSAGE_CHILDREN covers only this command's
    process tree (every stage process dvc waited for)."""
    wrapper = (
        "import json, resource, subprocess, sys, time\n"
        "t = time.perf_counter(); rc = subprocess.call(sys.argv[1:])\n"
        "print(json.dumps({'rc': rc, 'seconds': time.perf_counter() - t, "
        "'maxrss_kib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", wrapper, *cmd],
        cwd=cwd,
        env=ws.env(cwd),
        capture_output=True,
        text=True,
    )
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    if report["rc"] != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` in {cwd} exited {report['rc']}:\n{proc.stderr}")
    return float(report["seconds"]), report["maxrss_kib"] / 1024**2


def _scale_clone(ws: Workspace, rows: int) -> dict[str, Any]:
    from gitml.config import TuneConfig

    clone = ws.clone(f"rows-{rows}")
    raw = clone.path / "data" / "raw" / "synth.parquet"
    raw.parent.mkdir(parents=True, exist_ok=True)
    synth_seconds = ws.run(["gitml", "synth", "--rows", str(rows), "--out", str(raw)], clone.path)
    params = yaml.safe_load((clone.path / "params.yaml").read_text())
    extra: dict[str, Any] = {
        "data": {"source": "data/raw/synth.parquet"},
        "tune": {"n_trials": 2 if ws.quick else 6, "cv_folds": 2},
        "train": {"cv_folds": 2},
        "evaluate": {"permutation_repeats": 1 if ws.quick else 2},
    }
    if "subsample" in TuneConfig.model_fields:
        extra["tune"]["subsample"] = 1000 if ws.quick else 20_000
    (clone.path / "params.yaml").write_text(
        yaml.safe_dump(deep_update(params, extra), sort_keys=False)
    )
    seconds, rss = _peak_rss_run(ws, ["dvc", "repro"], clone.path)
    metrics = json.loads((clone.path / "reports" / "evaluate" / "metrics.json").read_text())
    ws.remove(clone)
    return {
        "rows": rows,
        "seconds": round(seconds, 3),
        "peak_rss_gib": round(rss, 3),
        "synth_seconds": round(synth_seconds.seconds, 3),
        "roc_auc": metrics.get("roc_auc"),
    }


def million_rows(ws: Workspace) -> dict[str, Any]:
    # Needs no primary clone (the default-data pipeline): `--only million_rows` runs just this.
    probe_clone = ws.clone("probe")
    probe = subprocess.run(
        ["gitml", "synth", "--help"], env=ws.env(probe_clone.path), capture_output=True
    )
    ws.remove(probe_clone)
    if probe.returncode != 0:
        return _skipped("the benchmarked commit has no `gitml synth`", "≤ 11x; ≤ 4 GB")
    big_rows, small_rows = (6_000, 2_000) if ws.quick else (1_000_000, 100_000)
    small = _scale_clone(ws, small_rows)
    big = _scale_clone(ws, big_rows)
    ratio = big["seconds"] / small["seconds"]
    return result(
        figure=big["seconds"],
        figure_label=f"cold `dvc repro` on {big_rows:,} synthetic rows",
        baseline=small["seconds"],
        baseline_label=f"cold `dvc repro` on {small_rows:,} synthetic rows",
        unit="s",
        goal=f"≤ {SCALE_GOAL_RATIO:.0f}x; peak RSS ≤ {SCALE_GOAL_GIB:.0f} GB",
        within_goal=ratio <= SCALE_GOAL_RATIO and big["peak_rss_gib"] <= SCALE_GOAL_GIB,
        peak_rss_gib=big["peak_rss_gib"],
        baseline_peak_rss_gib=small["peak_rss_gib"],
        runs=[small, big],
        bench_process_maxrss_gib=round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 3
        ),
    )


# --------------------------------------------------------------------------- gitml report


def report_speed(ws: Workspace) -> dict[str, Any]:
    a = ws.primary()
    probe = subprocess.run(["gitml", "report", "--help"], env=ws.env(a.path), capture_output=True)
    if probe.returncode != 0:
        return _skipped("the benchmarked commit has no `gitml report` (issue: PR report)", "< 5 s")
    out = ws.tmp / "report.md"
    n = ws.size(3, 3, 1)
    runs = [
        ws.run(["gitml", "report", "--base", "HEAD", "--out", str(out)], a.path).seconds
        for _ in range(n)
    ]
    starts = [ws.run(["gitml", "--version"], a.path).seconds for _ in range(n)]
    figure, baseline = statistics.median(runs), statistics.median(starts)
    return result(
        figure=figure,
        figure_label=f"`gitml report --base HEAD`, median of {n}",
        baseline=baseline,
        baseline_label=f"`gitml --version` (start-up alone), median of {n}",
        unit="s",
        goal=f"< {REPORT_GOAL_SECONDS:.0f} s",
        within_goal=figure < REPORT_GOAL_SECONDS,
        report_seconds=[round(s, 3) for s in runs],
    )


BENCHMARKS = {
    "tpe_vs_random": tpe_vs_random,
    "workers_postgres": workers_postgres,
    "million_rows": million_rows,
    "report_speed": report_speed,
}
