"""A throw-away repository for the model-site tests, built from commands as a user's history
is: three versions promoted in turn through the real `gitml.promote` (as the promote workflow
runs it: GitHub Actions environment, its tagger identity), prod rolled back by a person with a
reason, a candidate refused by the gate, and (optionally) a hand-made registration tag that
claims PROMOTE. Each commit has the plot files, importance and params evaluate would commit,
and there is a monitoring report — with hostile text in the places a user's text reaches the
site (tag message, commit message, rollback reason, category values, params)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from gitml.config import PromotionConfig
from gitml.registry import promote, rollback
from gitml.registry import versions as registry
from tests.e2e.registry.test_promote import commit_eval, metrics, slices
from tests.helpers import ROOT, every_default, run, tool_env

SCRIPT = "<script>document.title='pwned'</script>"
IMG = '"><img src=x onerror="document.title=\'pwned\'">'
ROLLBACK_REASON = f"canary latency {SCRIPT} {IMG}"
REPO = "acme/income-model"
CI_NAME, CI_EMAIL = "gitml promote", "promote@gitml.invalid"  # promote.yml's tagger identity
OPS_NAME, OPS_EMAIL = "Ada Ops", "ada@acme.invalid"
FORGER = "Mallory", "mallory@acme.invalid"
# a tagger name with markup (git drops "<" and ">" from names, and quotes at their ends)
HOSTILE_FORGER = 'Mal" onmouseover="document.title=\'pwned\'" & lory', "mallory@acme.invalid"


@contextlib.contextmanager
def as_identity(name: str, email: str, ci_run: int | None = None) -> Iterator[None]:
    """git's identity (GTO's tagger), and a GitHub Actions run environment when `ci_run`."""
    env = {"GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}
    if ci_run is not None:
        env |= {"GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.com",
                "GITHUB_REPOSITORY": REPO, "GITHUB_RUN_ID": str(ci_run),
                "GITHUB_WORKFLOW": "promote"}  # fmt: skip
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _roc(auc: float) -> dict[str, Any]:
    k = (1 - auc) / auc  # tpr = fpr ** k has area 1 / (1 + k) = auc
    pts = [{"fpr": round(i / 300, 6), "tpr": round((i / 300) ** k, 6), "threshold": 1 - i / 300}
           for i in range(301)]  # fmt: skip
    return {"roc": pts}


def _pr(auc: float) -> dict[str, Any]:
    pts = [{"recall": round(1 - i / 400, 6), "precision": round(0.24 + (auc - 0.24) *
            math.sqrt(i / 400), 6), "threshold": i / 400} for i in range(401)]  # fmt: skip
    return {"precision_recall": pts}


def _calibration(skew: float) -> dict[str, Any]:
    return {"calibration": [{"prob_pred": (i + 0.5) / 10, "prob_true": min(1.0, (i + 0.5) / 10
            * skew)} for i in range(10)]}  # fmt: skip


def hostile_slices(female_recall: float, hostile: bool = True) -> dict[str, Any]:
    s = slices(female_recall=female_recall)
    if not hostile:
        return s
    s["columns"]["race"]["values"][IMG] = {
        "rows": 120, "positive_rate": 0.2, "roc_auc": 0.88, "recall": 0.66, "ranked": True,
    }  # fmt: skip
    s["columns"]["race"]["values"][SCRIPT] = {
        "rows": 130, "positive_rate": 0.2, "roc_auc": 0.89, "recall": 0.67, "ranked": True,
    }  # fmt: skip
    return s


def model_meta(depth: int, roc_auc: float, feature: str) -> dict[str, Any]:
    """models/model.json as train writes it (the fields the model card shows)."""
    return {
        "family": "hist_gradient_boosting",
        "params": {"max_depth": depth, "learning_rate": 0.1364009163395914, "max_leaf_nodes": 15},
        "features": {"numeric": ["age", "capital_gain", "hours_per_week"],
                     "categorical": ["relationship", feature]},
        "derived_features": ["net_capital"],
        "threshold": round(0.3 + roc_auc / 10, 6),
        "threshold_rule": "f1",
        "calibration": {"method": "sigmoid"},
        "target": "income",
        "positive_class": ">50K",
        "train_rows": 26048,
        "train_positive_rate": 0.240825,
        "model_sha256": "0" * 64,
    }  # fmt: skip


def commit_version(
    repo: Path, roc_auc: float, female_recall: float, depth: int, msg: str, hostile: bool = True
) -> str:
    folder = repo / "reports" / "evaluate"
    plots = folder / "plots" / "sklearn"
    plots.mkdir(parents=True, exist_ok=True)
    (plots / "roc.json").write_text(json.dumps(_roc(roc_auc)))
    (plots / "precision_recall.json").write_text(json.dumps(_pr(roc_auc - 0.1)))
    (plots / "calibration.json").write_text(json.dumps(_calibration(0.9 + depth / 50)))
    last = IMG if hostile else "race"
    rows = [("capital_gain", 0.05 + depth / 100, 0.002), ("age", 0.04, 0.001),
            ("relationship", 0.025, 0.0007), (last, 0.001, 0.0001)]  # fmt: skip
    (folder / "importance.csv").write_text(
        "feature,importance,std\n"
        + "".join(f'"{f.replace(chr(34), 2 * chr(34))}",{i},{s}\n' for f, i, s in rows)
    )
    (repo / "models").mkdir(exist_ok=True)
    (repo / "models" / "model.json").write_text(json.dumps(model_meta(depth, roc_auc, last)))
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params.setdefault("train", {})["max_depth"] = depth
    if hostile:
        params["train"]["note"] = SCRIPT
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    m = metrics(roc_auc, pr_auc=round(roc_auc - 0.1, 6), log_loss=round(1.2 - roc_auc, 6))
    return commit_eval(repo, m, hostile_slices(female_recall, hostile), msg=msg)


def monitoring_report(day: int = 30, age_psi: float = 0.4123) -> dict[str, Any]:
    """The shape `gitml.monitor.analyse` writes (an alarm on one feature, live quality)."""

    def feature(name: str, kind: str, psi: float, alarms: list[str]) -> dict[str, Any]:
        return {"name": name, "kind": kind, "test": "ks" if kind == "numeric" else "chi2",
                "statistic": 0.21 if alarms else 0.02, "p_value": 1e-12 if alarms else 0.4,
                "psi": psi, "ref_missing_rate": 0.0, "cur_missing_rate": 0.0,
                "missing_p_value": None, "unseen_share": 0.0, "unseen_values": [],
                "rows": 900, "bins": [], "ref_shares": [0.25, 0.25, 0.25, 0.25],
                "cur_shares": [0.1, 0.2, 0.3, 0.4], "alarms": alarms}  # fmt: skip

    return {
        "generated_at": f"2026-11-{day:02d}T06:20:00+00:00",
        "reference": {
            "source": "prod v0.1.0",
            "version": "v0.1.0",
            "commit": "0" * 40,
            "rows": 26048,
        },
        "current": {
            "source": "prediction log",
            "rows": 900,
            "window_start": f"2026-11-{day - 1:02d}T06:17:00+00:00",
            "window_end": f"2026-11-{day:02d}T06:17:00+00:00",
            "model_versions": {"v0.1.0": 900},
            "logged_unseen_rows": 0,
        },
        "rule": {
            "alpha": 0.05,
            "tests": 6,
            "p_threshold": 0.0083,
            "psi_threshold": 0.2,
            "missing_rate_delta": 0.05,
            "max_unseen_share": 0.01,
            "text": "a distribution alarms when p < 0.05 / 6 tests = 0.0083 (Bonferroni) "
            "AND PSI ≥ 0.2",
        },
        "features": [
            feature(
                "age", "numeric", age_psi, ["distribution (ks p = 1e-12 < 0.0083, PSI 0.412 ≥ 0.2)"]
            ),
            feature("hours_per_week", "numeric", 0.0311, []),
            feature("workclass", "categorical", 0.0122, []),
        ],
        "prediction": feature("score", "numeric", 0.0501, []),
        "quality": {
            "rows": 400,
            "live": {"accuracy": 0.8312, "calibration_error": 0.041, "roc_auc": 0.8874},
            "evaluation": {"roc_auc": 0.9, "accuracy": 0.85, "calibration_error": 0.02},
            "alarms": [],
        },
        "contract": {
            "rows": 900,
            "invalid_rows": 12,
            "share": 0.013333,
            "columns": {"age": {"rows": 12, "rules": ["≥ 17"], "examples": ["-1", "3", SCRIPT]}},
        },
        "estimate": {
            "method": "CBPE (confidence-based performance estimation; NannyML, Guo et al. 2017)",
            "metric": "roc_auc",
            "threshold": 0.383076,
            "rows": 900,
            "band_sigmas": 2.0,
            "estimated": {
                "roc_auc": 0.8712 - (30 - day) / 100,
                "accuracy": 0.84,
                "precision": 0.71,
                "recall": 0.62,
                "f1": 0.66,
            },
            "band": {
                "roc_auc": 0.011,
                "accuracy": 0.012,
                "precision": 0.03,
                "recall": 0.03,
                "f1": 0.025,
            },
            "reference": {
                "roc_auc": 0.9012,
                "accuracy": 0.85,
                "precision": 0.72,
                "recall": 0.64,
                "f1": 0.68,
            },
            "evaluation": {
                "roc_auc": 0.9,
                "accuracy": 0.85,
                "precision": 0.73,
                "recall": 0.65,
                "f1": 0.69,
            },
            "calibration": "sigmoid",
            "prior": {
                "method": "EM",
                "reference": 0.24,
                "estimated": 0.31,
                "worst_input": "age",
                "worst_input_psi": 0.4123,
                "fits_label_shift": False,
                "label_shift": False,
            },
            "feedback": None,
            "alarms": [
                "estimated roc_auc 0.8712 vs 0.9012 on the evaluation's test split "
                "(drop > 0.02): the inputs moved to where the model does worse"
            ],
        },
        "causes": ["input drift"],
        "alarms": ["age: distribution (ks p = 1e-12 < 0.0083, PSI 0.412 ≥ 0.2)"],
        "notes": [],
        "alarm": True,
        "status": "alarm",
    }


def init_repo(path: Path) -> Path:
    """An empty git repo with this project's `artifacts:` (dvc.yaml) and default params."""
    path.mkdir(parents=True)
    artifacts = yaml.safe_load((ROOT / "dvc.yaml").read_text())["artifacts"]
    (path / "dvc.yaml").write_text(yaml.safe_dump({"artifacts": artifacts}))
    params = every_default()
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (path / ".gitignore").write_text("/reports/promotion.*\n/reports/monitoring/\n/_site/\n")
    run(["git", "init", "-q", "-b", "main"], path)
    return path


def build_repo(repo: Path, hostile: bool = True, forged: bool = False) -> dict[str, str]:
    """v0.1.0, v0.2.0 and v0.3.0 promoted by CI in turn (each superseding the one before), prod
    rolled back to v0.2.0 by a person, then a worse candidate refused; an older monitoring
    report committed, the newest in the workspace. `forged`: then a commit registered as
    v0.4.0 by a hand-made tag whose message claims PROMOTE. Returns version (or "refused",
    "forged") -> commit."""
    cfg = PromotionConfig()
    shas = {}
    first = f"first model {SCRIPT}" if hostile else "first model"
    shas["v0.1.0"] = commit_version(repo, 0.90, 0.66, 4, first, hostile)
    with as_identity(CI_NAME, CI_EMAIL, 101):
        assert promote.promote(repo, cfg).version == "v0.1.0"
    shas["v0.2.0"] = commit_version(repo, 0.91, 0.67, 6, "deeper trees", hostile)
    with as_identity(CI_NAME, CI_EMAIL, 102):
        assert promote.promote(repo, cfg).version == "v0.2.0"
    shas["v0.3.0"] = commit_version(repo, 0.915, 0.68, 8, "deeper still", hostile)
    with as_identity(CI_NAME, CI_EMAIL, 103):
        assert promote.promote(repo, cfg).version == "v0.3.0"
    reason = ROLLBACK_REASON if hostile else "canary latency doubled"
    with as_identity(OPS_NAME, OPS_EMAIL):
        rollback.rollback(repo, to="v0.2.0", reason=reason)
    subject = f"shallower trees {SCRIPT}" if hostile else "shallower trees"
    shas["refused"] = commit_version(repo, 0.85, 0.55, 3, subject, hostile)
    with as_identity(CI_NAME, CI_EMAIL, 104):
        assert promote.promote(repo, cfg).outcome == "refused"
    if forged:
        shas["forged"] = commit_version(repo, 0.80, 0.50, 2, "a model nobody judged", hostile)
        message = "model@v0.4.0: promoted to prod\n\nPROMOTE: roc_auc 0.99; 12/12 rules pass"
        registry.wait_past_last_tag(repo)
        name, email = HOSTILE_FORGER if hostile else FORGER
        env = tool_env() | {"GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}
        subprocess.run(["git", "tag", "-a", "model@v0.4.0", "-m", message], cwd=repo, env=env,
                       check=True)  # fmt: skip
    folder = repo / "reports" / "monitoring"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "monitoring.json").write_text(json.dumps(monitoring_report(29, 0.05), indent=2))
    run(["git", "add", "-f", "reports/monitoring/monitoring.json"], repo)
    run(["git", "commit", "-qm", "monitoring report of 29 November"], repo)
    (folder / "monitoring.json").write_text(json.dumps(monitoring_report(), indent=2))
    return shas
