"""What tests share besides fixtures: the repository root, the tools' environment, running a
command, and a throw-away pipeline repository (cold, or a copy of one already run). Test modules
import these from here; the fixtures live in conftest.py."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from bench.workspace import deep_update  # one copy: bench merges params overrides the same way
from filelock import FileLock

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# The default project's params.yaml (Adult), a copy: the workspace's own params.yaml is the
# user's to point at their data (`gitml init`), and the suite must stay green when they do.
# tests/unit/config/test_config.py checks the copy against the template while it is one.
DEFAULT_PARAMS = ROOT / "tests" / "fixtures" / "params.yaml"


def every_default() -> dict[str, Any]:
    """A binary project's params with every key at its default (Params' dump), less the keys a
    binary model has no use for (config.task_rules.TASK_KEYS), which the params check refuses."""
    from gitml.config import Params
    from gitml.config.task_rules import TASK_KEYS

    params: dict[str, Any] = Params().model_dump(mode="json", by_alias=True)
    for key, (tasks, _) in TASK_KEYS.items():
        if "binary" not in tasks:
            *path, last = key.split(".")
            section = params
            for part in path:
                section = section[part]
            del section[last]
    return params


def default_params() -> dict[str, Any]:
    """The default project's params (a fresh dict each call)."""
    params: dict[str, Any] = yaml.safe_load(DEFAULT_PARAMS.read_text(encoding="utf-8"))
    return params


# Small-but-real settings for pipelines in tests: the code paths of the default run, less work.
FAST_PARAMS: dict[str, dict[str, Any]] = {
    "tune": {"n_trials": 4, "cv_folds": 2},
    "train": {"cv_folds": 2},
    "evaluate": {"permutation_repeats": 1},
}


def tool_env() -> dict[str, str]:
    """Environment for subprocesses: this venv's `gitml`/`dvc` first on PATH, no telemetry."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["DVC_NO_ANALYTICS"] = "1"
    env["GIT_AUTHOR_NAME"] = env["GIT_COMMITTER_NAME"] = "gitml tests"
    env["GIT_AUTHOR_EMAIL"] = env["GIT_COMMITTER_EMAIL"] = "tests@gitml.invalid"
    return env


def run(cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, env=tool_env(), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\nstdout:\n{proc.stdout}\n"
            f"stderr:\n{proc.stderr}"
        )
    return proc


def make_repo(
    path: Path, raw: pd.DataFrame, params: dict[str, Any] | None = None, commit: bool = True
) -> Path:
    """A git+DVC repo with this project's pipeline, reading `raw` (written as CSV) as its source."""
    path.mkdir(parents=True, exist_ok=True)
    for name in ("dvc.yaml", ".dvcignore"):
        shutil.copy(ROOT / name, path / name)
    shutil.copytree(ROOT / "schema", path / "schema")
    # dvc.yaml tracks the stage modules as deps: the copies make the repo self-contained.
    shutil.copytree(ROOT / "src", path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    (path / "data" / "raw").mkdir(parents=True)
    raw.to_csv(path / "data" / "raw" / "sample.csv", index=False)
    merged = deep_update(default_params(), FAST_PARAMS)
    merged = deep_update(merged, {"data": {"source": "data/raw/sample.csv"}})
    merged = deep_update(merged, params or {})
    (path / "params.yaml").write_text(yaml.safe_dump(merged, sort_keys=False))
    (path / ".gitignore").write_text("__pycache__/\n")
    run(["git", "init", "-q", "-b", "main"], path)
    run(["dvc", "init", "-q"], path)
    run(["dvc", "config", "core.analytics", "false"], path)
    run(["dvc", "config", "core.autostage", "true"], path)
    if commit:
        run(["git", "add", "-A"], path)
        run(["git", "commit", "-qm", "pipeline"], path)
    return path


@dataclass(frozen=True)
class Prepared:
    """A pipeline repository whose cold `dvc repro` ran and was committed, shared read-only by
    every test of the run that asks for the same data and params; `cold_stdout` is that run's
    output. Tests work on a `copy_repo` of it, never on it."""

    repo: Path
    cold_stdout: str


def prepared_repo(
    factory: pytest.TempPathFactory, raw: pd.DataFrame, params: dict[str, Any] | None = None
) -> Prepared:
    """`make_repo(raw, params)` + `dvc repro` + a commit, built once per pytest run: the first
    test (of any xdist worker) that asks builds it under a file lock, the others wait for it and
    reuse it. Copying the repo with its DVC cache costs well under a second; the cold run costs
    tens of seconds per test module that repeated it (this is the pattern of pytest-xdist's docs
    for session fixtures shared by workers)."""
    root = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the controller's base temp, which every worker's lies in
    # the same settings (after make_repo's merge with FAST_PARAMS) and rows: the same repo
    settings = deep_update(FAST_PARAMS, params or {})
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    digest.update(pd.util.hash_pandas_object(raw).to_numpy().tobytes())  # values and index
    digest.update(json.dumps([[str(c), str(t)] for c, t in raw.dtypes.items()]).encode())
    repo = root / f"prepared-{digest.hexdigest()[:12]}"
    out = repo.with_suffix(".repro.txt")  # written last: its presence means the repo is whole
    with FileLock(repo.with_suffix(".lock")):
        if not out.is_file():
            shutil.rmtree(repo, ignore_errors=True)  # a build that failed half way
            make_repo(repo, raw, params)
            cold = run(["dvc", "repro"], repo).stdout
            run(["git", "add", "-A"], repo)
            run(["git", "commit", "-qm", "run the pipeline"], repo)
            out.write_text(cold)
    return Prepared(repo, out.read_text())


def copy_repo(src: Path, dest: Path) -> Path:
    """A copy of a pipeline repository (git history, DVC cache and outputs) at `dest`; DVC's
    own temp folder (locks, updater state) is left behind, as a fresh clone has none."""

    def dvc_tmp(folder: str, names: list[str]) -> list[str]:
        return ["tmp"] if Path(folder).name == ".dvc" else []

    shutil.copytree(src, dest, symlinks=True, ignore=dvc_tmp)
    return dest


def hostile_rows(
    specs: Any, base: list[dict[str, Any]], *, nulls_everywhere: bool = False
) -> list[dict[str, Any]]:
    """`base` with missing values, unseen categories and the extreme numbers the request model
    allows (`specs`: a ResolvedModel's), cycling over the columns. A column the contract does
    not let be null gets None only with `nulls_everywhere` (the Pipeline path accepts it)."""
    rows = []
    for i, row in enumerate(base):
        row = dict(row)
        for j, spec in enumerate(specs):
            kind = (i + j) % 5
            if kind == 0 and (nulls_everywhere or spec.nullable):
                row[spec.name] = None
            elif kind == 1 and not spec.numeric:
                row[spec.name] = f"never-seen-{i}"
            elif kind == 2 and spec.numeric:
                row[spec.name] = spec.le if spec.le is not None else 1e300
            elif kind == 3 and spec.numeric:
                row[spec.name] = spec.ge if spec.ge is not None else -1e300
        rows.append(row)
    return rows
