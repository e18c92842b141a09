"""What the pipeline recorded at one revision: params, dvc.lock and the small reports in git.

A base revision is read from git objects only (the files are `cache: false` in dvc.yaml), so a
report needs no `dvc pull`. The head is the workspace (after `dvc repro`) or another revision.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitml import layout
from gitml.config import read_yaml
from gitml.core.metrics import task_of_metrics
from gitml.core.model_meta import ModelMeta
from gitml.core.tasks import recorded_task
from gitml.errors import DataError
from gitml.io.git import read_git_file, resolve_rev

SKLEARN_PLOTS = layout.EVALUATE_DIR / "plots" / "sklearn"
# name -> path; every file is small and kept in git (`cache: false`, or a source file)
FILES: dict[str, Path] = {
    "params": layout.PARAMS,
    "lock": Path("dvc.lock"),
    "metrics": layout.METRICS,
    "slices": layout.SLICES,
    "roc": SKLEARN_PLOTS / "roc.json",
    "pr": SKLEARN_PLOTS / "precision_recall.json",
    "calibration": SKLEARN_PLOTS / "calibration.json",  # a regression model's residual curve
    "validation": layout.VALIDATION_REPORT,
    "checks": layout.EVALUATE_DIR / "checks.json",
    "tune": layout.TUNE_DIR / "summary.json",
    "model": layout.MODEL_META,
    "recent": layout.RECENT_METRICS,
}


@dataclass(frozen=True)
class Snapshot:
    label: str  # what the user named: "main", "origin/main", "workspace"
    commit: str | None  # full hash; None for the workspace
    files: dict[str, Any]  # name (see FILES) -> parsed content; missing files are absent

    @property
    def short(self) -> str:
        return self.commit[:7] if self.commit else "workspace"

    @property
    def has_run(self) -> bool:
        """True when this revision holds a pipeline run (dvc.lock and test metrics)."""
        return "lock" in self.files and "metrics" in self.files

    def get(self, name: str) -> Any:
        return self.files.get(name)

    @property
    def model(self) -> ModelMeta | None:
        """models/model.json, typed; None when absent or written by a gitml too old to read."""
        raw = self.files.get("model")
        if raw is None:
            return None
        try:
            return ModelMeta.parse(raw, f"{layout.MODEL_META} in {self.describe()}")
        except DataError:
            return None

    @property
    def task(self) -> str:
        """binary | multiclass | regression as this revision recorded it: models/model.json,
        else params.yaml's data.task. Only a revision with neither (older files) is told by the
        metric names its metrics.json holds."""
        recorded = recorded_task(self.files.get("model"), self.files.get("params"))
        return str(recorded) if recorded is not None else task_of_metrics(self.get("metrics"))

    def describe(self) -> str:
        return self.label if self.commit is None else f"{self.label} ({self.short})"


def _parse(raw: bytes, path: Path, where: str) -> Any:
    try:
        if path.suffix in (".yaml", ".lock") or path.name == "dvc.lock":
            return read_yaml(raw) or {}  # as DVC reads it (YAML 1.2 booleans)
        return json.loads(raw)
    except (yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        kind = "YAML" if path.suffix in (".yaml", ".lock") else "JSON"
        raise DataError(
            f"{path} {where} is not valid {kind} ({exc}); regenerate it with `dvc repro` "
            "and commit it"
        ) from None


def _in_git(repo: Path, commit: str) -> set[str]:
    """Which of FILES exist at `commit` (one `git ls-tree` instead of one failed read each)."""
    proc = subprocess.run(
        [
            "git",
            "ls-tree",
            "-r",
            "--name-only",
            commit,
            "--",
            *(p.as_posix() for p in FILES.values()),
        ],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise DataError(f"git ls-tree {commit}: {proc.stderr.strip()}")
    return set(proc.stdout.split())


def at_rev(repo: Path, rev: str) -> Snapshot:
    """The files as committed at `rev`; DataError naming `rev` when it does not exist."""
    commit = resolve_rev(repo, rev)
    where = f"at {rev} ({commit[:7]})"
    present = _in_git(repo, commit)
    files = {
        name: _parse(read_git_file(repo, commit, path), path, where)
        for name, path in FILES.items()
        if path.as_posix() in present
    }
    return Snapshot(rev, commit, files)


def workspace(repo: Path) -> Snapshot:
    """The files in the working tree (what `dvc repro` just wrote)."""
    files = {
        name: _parse((repo / path).read_bytes(), path, "in the workspace")
        for name, path in FILES.items()
        if (repo / path).is_file()
    }
    return Snapshot("workspace", None, files)


def load(repo: Path, rev: str | None) -> Snapshot:
    return workspace(repo) if rev is None else at_rev(repo, rev)
