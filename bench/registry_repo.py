"""A real GTO registry with real models, in seconds: what `gitml serve --follow` is tested on.

`Registry(root, sample)` makes three git repositories and a DVC remote under `root`:

- `origin.git`, a bare repository: the remote the registry's tags are pushed to;
- `dev`, a clone where versions are made: a model fitted in-process (no `dvc repro`; a one-stage
  dvc.yaml whose `dvc commit` records the md5 in dvc.lock and caches the file), registered with
  GTO with the model's sha256 in the tag message as `gitml promote` writes it, assigned to a
  stage, and pushed (`dvc push`, then the commit and tags);
- `server`, a clone a following server runs in: it has no DVC cache, so every model comes from
  the DVC remote through the same hash checks as in production.

Used by tests/integration/serve/test_follow.py and bench/follow.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
DERIVED = ["net_capital", "log_capital_gain", "log_capital_loss", "is_married", "hours_per_age"]
SHA256_LABEL = "model sha256:"  # gitml.registry.tags.SHA256_LABEL
DVC_YAML = {"stages": {"train": {"cmd": "true", "outs": ["models/model.skops"]}}}


def env() -> dict[str, str]:
    bin_dir = Path(sys.executable).parent
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "gitml follow",
        "GIT_COMMITTER_NAME": "gitml follow",
        "GIT_AUTHOR_EMAIL": "follow@gitml.invalid",
        "GIT_COMMITTER_EMAIL": "follow@gitml.invalid",
    }


def sh(cwd: Path, *cmd: str) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr}{proc.stdout}")
    return proc.stdout


def fit_model(path: Path, sample: pd.DataFrame, seed: int) -> str:
    """Fit a small HistGradientBoosting on a seeded part of `sample`, write models/model.skops
    and models/model.json as train does; return the model's sha256."""
    from gitml.config import DataConfig, SplitConfig
    from gitml.core import features, models
    from gitml.core.model_io import save_model
    from gitml.pipeline import dataset

    train = sample.sample(frac=0.75, random_state=seed)
    data_cfg = DataConfig()
    X, y, cols = dataset.split_xy(features.apply(train, DERIVED), data_cfg, SplitConfig())
    model = models.build("hist_gradient_boosting", {"max_iter": 30, "max_leaf_nodes": 15}, cols, 0)
    model.fit(X, y)
    (path / "models").mkdir(exist_ok=True)
    sha = save_model(model, path / "models" / "model.skops")
    params = yaml.safe_load((path / "params.yaml").read_text())
    schema_text = (path / params["validate"]["schema_file"]).read_text(encoding="utf-8")
    meta = {
        "family": "hist_gradient_boosting",
        "model_sha256": sha,
        "threshold": 0.4,
        "target": data_cfg.target,
        "positive_class": data_cfg.positive_class,
        "derived_features": DERIVED,
        "schema_sha256": hashlib.sha256(schema_text.encode()).hexdigest(),
    }
    (path / "models" / "model.json").write_text(json.dumps(meta, indent=2))
    return str(sha)


class Registry:
    def __init__(self, root: Path, sample: pd.DataFrame) -> None:
        self.root, self.sample = root, sample
        self.origin, self.dev, self.server = root / "origin.git", root / "dev", root / "server"
        self.dvc_remote = root / "dvc-remote"
        self.sha256: dict[str, str] = {}  # version -> the model's sha256
        # stage -> version: kept here rather than asked of GTO, so that moving a stage costs
        # the bench process no CPU next to its load generator (only git and gto processes)
        self.stages: dict[str, str] = {}
        sh(root, "git", "init", "-q", "--bare", "-b", "main", str(self.origin))
        sh(root, "git", "clone", "-q", str(self.origin), str(self.dev))
        dev = self.dev
        shutil.copytree(ROOT / "schema", dev / "schema")
        shutil.copy(ROOT / "params.yaml", dev / "params.yaml")
        (dev / "dvc.yaml").write_text(yaml.safe_dump(DVC_YAML))
        (dev / ".gitignore").write_text("logs/\n__pycache__/\n")
        sh(dev, "dvc", "init", "-q")
        sh(dev, "dvc", "config", "core.analytics", "false")
        sh(dev, "dvc", "remote", "add", "-d", "store", str(self.dvc_remote))
        sh(dev, "git", "add", "-A")
        sh(dev, "git", "commit", "-qm", "a registry to follow")
        sh(dev, "git", "push", "-q", "origin", "main")

    def make_version(self, version: str, seed: int, stage: str | None = "prod") -> str:
        """Commit a new model, register `version` (sha256 in the tag), assign `stage`, push."""
        dev = self.dev
        sha = fit_model(dev, self.sample, seed)
        sh(dev, "dvc", "commit", "-f", "-q", "train")
        sh(dev, "git", "add", "-A")
        sh(dev, "git", "commit", "-qm", f"model {version}")
        sh(dev, "dvc", "push", "-q")
        message = f"registered {version}\n\n{SHA256_LABEL} {sha}"
        sh(dev, "gto", "register", "model", "HEAD", "--version", version, "--message", message)
        self.sha256[version] = sha
        if stage:
            self.assign(version, stage, push=False)
        sh(dev, "git", "push", "-q", "origin", "main", "--tags")
        return sha

    def assign(self, version: str, stage: str, push: bool = True) -> None:
        """Move `stage` to `version`: the holder leaves it first, as `gitml promote` does."""
        if stage in self.stages:
            self._wait_past_last_tag()
            sh(self.dev, "gto", "deprecate", "model", self.stages[stage], stage)
        self._wait_past_last_tag()
        sh(self.dev, "gto", "assign", "model", "--version", version, "--stage", stage)
        self.stages[stage] = version
        if push:
            sh(self.dev, "git", "push", "-q", "origin", "--tags")

    def unassign(self, version: str, stage: str) -> None:
        self._wait_past_last_tag()
        sh(self.dev, "gto", "deprecate", "model", version, stage)
        self.stages.pop(stage, None)
        sh(self.dev, "git", "push", "-q", "origin", "--tags")

    def rollback(self, to: str) -> None:
        """`gitml rollback --to VERSION --push`, as a person would."""
        sh(self.dev, sys.executable, "-m", "gitml", "rollback", "--to", to,
           "--reason", "follow test", "--push")  # fmt: skip
        self.stages["prod"] = to

    def tamper_in_remote(self, version: str) -> None:
        """Overwrite `version`'s model file in the DVC remote with other bytes."""
        lock = yaml.safe_load(sh(self.dev, "git", "show", f"model@{version}:dvc.lock"))
        md5 = lock["stages"]["train"]["outs"][0]["md5"]
        obj = self.dvc_remote / "files" / "md5" / md5[:2] / md5[2:]
        obj.chmod(0o644)
        obj.write_bytes(obj.read_bytes()[:-10] + b"tampered!!")

    def clone_server(self) -> Path:
        sh(self.root, "git", "clone", "-q", str(self.origin), str(self.server))
        return self.server

    def _wait_past_last_tag(self) -> None:
        # GTO orders a version's events by tag time, in whole seconds (gitml.registry.versions)
        from gitml.registry.versions import wait_past_last_tag

        wait_past_last_tag(self.dev)
