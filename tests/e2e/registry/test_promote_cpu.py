"""Issue 10 with the real pipeline: a runner on "another CPU", and tampered committed numbers.

"Another CPU" is simulated with OPENBLAS_CORETYPE=Prescott, which makes OpenBLAS pick older
kernels, so a logistic_regression fit (BLAS through lbfgs) ends in other last bits. Measured
on this project's 2,000-row sample (tests/conftest.py): the model file and the test
predictions get other bytes (other md5s), while all the numbers of metrics.json and slices.json
(rounded to 6 decimals by evaluate) come out equal. So the record lists the outputs that
differ, no metric beyond (or within) the tolerance, and the model CI holds, not the
committer's, is the one whose sha256 is recorded and deployed.

One pipeline run shared by the module (about 40 s cold on 2 idle cores), then the model stages
forced under Prescott (tune, train, evaluate), then one forced `evaluate` for the tampering
case.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from gitml.io.git import locked_md5
from gitml.registry import tags
from tests.helpers import make_repo, run, tool_env

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("promotion")]

LR_ONLY = {
    "logistic_regression": {"C": {"type": "float", "low": 0.001, "high": 100.0, "log": True}}
}


def sh(repo: Path, *cmd: str, **env: str) -> str:
    import subprocess

    proc = subprocess.run(cmd, cwd=repo, env=tool_env() | env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def lr_repo(tmp_path_factory: pytest.TempPathFactory, adult_sample: pd.DataFrame) -> Path:
    """A logistic_regression candidate, reproduced and committed on this machine."""
    repo = make_repo(
        tmp_path_factory.mktemp("cpu") / "repo", adult_sample, {"tune": {"n_trials": 3}}, False
    )
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["tune"]["search_space"] = LR_ONLY  # deep_update would keep the other family
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (repo / ".gitignore").write_text("__pycache__/\nreports/promotion.*\nreports/verify.json\n")
    sh(repo, "dvc", "repro", "-q")
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "logistic regression"], repo)
    return repo


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_another_cpu_still_promotes_with_the_differences_recorded(lr_repo: Path) -> None:
    repo = lr_repo
    committed_md5 = locked_md5(repo, "HEAD", "models/model.skops")
    # The stages that fit or score the model, forced (what `dvc repro --force` reruns of
    # them; ingest to featurize use no BLAS and would rebuild the same bytes, at 40 s here).
    sh(repo, "dvc", "repro", "-q", "--force", "--single-item", "tune", "train", "evaluate",
       OPENBLAS_CORETYPE="Prescott")  # fmt: skip
    ci_model = repo / "models/model.skops"
    assert hashlib.md5(ci_model.read_bytes()).hexdigest() != committed_md5, (
        "OPENBLAS_CORETYPE=Prescott no longer changes the fit's last bits on this machine: "
        "the simulation of another CPU needs another lever"
    )
    out = sh(repo, "gitml", "verify")
    # every number of metrics.json and slices.json (their count grows with the metrics)
    assert re.search(r"all \d+ numbers agree exactly", out), out
    assert "md5 differs: models/model.skops" in out

    sh(repo, "gitml", "promote")
    record = json.loads((repo / "reports/promotion.json").read_text())
    assert record["outcome"] == "promoted", record["summary"]
    rep = record["reproduction"]
    assert rep["ok"] and rep["beyond_tolerance"] == [] and rep["within_tolerance"] == []
    differ = {o["path"] for o in rep["outputs_differ"]}
    assert {"models/model.skops", "data/predictions/test.parquet"} <= differ
    # the sha256 recorded is that of the model CI built and judged
    assert record["model"]["sha256"] == sha256(ci_model)
    assert tags.recorded_sha256(repo, "v0.1.0") == sha256(ci_model)

    # deploy: exactly that file is served and answers
    summary = repo.parent / "summary.md"  # what deploy.yml's job summary shows
    proc = sh(repo, "gitml", "smoke-test", "--version", "v0.1.0", "--model", str(ci_model),
              GITHUB_STEP_SUMMARY=str(summary))  # fmt: skip
    assert "POST /predict (the example row): 200" in proc and "GET /ready: 200" in proc
    # the answers name the version, not the file's path (issue 25)
    assert "'model_version': 'v0.1.0'" in proc and str(ci_model) not in proc.split("GET /ready")[1]
    said = summary.read_text()
    assert "## Deploying model@v0.1.0" in said and f"`{sha256(ci_model)}`" in said
    assert "gitml serve --stage prod --follow" in said  # how servers pick it up
    # the committer's model (the one dvc.lock at the commit names) is not the judged one
    import dvc.api

    committed = repo / "committed.skops"
    committed.write_bytes(dvc.api.read("models/model.skops", repo=str(repo), rev="HEAD", mode="rb"))
    import subprocess

    refused = subprocess.run(
        ["gitml", "smoke-test", "--version", "v0.1.0", "--model", str(committed)],
        cwd=repo,
        env=tool_env(),
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 1 and "not the model the gate judged" in refused.stderr


def test_tampered_metrics_in_a_real_pipeline_are_refused(lr_repo: Path) -> None:
    repo = lr_repo
    run(["git", "reset", "-q", "--hard"], repo)  # dvc repro staged its dvc.lock (autostage)
    sh(repo, "dvc", "checkout", "-q")
    metrics_path = repo / "reports/evaluate/metrics.json"
    metrics = json.loads(metrics_path.read_text())
    real = metrics["roc_auc"]
    metrics["roc_auc"] = 0.999
    metrics_path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    for out in lock["stages"]["evaluate"]["outs"]:
        if out["path"] == "reports/evaluate/metrics.json":
            out["md5"] = hashlib.md5(metrics_path.read_bytes()).hexdigest()
            out["size"] = metrics_path.stat().st_size
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))
    run(["git", "commit", "-qam", "better numbers"], repo)
    # `dvc status` sees nothing to do: dvc.lock agrees with the edited file
    assert "up to date" in sh(repo, "dvc", "status", "evaluate")
    # CI forces the rebuild (the workflow runs `dvc repro --force`; here only evaluate)
    sh(repo, "dvc", "repro", "-q", "--force", "--single-item", "evaluate")
    import subprocess

    proc = subprocess.run(
        ["gitml", "promote", "--strict"], cwd=repo, env=tool_env(), capture_output=True, text=True
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    record = json.loads((repo / "reports/promotion.json").read_text())
    assert record["outcome"] == "refused"
    assert f"roc_auc in metrics.json: committed 0.999, reproduced {real:.6g}" in record["summary"]
    assert run(["git", "tag", "--list", "model@v0.2.0"], repo).stdout == ""
