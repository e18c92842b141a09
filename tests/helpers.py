"""What tests share besides fixtures: the repository root, the tools' environment, running a
command, and a throw-away pipeline repository. Test modules import these from here; the
fixtures live in conftest.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from bench.workspace import deep_update  # one copy: bench merges params overrides the same way

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# The default project's params.yaml (Adult), a copy: the workspace's own params.yaml is the
# user's to point at their data (`gitml init`), and the suite must stay green when they do.
# tests/unit/config/test_config.py checks the copy against the template while it is one.
DEFAULT_PARAMS = ROOT / "tests" / "fixtures" / "params.yaml"


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
