"""Throw-away clones of the project and the commands the benchmarks time in them.

Every clone is a `git clone` of the project's committed HEAD: uncommitted edits in the working
tree are not benchmarked. Commands run with this venv's `bin` first on PATH and the clone's own
`src` first on PYTHONPATH, so the `gitml` that dvc.yaml calls is the clone's committed code (the
venv holds an editable install that points at the working tree). For the same reason the
benchmark process itself imports `gitml` from a clone of HEAD (`Workspace.use_head_code`).
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
_T = TypeVar("_T")

QUICK_ROWS = 2000
QUICK_SEED = 0
# The small-but-real settings of tests/helpers.py: the default run's code paths, less work.
QUICK_PARAMS: dict[str, dict[str, Any]] = {
    "data": {"source": "data/raw/sample.csv"},
    "tune": {"n_trials": 4, "cv_folds": 2},
    "train": {"cv_folds": 2},
    "evaluate": {"permutation_repeats": 1},
}
# `--smoke` (tests/integration/test_bench_quick.py): the quick run smaller still. Every row runs
# its code paths on fewer trials, requests, versions and seconds; the figures are not for reading.
SMOKE_PARAMS: dict[str, dict[str, Any]] = {**QUICK_PARAMS, "tune": {"n_trials": 2, "cv_folds": 2}}

_RUNNING = re.compile(r"Running stage '([^']+)'")
_CACHED = re.compile(r"Stage '([^']+)' is cached - skipping run")
_UNCHANGED = re.compile(r"Stage '([^']+)' didn't change, skipping")


class CommandError(RuntimeError):
    pass


@dataclass(frozen=True)
class Timed:
    """One finished command: wall seconds and its captured output."""

    cmd: list[str]
    seconds: float
    stdout: str
    stderr: str

    @property
    def ran(self) -> list[str]:
        """Stages whose command `dvc repro` ran, in order."""
        return _RUNNING.findall(self.stdout)

    @property
    def restored(self) -> list[str]:
        """Stages `dvc repro` restored from its run cache instead of running."""
        return _CACHED.findall(self.stdout)

    @property
    def skipped(self) -> list[str]:
        return _UNCHANGED.findall(self.stdout)


@dataclass
class Clone:
    name: str
    path: Path
    clone_seconds: float
    cold: Timed | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def deep_update(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_update(out[key], value)
        else:
            out[key] = value
    return out


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def lock_outputs(lock: dict[str, Any]) -> dict[str, str | None]:
    """Every output path recorded in a dvc.lock (metrics and cache: false ones too) → its md5."""
    outs: dict[str, str | None] = {}
    for stage in (lock.get("stages") or {}).values():
        for out in stage.get("outs") or []:
            outs[out["path"]] = out.get("md5")
    return outs


class Workspace:
    """A temp folder of clones for one benchmark run, and the primary clone most benchmarks share.

    The primary clone is built (cloned + cold `dvc repro`) on first use, so `--only NAME` works
    for any benchmark: the cold run then happens as set-up.
    """

    def __init__(
        self, quick: bool, keep: bool = False, source: Path = ROOT, smoke: bool = False
    ) -> None:
        self.quick = quick or smoke  # smoke is a smaller quick: every `quick` size applies
        self.smoke = smoke
        self.keep = keep
        self.source = source
        self.tmp = Path(tempfile.mkdtemp(prefix="gitml-bench-"))
        self._primary: Clone | None = None
        self._sample: pd.DataFrame | None = None
        self.use_head_code()

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        if self.keep:
            print(f"(clones kept in {self.tmp})")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def size(self, full: _T, quick: _T, smoke: _T) -> _T:
        """The size for this run's mode."""
        return smoke if self.smoke else quick if self.quick else full

    def use_head_code(self) -> None:
        """Make in-process `import gitml` load HEAD's code, not the working tree's.

        Must run before anything imports gitml (the bench modules import it lazily).
        """
        loaded = sys.modules.get("gitml")
        if loaded is not None:
            print(
                f"warning: gitml already imported from {loaded.__file__}; in-process code may "
                "differ from HEAD"
            )
            return
        code = self.tmp / "head-code"
        self.run(["git", "clone", "-q", str(self.source), str(code)], self.tmp)
        sys.path.insert(0, str(code / "src"))

    # ------------------------------------------------------------------ commands

    def env(self, clone: Path | None = None) -> dict[str, str]:
        """Like tests/helpers.py `tool_env()`, plus the clone's `src` first on PYTHONPATH."""
        env = dict(os.environ)
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
        env["DVC_NO_ANALYTICS"] = "1"
        env["GIT_AUTHOR_NAME"] = env["GIT_COMMITTER_NAME"] = "gitml bench"
        env["GIT_AUTHOR_EMAIL"] = env["GIT_COMMITTER_EMAIL"] = "bench@gitml.invalid"
        if clone is not None:
            paths = [str(clone / "src"), env.get("PYTHONPATH", "")]
            env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        return env

    def run(self, cmd: list[str], cwd: Path, timeout: float = 3600) -> Timed:
        start = time.perf_counter()
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            env=self.env(cwd if (cwd / "dvc.yaml").exists() else None),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
            raise CommandError(f"`{shlex.join(cmd)}` in {cwd} exited {proc.returncode}:\n{tail}")
        return Timed(cmd, seconds, proc.stdout, proc.stderr)

    # ------------------------------------------------------------------ clones

    def head(self) -> str:
        return self.run(["git", "rev-parse", "HEAD"], self.source).stdout.strip()

    def dirty(self) -> list[str]:
        """Uncommitted changes in the source repo (not benchmarked)."""
        out = self.run(["git", "status", "--porcelain"], self.source).stdout
        return [line for line in out.splitlines() if line.strip()]

    def sample(self) -> pd.DataFrame:
        """The quick mode's raw data: a seeded 2,000-row sample of the built-in set."""
        if self._sample is None:
            from gitml.config import DataConfig
            from gitml.pipeline.ingest import normalise, read_source

            cfg = DataConfig()
            full = normalise(read_source(cfg), cfg)
            self._sample = full.sample(n=QUICK_ROWS, random_state=QUICK_SEED).reset_index(drop=True)
        return self._sample

    def clone(self, name: str) -> Clone:
        """A fresh clone of the committed HEAD, set up for this mode; nothing run yet."""
        path = self.tmp / name
        start = time.perf_counter()
        self.run(["git", "clone", "-q", str(self.source), str(path)], self.tmp)
        seconds = time.perf_counter() - start
        if self.quick:
            (path / "data" / "raw").mkdir(parents=True, exist_ok=True)
            self.sample().to_csv(path / "data" / "raw" / "sample.csv", index=False)
            params = yaml.safe_load((path / "params.yaml").read_text())
            merged = deep_update(params, SMOKE_PARAMS if self.smoke else QUICK_PARAMS)
            (path / "params.yaml").write_text(yaml.safe_dump(merged, sort_keys=False))
        return Clone(name, path, seconds)

    def repro(self, clone: Clone, force: bool = False) -> Timed:
        return self.run(["dvc", "repro", *(["--force"] if force else [])], clone.path)

    def cold_clone(self, name: str) -> Clone:
        """A fresh clone with one cold `dvc repro --force` done (and timed): every stage runs,
        tune included, although its outputs are in git and its deps match the lock."""
        clone = self.clone(name)
        clone.cold = self.repro(clone, force=True)
        return clone

    def primary(self) -> Clone:
        if self._primary is None:
            self._primary = self.cold_clone("a")
        return self._primary

    def remove(self, clone: Clone) -> None:
        if not self.keep:
            shutil.rmtree(clone.path, ignore_errors=True)

    # ------------------------------------------------------------------ state

    @staticmethod
    def lock(clone: Clone) -> dict[str, Any]:
        return yaml.safe_load((clone.path / "dvc.lock").read_text()) or {}

    def output_hashes(self, clone: Clone) -> dict[str, str | None]:
        """sha256 of every output listed in the clone's dvc.lock (None when missing)."""
        hashes: dict[str, str | None] = {}
        for rel in sorted(lock_outputs(self.lock(clone))):
            path = clone.path / rel
            if path.is_dir():
                files = sorted(p for p in path.rglob("*") if p.is_file())
                for f in files:
                    hashes[str(f.relative_to(clone.path))] = sha256(f)
            else:
                hashes[rel] = sha256(path) if path.exists() else None
        return hashes

    def stage_commands(self, clone: Clone) -> dict[str, str]:
        """Every stage's `cmd` from dvc.yaml, in an order that respects their deps/outs."""
        spec = yaml.safe_load((clone.path / "dvc.yaml").read_text())
        stages: dict[str, Any] = spec["stages"]

        def paths(entries: list[Any] | None) -> list[str]:
            return [e if isinstance(e, str) else next(iter(e)) for e in entries or []]

        outs = {
            name: paths(st.get("outs")) + paths(st.get("metrics")) + paths(st.get("plots"))
            for name, st in stages.items()
        }
        needs = {
            name: {
                other
                for dep in paths(st.get("deps"))
                for other, produced in outs.items()
                if other != name
                and any(dep == o or dep.startswith(o.rstrip("/") + "/") for o in produced)
            }
            for name, st in stages.items()
        }
        order: list[str] = []
        while len(order) < len(stages):
            ready = [n for n in stages if n not in order and needs[n] <= set(order)]
            if not ready:
                raise RuntimeError(
                    f"dvc.yaml stages have a cycle: {sorted(set(stages) - set(order))}"
                )
            order.append(ready[0])
        return {name: stages[name]["cmd"] for name in order}


def result(
    *,
    figure: float,
    figure_label: str,
    baseline: float,
    baseline_label: str,
    unit: str,
    goal: str,
    within_goal: bool | None,
    **details: Any,
) -> dict[str, Any]:
    """One row of results.json: the figure, its same-run baseline, their ratio and the goal."""
    return {
        "figure": round(float(figure), 6),
        "figure_label": figure_label,
        "baseline": round(float(baseline), 6),
        "baseline_label": baseline_label,
        "ratio": round(float(figure) / float(baseline), 6) if baseline else None,
        "unit": unit,
        "goal": goal,
        "within_goal": within_goal,
        **details,
    }
