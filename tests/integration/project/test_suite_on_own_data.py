"""After `gitml init` points the workspace at the user's own table, the suite stays green: it
reads the default project from tests/fixtures/params.yaml, never the workspace's params.yaml
(issue 25). Proved on a copy of the repository whose params.yaml `gitml init` rewrote, running
the tests that used to read the workspace's params (a subset: the whole suite is `make test`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.helpers import ROOT, run, tool_env

pytestmark = pytest.mark.slow

SUBSET = [
    "tests/unit/config/test_config.py",
    "tests/unit/project/test_init.py",
    "tests/unit/serve/test_serve_requests.py",
    "tests/integration/pipeline/test_dvc_yaml.py::test_dvc_resolves_the_schema_dep_from_params",
]
LEFT_OUT = (".git", ".venv", "data", "models", "reports", "__pycache__", ".*_cache", "*.egg-info")


def own_table(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    return pd.DataFrame(
        {
            "mean radius": rng.normal(14, 3, n).round(2),
            "mean texture": (x * 4 + 19).round(2),
            "diagnosis": np.where(x + rng.normal(size=n) > 0, "yes", "no"),
        }
    )


def test_the_suite_passes_in_a_workspace_gitml_init_pointed_elsewhere(tmp_path: Path) -> None:
    copy = tmp_path / "workspace"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(*LEFT_OUT))
    (copy / "data" / "raw").mkdir(parents=True)
    own_table().to_csv(copy / "data" / "raw" / "cancer.csv", index=False)
    run(["gitml", "init", "data/raw/cancer.csv", "--target", "diagnosis", "--force"], copy)
    params = yaml.safe_load((copy / "params.yaml").read_text())
    assert params["data"]["source"] == "data/raw/cancer.csv"  # the workspace is the user's now
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
         "-n", "0", "-x", *SUBSET],
        cwd=copy, env=tool_env(), capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout
