"""`gitml promote` / `rollback` / `registry` in throw-away git repos with hand-made evaluations.

Each commit carries a reports/evaluate/metrics.json + slices.json in the shapes evaluate writes,
a placeholder models/model.skops, and dvc.yaml with this project's `artifacts:` section, so the
gate and the GTO registry run for real without training a model per commit.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitml.config import PromotionConfig
from gitml.errors import ConfigError, DataError
from gitml.registry import promote, rollback
from gitml.registry import versions as registry
from tests.helpers import ROOT, every_default, run

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("promotion")]


def metrics(roc_auc: float = 0.90, **over: Any) -> dict[str, Any]:
    base = {
        "roc_auc": roc_auc,
        "pr_auc": 0.75,
        "log_loss": 0.31,
        "brier": 0.10,
        "accuracy": 0.85,
        "precision": 0.70,
        "recall": 0.70,
        "f1": 0.70,
        "threshold": 0.38,
        "rows": 6513,
        "confusion": {"tn": 4406, "fp": 539, "fn": 339, "tp": 1229},
    }
    return base | over


def slices(female_recall: float = 0.66, male_recall: float = 0.72) -> dict[str, Any]:
    def value(rows: int, auc: float, recall: float, ranked: bool = True) -> dict[str, Any]:
        return {
            "rows": rows,
            "positive_rate": 0.2,
            "roc_auc": auc,
            "recall": recall,
            "ranked": ranked,
        }

    return {
        "columns": {
            "gender": {
                "values": {
                    "Female": value(2158, 0.92, female_recall),
                    "Male": value(4355, 0.90, male_recall),
                },
                "gap": {"recall": {"gap": round(abs(male_recall - female_recall), 6)}},
            },
            "race": {
                "values": {
                    "White": value(5533, 0.90, 0.71),
                    "Black": value(662, 0.93, 0.70),
                    "Other": value(45, 1.0, 0.2),  # below slice_min_rows: reported, not gated
                },
                "gap": {},
            },
        },
        "max_gap": 0.8,
    }


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    artifacts = yaml.safe_load((ROOT / "dvc.yaml").read_text())["artifacts"]
    (path / "dvc.yaml").write_text(yaml.safe_dump({"artifacts": artifacts}))
    params = every_default()
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (path / "reports").mkdir()
    (path / "reports" / ".gitignore").write_text("promotion.*\n")
    run(["git", "init", "-q", "-b", "main"], path)
    return path


def commit_eval(
    repo: Path,
    m: dict[str, Any] | None = None,
    s: dict[str, Any] | None = None,
    model: bytes | None = None,
    msg: str = "train",
) -> str:
    """Commit an evaluation (and a model placeholder + the dvc.lock entry naming its md5)."""
    import hashlib

    folder = repo / "reports" / "evaluate"
    folder.mkdir(parents=True, exist_ok=True)
    if m is not None:
        (folder / "metrics.json").write_text(json.dumps(m, indent=2, sort_keys=True))
    if s is not None:
        (folder / "slices.json").write_text(json.dumps(s, indent=2, sort_keys=True))
    blob = model if model is not None else json.dumps([m, s]).encode()
    (repo / "models").mkdir(exist_ok=True)
    (repo / "models" / "model.skops").write_bytes(blob)
    lock = {
        "schema": "2.0",
        "stages": {
            "train": {
                "cmd": "gitml stage train",
                "outs": [{"path": "models/model.skops", "md5": hashlib.md5(blob).hexdigest()}],
            }
        },
    }
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock))
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", msg], repo)
    return run(["git", "rev-parse", "HEAD"], repo).stdout.strip()


def tags(repo: Path) -> list[str]:
    return run(["git", "tag", "--list"], repo).stdout.split()


def gitml(
    repo: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    from tests.helpers import tool_env

    return subprocess.run(
        ["gitml", *args],
        cwd=repo,
        env=tool_env() | (env or {}),
        capture_output=True,
        text=True,
        check=False,
    )


CFG = PromotionConfig()


def test_first_promotion_registers_v0_1_0_and_prod(repo: Path, tmp_path: Path) -> None:
    sha = commit_eval(repo, metrics(0.90), slices())
    summary = tmp_path / "summary.md"
    proc = gitml(repo, "promote", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert proc.returncode == 0, proc.stderr
    assert sorted(tags(repo)) == ["model#prod#1", "model@v0.1.0"]
    prod = registry.find_stage(repo)
    assert prod is not None and (prod.version, prod.commit) == ("v0.1.0", sha)
    record = json.loads((repo / "reports/promotion.json").read_text())
    assert record["outcome"] == "promoted" and record["passed"] is True
    assert record["candidate"] == {"ref": "HEAD", "commit": sha, "version": "v0.1.0"}
    assert record["prod"] == {"version": None, "commit": None}
    names = [r["name"] for r in record["rules"]]
    assert "floor:roc_auc" in names and not any(n.startswith("max_drop") for n in names)
    # slices under slice_min_rows are reported, not gated
    assert not any("race=Other" in n for n in names)
    assert record["timestamp"].endswith("Z")
    # the decision is in the tag message, and in the CI job summary
    message = run(["git", "tag", "-l", "--format=%(contents)", "model@v0.1.0"], repo).stdout
    assert record["summary"] in message and "PASS floor:roc_auc" in message
    assert "promoted to prod as `v0.1.0`" in summary.read_text()


def test_first_promotion_below_the_floor_tags_nothing(repo: Path) -> None:
    commit_eval(repo, metrics(0.80), slices())
    proc = gitml(repo, "promote")
    assert proc.returncode == 0, proc.stderr  # a refusal is a verdict, not an error
    assert "REFUSE" in proc.stdout
    assert tags(repo) == []
    record = json.loads((repo / "reports/promotion.json").read_text())
    assert record["outcome"] == "refused"
    failed = [r for r in record["rules"] if not r["passed"]]
    assert [(r["name"], r["value"], r["threshold"]) for r in failed] == [
        ("floor:roc_auc", 0.80, 0.85)
    ]
    strict = gitml(repo, "promote", "--strict")
    assert strict.returncode == 1 and tags(repo) == []


def test_better_promoted_worse_refused_tie_promoted(repo: Path) -> None:
    commit_eval(repo, metrics(0.90), slices())
    assert promote.promote(repo, CFG).version == "v0.1.0"

    better = commit_eval(repo, metrics(0.91), slices())
    result = promote.promote(repo, CFG)
    assert (result.outcome, result.version) == ("promoted", "v0.2.0")
    assert registry.find_stage(repo).commit == better  # type: ignore[union-attr]
    drop = next(r for r in result.decision.rules if r.name == "max_drop:roc_auc")  # type: ignore[union-attr]
    assert drop.value == pytest.approx(-0.01) and drop.passed

    commit_eval(repo, metrics(0.909), slices())  # 0.001 worse than prod, max_drop 0
    result = promote.promote(repo, CFG)
    assert result.outcome == "refused" and result.version is None
    assert registry.find_stage(repo).version == "v0.2.0"  # type: ignore[union-attr]

    # tie rule: exactly as good as prod (different model) passes max_drop 0
    tie = commit_eval(repo, metrics(0.91, pr_auc=0.751), slices())
    result = promote.promote(repo, CFG, bump="patch")
    assert (result.outcome, result.version) == ("promoted", "v0.2.1")
    assert registry.find_stage(repo).commit == tie  # type: ignore[union-attr]
    # prod holds one version: the previous one left it explicitly
    versions = {v.version: v.stages for v in registry.list_versions(repo)}
    assert versions == {"v0.2.1": ("prod",), "v0.2.0": (), "v0.1.0": ()}


def test_a_slice_below_its_floor_blocks_an_overall_gain(repo: Path) -> None:
    commit_eval(repo, metrics(0.90), slices())
    promote.promote(repo, CFG)
    commit_eval(repo, metrics(0.93), slices(female_recall=0.45))
    result = promote.promote(repo, CFG)
    assert result.outcome == "refused"
    failed = [r.name for r in result.decision.rules if not r.passed]  # type: ignore[union-attr]
    assert "slice_floor:gender=Female:recall" in failed
    assert "max_drop:roc_auc" not in failed
    assert registry.find_stage(repo).version == "v0.1.0"  # type: ignore[union-attr]


def test_rollback_moves_prod_back_and_registry_shows_it(repo: Path) -> None:
    first = commit_eval(repo, metrics(0.90), slices())
    promote.promote(repo, CFG)
    commit_eval(repo, metrics(0.91), slices())
    promote.promote(repo, CFG)
    commit_eval(repo, metrics(0.92), slices())
    promote.promote(repo, CFG)

    proc = gitml(repo, "rollback", "--reason", "latency regression in canary")
    assert proc.returncode == 0, proc.stderr
    assert registry.find_stage(repo).version == "v0.2.0"  # type: ignore[union-attr]
    message = run(["git", "tag", "-l", "--format=%(contents)", "model#prod*"], repo).stdout
    assert "v0.3.0 -> v0.2.0" in message and "latency regression in canary" in message

    proc = gitml(repo, "rollback", "--to", "0.1.0")
    assert proc.returncode == 0, proc.stderr
    prod = registry.find_stage(repo)
    assert prod is not None and (prod.version, prod.commit) == ("v0.1.0", first)

    shown = gitml(repo, "registry")
    assert shown.returncode == 0, shown.stderr
    lines = {line.split()[1]: line for line in shown.stdout.splitlines() if "│ v0." in line}
    assert "prod" in lines["v0.1.0"] and "0.9000" in lines["v0.1.0"]
    assert "prod" not in lines["v0.3.0"] and "0.9200" in lines["v0.3.0"]

    # the next promotion compares with the rolled-back prod and bumps past every version
    commit_eval(repo, metrics(0.905), slices())
    result = promote.promote(repo, CFG)
    assert (result.version, result.decision.prod_version) == ("v0.4.0", "v0.1.0")  # type: ignore[union-attr]


def test_rollback_errors(repo: Path) -> None:
    with pytest.raises(DataError, match="nothing is in prod"):
        rollback.rollback(repo)
    commit_eval(repo, metrics(0.90), slices())
    promote.promote(repo, CFG)
    with pytest.raises(DataError, match=r"no version older than v0\.1\.0"):
        rollback.rollback(repo)
    with pytest.raises(DataError, match=r"no registered version model@v9\.9\.9"):
        rollback.rollback(repo, "v9.9.9")
    with pytest.raises(DataError, match="already in prod"):
        rollback.rollback(repo, "v0.1.0")
    assert sorted(tags(repo)) == ["model#prod#1", "model@v0.1.0"]


def test_bad_inputs_are_clear_errors_and_tag_nothing(repo: Path) -> None:
    # candidate without slices.json
    commit_eval(repo, metrics(0.90), None)
    proc = gitml(repo, "promote")
    assert proc.returncode == 1
    assert "reports/evaluate/slices.json is not in git" in proc.stderr
    assert tags(repo) == []

    # corrupt metrics.json
    (repo / "reports/evaluate/metrics.json").write_text("{not json")
    commit_eval(repo, None, slices(), msg="corrupt")
    proc = gitml(repo, "promote")
    assert proc.returncode == 1 and "not valid JSON" in proc.stderr and tags(repo) == []

    # invalid gate params: exit 2, the key named
    commit_eval(repo, metrics(0.90), slices())
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["promotion"]["max_drops"] = {"roc_auc": 0.01}
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    proc = gitml(repo, "promote")
    assert proc.returncode == 2 and "promotion" in proc.stderr and "primary_metric" in proc.stderr
    assert tags(repo) == []
    assert gitml(repo, "promote", "--bump", "huge").returncode == 2


def test_push_without_a_remote_is_a_usage_error_before_any_tag(repo: Path) -> None:
    commit_eval(repo, metrics(0.90), slices())
    with pytest.raises(ConfigError, match="git remote named 'origin'"):
        promote.promote(repo, CFG, push=True)
    assert tags(repo) == []


def test_prod_without_metrics_is_a_clear_error(repo: Path) -> None:
    commit_eval(repo, metrics(0.90), slices())
    promote.promote(repo, CFG)
    # a prod version registered by hand at a commit that has no evaluation
    (repo / "README.md").write_text("x")
    run(["git", "rm", "-rq", "reports/evaluate"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "no reports"], repo)
    registry.wait_past_last_tag(repo)
    run(["gto", "register", "model", "HEAD", "--version", "v0.5.0"], repo)
    run(["gto", "assign", "model", "--version", "v0.5.0", "--stage", "prod"], repo)
    before = tags(repo)
    commit_eval(repo, metrics(0.95), slices())
    with pytest.raises(DataError, match=r"prod version model@v0\.5\.0 .* no usable evaluation"):
        promote.promote(repo, CFG)
    assert tags(repo) == before


def test_reruns_unchanged_models_dirty_workspace_and_dry_run(repo: Path) -> None:
    commit_eval(repo, metrics(0.90), slices(), model=b"the model")
    assert promote.promote(repo, CFG).outcome == "promoted"
    # rerunning on the same commit (a re-run CI job) is a no-op
    assert promote.promote(repo, CFG).outcome == "already-prod"
    # a docs-only change: same model bytes, same md5 in dvc.lock → no new version
    (repo / "README.md").write_text("docs only\n")
    commit_eval(repo, metrics(0.90), slices(), model=b"the model", msg="docs")
    assert promote.promote(repo, CFG).outcome == "unchanged"
    # the workspace (CI's reproduction) disagrees with the commit: refused, nothing tagged
    commit_eval(repo, metrics(0.95), slices())
    (repo / "reports/evaluate/metrics.json").write_text(json.dumps(metrics(0.99)))
    before = tags(repo)
    result = promote.promote(repo, CFG)
    assert result.outcome == "refused" and tags(repo) == before
    assert "not what CI reproduced" in result.decision.summary  # type: ignore[union-attr]
    run(["git", "checkout", "--", "reports"], repo)
    # a dry run decides and records, but tags nothing
    before = tags(repo)
    result = promote.promote(repo, CFG, dry_run=True)
    assert (result.outcome, result.version) == ("dry-run", "v0.2.0") and tags(repo) == before
    assert json.loads((repo / "reports/promotion.json").read_text())["outcome"] == "dry-run"
    with pytest.raises(ConfigError):
        promote.promote(repo, CFG, bump="huge")


def test_push_is_atomic_and_never_overwrites_a_remote_tag(repo: Path, tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], tmp_path)
    run(["git", "remote", "add", "origin", str(origin)], repo)
    commit_eval(repo, metrics(0.90), slices())
    run(["git", "push", "-q", "origin", "main"], repo)
    result = promote.promote(repo, CFG, push=True)
    assert result.pushed
    remote_tags = run(["git", "ls-remote", "--tags", "origin"], repo).stdout
    assert "refs/tags/model@v0.1.0" in remote_tags and "refs/tags/model#prod#1" in remote_tags

    # another run promoted v0.2.0 to the remote meanwhile; this clone has not fetched it
    other = tmp_path / "other"
    run(["git", "clone", "-q", str(origin), str(other)], tmp_path)
    commit_eval(other, metrics(0.91), slices(), msg="other merge")
    run(["git", "push", "-q", "origin", "main"], other)
    promote.promote(other, CFG, push=True)

    commit_eval(repo, metrics(0.92), slices(), msg="this merge")
    before = tags(repo)
    with pytest.raises(DataError, match="pushing the tags failed"):
        promote.promote(repo, CFG, push=True)
    assert tags(repo) == before  # the local tags of the failed promotion are gone
    remote = run(["git", "ls-remote", "origin", "refs/tags/model@v0.2.0^{}"], repo).stdout
    assert remote.split()[0] == run(["git", "rev-parse", "HEAD"], other).stdout.strip()
    # after `git fetch --tags` (what the workflow does before deciding) it goes through
    run(["git", "fetch", "-q", "--tags", "origin"], repo)
    result = promote.promote(repo, CFG, push=True)
    assert (result.outcome, result.version, result.decision.prod_version) == (  # type: ignore[union-attr]
        "promoted",
        "v0.3.0",
        "v0.2.0",
    )


def test_smoke_test_reports_a_server_that_cannot_start(repo: Path) -> None:
    commit_eval(repo, metrics(0.90), slices())  # nothing in prod yet: serve refuses to start
    proc = gitml(repo, "smoke-test", "--stage", "prod", "--port", "8799", "--timeout", "60")
    assert proc.returncode == 1
    assert "exited with code" in proc.stderr and "prod" in proc.stderr
