"""The chain pull request → merge → promote → deploy → monitor → retrain, through the REAL
workflow files under act (tests/workflows/harness.py), against a private origin served by a fake
GitHub, with environment-scoped secrets and deployment policies, and only the follow-up runs
GitHub would start (`World.follow`: none for an event caused by GITHUB_TOKEN).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import run
from tests.workflows.conftest import World, commit_all, git, run_at, write_params
from tests.workflows.fake_github import APP, APP_CLIENT_ID, APP_KEY, GITHUB_ACTIONS, PERSON
from tests.workflows.harness import REPO_SLUG, workflows_for

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("workflows")]


CML_WATERMARK = '![](https://cml.dev/watermark.png#cml "CML watermark gitml report")'


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pr_event(number: int, head: str, base: str) -> dict[str, Any]:
    return {
        "number": number,
        "action": "synchronize",
        "pull_request": {
            "number": number,
            "head": {"sha": head, "ref": "feature", "repo": {"fork": False}},
            "base": {"sha": base, "ref": "main"},
        },
    }


def push_event(ref: str, before: str, after: str) -> dict[str, Any]:
    return {"ref": ref, "before": before, "after": after}


# ----------------------------------------------------------------------------- 1. pull request


def test_1_a_pull_request_is_reproduced_verified_reported_and_commented(world: World) -> None:
    _, repo = world.fork("pr")
    git(repo, "checkout", "-q", "feature")
    run(["dvc", "checkout", "-q"], repo)
    # an earlier push left the gitml comment (with CML's watermark) and someone else's
    world.fake.state.issues[7] = {"id": "PR_7", "number": 7, "title": "youden", "body": "",
                                  "labels": [], "state": "OPEN", "is_pr": True, "comments": [
        {"id": 1, "body": "LGTM"},
        {"id": 2, "body": "old report\n\n" + CML_WATERMARK},
    ]}  # fmt: skip
    result = world.act(
        repo, "pull_request", "pr.yml", pr_event(7, world.feature_sha, world.main_sha)
    )

    reproduce = "pull request/reproduce"
    steps = result.steps(reproduce)
    assert result.step(reproduce, "Staleness check") == "success", result.explain()
    assert result.step(reproduce, "Reproduce the pipeline") == "success", result.explain()
    assert result.step(reproduce, "Compare with main") == "success", result.explain()
    assert result.step(reproduce, "Verify the committed results") == "success", steps
    assert result.job(reproduce) == "success", result.explain()
    assert (result.artifacts / "pr-report" / "report.md").is_file()

    # the comment job: the report, via setup-cml's stand-in and the recording cml
    assert result.job("pull request/comment") == "success", result.explain()
    calls = [
        json.loads(line) for line in (world.root / "standin-log/cml.jsonl").read_text().splitlines()
    ]
    assert calls[-1]["args"] == [
        "comment", "update", "--no-publish", "--watermark-title=gitml report",
        "--target=pr/7", "report.md",
    ]  # fmt: skip
    report = (result.artifacts / "pr-report" / "report.md").read_text()
    assert calls[-1]["markdown"] == report
    assert "threshold" in report  # the changed param is in the comment
    comments = world.fake.state.issues[7]["comments"]
    assert [c["id"] for c in comments] == [1, 2]  # the one gitml comment was edited
    assert report in comments[1]["body"] and "old report" not in comments[1]["body"]
    assert len(world.fake.calls("PATCH", r"/issues/comments/2$")) == 1
    assert world.fake.state.unhandled == []


# ----------------------------------------------------------------------------- 7. monitoring


def drifting_log(repo: Path, url: str, version: str) -> None:
    """A prediction log of `version` whose traffic is ten years older than its training data."""
    from datetime import UTC, datetime

    import numpy as np
    import pandas as pd

    from gitml.monitor.shift import apply_shift, parse_shift
    from tests.integration.monitor.test_monitor import log_rows, write_log

    test = pd.read_parquet(repo / "data/split/test.parquet")
    shifted = apply_shift(test, parse_shift("age+10"), np.random.default_rng(0))
    scores = np.random.default_rng(1).uniform(0.0, 1.0, len(shifted))
    write_log(url, log_rows(shifted, scores, datetime.now(UTC), version), {})


MONITOR = "monitor/drift and live quality"
ALERT = "monitor/open or update the model-drift issue"


def test_7_monitor_names_a_missing_secret_and_keeps_one_drift_issue(world: World) -> None:
    origin, repo = world.fork("monitor")
    dispatch = {"inputs": {"since": "all"}}

    no_secret = world.act(repo, "workflow_dispatch", "monitor.yml", dispatch)
    assert no_secret.job(MONITOR) == "failure", no_secret.explain()
    assert no_secret.step(MONITOR, "Preflight (the secret") == "failure"
    [error] = no_secret.errors(MONITOR)
    assert (
        "PREDICTION_LOG_URL" in error
        and "docs/monitoring.md" in error
        and "Monitoring on GitHub" in error
    )
    assert no_secret.job(ALERT) is None  # no alarm, no issue
    log_url = f"sqlite:///{repo.parent / 'predictions.db'}"

    # the secret lives in the environment `monitoring` (docs/workflows.md)
    world.act.environments["monitoring"].secrets["PREDICTION_LOG_URL"] = log_url
    no_remote = world.act(repo, "workflow_dispatch", "monitor.yml", dispatch)
    [error] = no_remote.errors(MONITOR)
    assert "DVC remote" in error and "Monitoring on GitHub" in error, no_remote.explain()

    # a DVC remote with prod's data, v0.1.0 in prod, and a log of drifting traffic
    remote = repo.parent / "dvc-remote"
    run(["dvc", "remote", "add", "-d", "store", str(remote)], repo)
    run(["dvc", "push", "-q"], repo)
    commit_all(repo, "a DVC remote")
    run_at(["gto", "register", "model", "HEAD~1", "--version", "v0.1.0"], repo, origin)
    run_at(["gto", "assign", "model", "--version", "v0.1.0", "--stage", "prod"], repo, origin)
    run_at(["git", "push", "-q", "--tags", "origin", "main"], repo, origin)
    drifting_log(repo, log_url, "v0.1.0")

    for attempt in (1, 2):
        result = world.act(repo, "workflow_dispatch", "monitor.yml", dispatch)
        assert result.outputs(MONITOR).get("alarm") == "true", result.explain()
        assert result.job(MONITOR) == "failure"  # an alarm fails the monitor job
        assert result.job(ALERT) == "success", result.explain()
        issues = list(world.fake.state.issues.values())
        assert len(issues) == 1, issues  # one issue, deduplicated
        assert issues[0]["labels"] == ["model-drift"] and issues[0]["state"] == "OPEN"
        assert "age" in issues[0]["body"]
        assert len(issues[0]["comments"]) == attempt - 1  # the next run comments on it
    assert len(world.fake.graphql("createIssue")) == 1
    assert len(world.fake.graphql("addComment")) == 1
    assert world.fake.calls("POST", r"/pulls$") == []  # RETRAIN_ON_ALARM unset: no retrain

    # with the repository variable RETRAIN_ON_ALARM, an alarm also runs retrain.yml (through
    # workflow_call; its job reads the environment's secret itself: a caller without
    # `environment:` has only empty strings to pass): prod's labelled rows become a pull request
    labelled_log(repo, log_url, "v0.1.0", rows=300, labelled=200)
    result = world.act(repo, "workflow_dispatch", "monitor.yml", dispatch,
                       variables={"RETRAIN_ON_ALARM": "true"})  # fmt: skip
    assert result.outputs(MONITOR).get("alarm") == "true", result.explain()
    [retrain] = [job for job in result.jobs() if job.endswith(RETRAIN.split("/", 1)[1])]
    assert result.job(retrain) == "success", result.explain()
    assert result.outputs(retrain)["written"] == "200", result.explain()
    [call] = world.fake.calls("POST", r"/pulls$")
    assert call.status == 201 and call.body["head"].startswith("retrain/")
    assert world.fake.state.unhandled == []


# ----------------------------------------------------------------------------- 8. retraining

RETRAIN = "retrain/harvest, reproduce, open the retrain pull request"


def labelled_log(repo: Path, url: str, version: str, rows: int, labelled: int) -> None:
    """`rows` test-split predictions of `version` in the log; the first `labelled` have
    feedback (their true label)."""
    from datetime import UTC, datetime

    import numpy as np
    import pandas as pd

    from tests.integration.monitor.test_monitor import feedback_for, log_rows, write_log

    test = pd.read_parquet(repo / "data/split/test.parquet").head(rows).reset_index(drop=True)
    scores = np.random.default_rng(rows).uniform(0.0, 1.0, len(test))
    logged = log_rows(test, scores, datetime.now(UTC), version)
    write_log(url, logged, feedback_for(logged, test, labelled))


def test_8_labelled_production_rows_become_a_retrain_pull_request(world: World) -> None:
    from gitml.logstore import logdb

    origin, repo = world.fork("retrain")
    run_at(["gto", "register", "model", "HEAD", "--version", "v0.1.0"], repo, origin)
    run_at(["gto", "assign", "model", "--version", "v0.1.0", "--stage", "prod"], repo, origin)
    run_at(["git", "push", "-q", "--tags", "origin", "main"], repo, origin)
    # retrain.yml names its branch by the UTC day: the scenario gives the day (the `date` input),
    # so runs either side of midnight still meet on one branch
    day = "2026-03-02"
    dispatch = {"inputs": {"since": "all", "date": day}}

    # the log's URL is a secret of the environment `monitoring` only (docs/workflows.md): as a
    # repository secret of another name, or missing, the job stops first and says where it goes
    missing = world.act(repo, "workflow_dispatch", "retrain.yml", dispatch,
                        secrets={"LOG_URL": "sqlite:///elsewhere.db"})  # fmt: skip
    assert missing.step(RETRAIN, "Preflight") == "failure", missing.explain()
    [error] = missing.errors(RETRAIN)
    assert "PREDICTION_LOG_URL" in error and "'monitoring'" in error, error

    # nothing labelled yet: no branch, no pull request, and the job is green
    empty = f"sqlite:///{repo.parent / 'empty.db'}"
    logdb.engine_for(empty).dispose()
    secrets = world.act.environments["monitoring"].secrets
    secrets["PREDICTION_LOG_URL"] = empty
    nothing = world.act(repo, "workflow_dispatch", "retrain.yml", dispatch)
    assert nothing.job(RETRAIN) == "success", nothing.explain()
    assert nothing.outputs(RETRAIN)["written"] == "0"
    assert nothing.step(RETRAIN, "Harvest") == "success"
    # act reports no event for a step whose `if` is false
    assert nothing.step(RETRAIN, "Reproduce") is None
    assert nothing.step(RETRAIN, "Open the pull request") is None
    assert world.fake.calls("POST", r"/pulls$") == []

    # prod's labelled rows are harvested; unlabelled ones and another version's are not.
    # First with the repository setting that lets workflows open pull requests off.
    url = f"sqlite:///{repo.parent / 'predictions.db'}"
    labelled_log(repo, url, "v0.1.0", rows=300, labelled=200)
    labelled_log(repo, url, "v0.0.9", rows=40, labelled=40)
    secrets["PREDICTION_LOG_URL"] = url
    world.fake.state.actions_may_open_prs = False
    refused = world.act(repo, "workflow_dispatch", "retrain.yml", dispatch)
    assert refused.job(RETRAIN) == "failure", refused.explain()
    assert refused.step(RETRAIN, "Push the branch") == "success", refused.explain()
    [error] = refused.errors(RETRAIN)
    assert "Allow GitHub Actions to create and approve pull requests" in error, error
    # the branch reached the private origin: git in that step had the job's token
    [pushed] = [e for e in world.fake.events("push") if e.ref.startswith("refs/heads/retrain/")]
    assert pushed.actor == GITHUB_ACTIONS

    # allowed, a rerun the same day replaces the branch and opens the pull request
    world.fake.state.actions_may_open_prs = True
    result = world.act(repo, "workflow_dispatch", "retrain.yml", dispatch)
    assert result.job(RETRAIN) == "success", result.explain()
    out = result.outputs(RETRAIN)
    assert out["written"] == "200", result.explain()
    assert out["date"] == day
    branch = f"retrain/{day}"

    # origin holds the branch: main and one commit, with the harvested rows and a new lock
    gd = ["git", "--git-dir", str(origin)]
    subjects = run([*gd, "log", "--format=%s", f"main..{branch}"], origin).stdout.split("\n")
    assert subjects == [f"retrain: production rows harvested {day}", ""], subjects
    changed = run([*gd, "diff", "--name-only", "main", branch], origin).stdout.split()
    assert f"data/raw/production/{day}.parquet.dvc" in changed and "dvc.lock" in changed

    # the pull request: GitHub's REST call, with the branch's report against main as its body
    assert [c.status for c in world.fake.calls("POST", r"/pulls$")] == [403, 201]
    call = world.fake.calls("POST", r"/pulls$")[-1]
    assert (call.body["base"], call.body["head"]) == ("main", branch)
    assert day in call.body["title"]
    [report] = result.artifacts.glob("retrain-report/**/retrain-pr.md")
    assert call.body["body"] == report.read_text() and "roc_auc" in call.body["body"]
    [counts] = result.artifacts.glob(f"retrain-report/**/{day}.json")
    harvest = json.loads(counts.read_text())
    assert harvest["version"] == "v0.1.0"
    assert harvest["counts"] | {"logged": 340, "unlabelled": 100, "other_version": 40,
                                "written": 200} == harvest["counts"]  # fmt: skip
    assert "opened https://" in result.text(RETRAIN)
    # no GitHub App configured: the pull request was opened with GITHUB_TOKEN, so GitHub starts
    # no workflow for it, and the pull request says so and what to do
    [opened] = world.fake.events("pull_request")
    assert opened.actor == GITHUB_ACTIONS and workflows_for(repo, opened) == []
    assert "No checks have run" in call.body["body"] and "docs/retraining.md" in call.body["body"]

    # once more the same day: the same pull request, its body refreshed
    (pr,) = [i for i in world.fake.state.issues.values() if i.get("is_pr")]
    pr["body"] = "an older report"
    again = world.act(repo, "workflow_dispatch", "retrain.yml", dispatch)
    assert again.job(RETRAIN) == "success", again.explain()
    assert "refreshed https://" in again.text(RETRAIN)
    assert len(world.fake.calls("POST", r"/pulls$")) == 2  # no third attempt
    assert [i["number"] for i in world.fake.state.issues.values() if i.get("is_pr")] == [
        pr["number"]
    ]
    assert "roc_auc" in pr["body"]

    # a reviewer pushed a fix to the branch: a rerun leaves it alone and says why
    run_at(["git", "fetch", "-q", "origin"], repo, origin)
    git(repo, "switch", "-q", "-c", "review", f"origin/{branch}")
    (repo / "REVIEW.md").write_text("a reviewer's note\n")
    git(repo, "add", "REVIEW.md")
    git(repo, "commit", "-qm", "a reviewer's fix", "--author", "A Reviewer <reviewer@example.com>")
    run_at(["git", "push", "-q", "origin", f"review:{branch}"], repo, origin)
    reviewed = git(repo, "rev-parse", "HEAD")
    git(repo, "switch", "-q", "main")
    kept = world.act(repo, "workflow_dispatch", "retrain.yml", dispatch)
    assert kept.job(RETRAIN) == "failure", kept.explain()
    errors = kept.errors(RETRAIN)
    assert any(f"{branch} already holds commits this workflow did not make" in e for e in errors), (
        errors
    )
    assert "A Reviewer <reviewer@example.com>" in kept.text(RETRAIN)
    assert run([*gd, "rev-parse", branch], origin).stdout.strip() == reviewed
    assert len(world.fake.calls("PATCH", r"/pulls/\d+$")) == 1  # the pull request untouched
    assert world.fake.state.unhandled == []


def test_9_with_the_app_the_retrain_pull_request_gets_a_persons_checks(world: World) -> None:
    """A GitHub App configured (variable GITML_APP_CLIENT_ID, secret GITML_APP_PRIVATE_KEY in
    the environment `monitoring`): the branch and the pull request are the App's, so GitHub
    starts pr.yml and ci.yml for them, as for a person's; pr.yml reproduces and comments."""
    origin, repo = world.fork("retrain-app")
    # a DVC remote: pr.yml's fresh checkout of the retrain branch gets the harvested rows there
    remote = repo.parent / "dvc-remote"
    run(["dvc", "remote", "add", "-d", "store", str(remote)], repo)
    run(["dvc", "push", "-q"], repo)
    commit_all(repo, "a DVC remote")
    run_at(["git", "push", "-q", "origin", "main"], repo, origin)
    run_at(["gto", "register", "model", "HEAD", "--version", "v0.1.0"], repo, origin)
    run_at(["gto", "assign", "model", "--version", "v0.1.0", "--stage", "prod"], repo, origin)
    run_at(["git", "push", "-q", "--tags", "origin", "main"], repo, origin)
    url = f"sqlite:///{repo.parent / 'predictions.db'}"
    labelled_log(repo, url, "v0.1.0", rows=300, labelled=200)
    monitoring = world.act.environments["monitoring"].secrets
    monitoring |= {"PREDICTION_LOG_URL": url, "GITML_APP_PRIVATE_KEY": APP_KEY,
                   "AWS_ACCESS_KEY_ID": "write-key", "AWS_SECRET_ACCESS_KEY": "write"}  # fmt: skip
    app = {"GITML_APP_CLIENT_ID": APP_CLIENT_ID}
    world.fake.state.actions_may_open_prs = False  # a setting for GITHUB_TOKEN, not for an App
    dispatch = {"inputs": {"since": "all", "date": "2026-03-02"}}  # one day: one branch

    result = world.act(repo, "workflow_dispatch", "retrain.yml", dispatch, variables=app)
    assert result.job(RETRAIN) == "success", result.explain()
    [opened] = world.fake.events("pull_request")
    assert opened.actor == APP, opened
    assert workflows_for(repo, opened) == ["ci.yml", "pr.yml"]
    pr = world.fake.state.issues[opened.number]
    assert "No checks have run" not in pr["body"] and "roc_auc" in pr["body"]
    branch = [e for e in world.fake.events("push") if e.ref == f"refs/heads/{opened.ref}"]
    assert [e.actor for e in branch] == [APP]

    # pr.yml, started by that event, as for a person's pull request (ci.yml is `make test`)
    read_only = {"AWS_ACCESS_KEY_ID": "read-only-key", "AWS_SECRET_ACCESS_KEY": "read"}
    runs = world.follow(repo, opened, only=("pr.yml",), secrets=read_only)
    checked = runs["pr.yml"]
    assert checked.job("pull request/reproduce") == "success", checked.explain()
    assert checked.job("pull request/comment") == "success", checked.explain()
    assert len(pr["comments"]) == 1 and CML_WATERMARK in pr["comments"][0]["body"]

    # a rerun the same day force-pushes the branch with the App's token again: GitHub starts
    # the checks for the new commit (`synchronize`)
    again = world.act(repo, "workflow_dispatch", "retrain.yml", dispatch, variables=app)
    assert again.job(RETRAIN) == "success", again.explain()
    [sync] = [e for e in world.fake.events("pull_request") if e.action == "synchronize"]
    assert sync.actor == APP and workflows_for(repo, sync) == ["ci.yml", "pr.yml"]
    assert world.fake.state.unhandled == []


# ----------------------------------------------------------------------------- promotion helpers

PROMOTE = "promote/promote"
DEPLOY = "deploy/deploy/deploy"  # promote.yml's job `deploy` → deploy.yml's job `deploy`


def merge(repo: Path, origin: Path, branch: str, message: str) -> str:
    """What GitHub's merge button does: a merge commit on main, main as its first parent."""
    git(repo, "switch", "-q", "main")
    run_at(["git", "merge", "-q", "--no-ff", branch, "-m", message], repo, origin)
    run(["dvc", "checkout", "-q"], repo)
    run_at(["git", "push", "-q", "origin", "main"], repo, origin)
    return git(repo, "rev-parse", "HEAD")


def promote_on_push(world: World, repo: Path, before: str, after: str, **env: str) -> Any:
    return world.act(repo, "push", "promote.yml", push_event("refs/heads/main", before, after),
                     extra_env=env)  # fmt: skip


def origin_tags(origin: Path, pattern: str) -> list[str]:
    return run(["git", "--git-dir", str(origin), "tag", "-l", pattern], origin).stdout.split()


def tag_message(origin: Path, tag: str) -> str:
    kind = run(["git", "--git-dir", str(origin), "cat-file", "-t", tag], origin).stdout.strip()
    assert kind == "tag", f"{tag} is {kind}, not an annotated tag"
    fmt = "--format=%(contents)"
    return run(["git", "--git-dir", str(origin), "tag", "-l", fmt, tag], origin).stdout


def record(result: Any) -> dict[str, Any]:
    return json.loads((result.artifacts / "promotion-record" / "promotion.json").read_text())


# ----------------------------------------------------------------------------- 2. merge → deploy


def test_2_a_merge_is_promoted_and_deployed_through_workflow_call(world: World) -> None:
    origin, repo = world.fork("promote")
    merged = merge(repo, origin, "feature", "Merge pull request #7 from acme/feature")
    [push] = world.fake.events("push")
    assert push.actor == PERSON and "promote.yml" in workflows_for(repo, push)
    result = promote_on_push(world, repo, world.main_sha, merged)

    assert result.job(PROMOTE) == "success", result.explain()
    out = result.outputs(PROMOTE)
    assert out["promoted"] == "true", result.explain()
    assert (out["version"], out["tag"]) == ("v0.1.0", "model@v0.1.0")
    assert re.fullmatch(r"[0-9a-f]{64}", out["sha256"])
    # the model the gate judged, handed to deploy as this run's artifact
    judged = result.artifacts / "model-v0.1.0" / "model.skops"
    assert sha256(judged) == out["sha256"]
    assert out["sha256"] in tag_message(origin, "model@v0.1.0")
    assert out["sha256"] in json.dumps(record(result))  # the decision record has it too
    # one version in prod, its stage tag annotated too
    [stage_tag] = origin_tags(origin, "model#prod#*")
    assert tag_message(origin, stage_tag)
    assert origin_tags(origin, "model@*") == ["model@v0.1.0"]
    # the private origin took the job's token (fetch and push), and the tags it pushed with
    # GITHUB_TOKEN start no workflow: hence deploy.yml and pages.yml through workflow_call
    tags = [e for e in world.fake.events("push") if e.ref.startswith("refs/tags/")]
    assert len(tags) == 2 and all(e.actor == GITHUB_ACTIONS for e in tags), tags
    assert all(workflows_for(repo, e) == [] for e in tags)

    # deploy.yml ran through workflow_call: smoke-tested, released with the judged bytes
    assert result.job(DEPLOY) == "success", result.explain()
    assert result.step(DEPLOY, "Smoke test") == "success"
    assert result.outputs(DEPLOY).get("version") == "v0.1.0"
    release = world.fake.state.releases["model@v0.1.0"]
    assert not release["draft"]
    assert release["body"].strip() == tag_message(origin, "model@v0.1.0").strip()
    [asset_id] = [a["id"] for a in release["assets"] if a["name"] == "model.skops"]
    served = hashlib.sha256(release["blobs"][asset_id]).hexdigest()
    assert served == out["sha256"]
    # pages.yml ran through workflow_call too: the site, built after the promotion, deployed
    site = result.artifacts / "github-pages"
    assert (site / ".deployed").is_file(), result.explain()
    assert "v0.1.0" in (site / "index.html").read_text()
    # the monitoring report it looked for: monitor.yml's runs on main only
    [runs] = world.fake.calls("GET", r"/actions/workflows/\d+/runs$")
    assert runs.query.get("branch") == ["main"], runs.query
    assert world.fake.state.unhandled == []


# ----------------------------------------------------------------------------- 3. rollback


def _asset(world: World, asset_id: int, name: str, data: bytes) -> dict[str, object]:
    url = f"https://{world.fake.host}/api/v3/repos/acme/churn/releases/assets/{asset_id}"
    return {"id": asset_id, "name": name, "state": "uploaded", "size": len(data), "url": url,
            "browser_download_url": url}  # fmt: skip


def test_3_a_pushed_rollback_tag_deploys_the_old_version(world: World) -> None:
    origin, repo = world.fork("rollback")
    # v0.1.0 (main) then v0.2.0 (the merged feature) were promoted and deployed earlier
    run_at(["gitml", "promote", "--push"], repo, origin)
    old_model = (repo / "models/model.skops").read_bytes()
    old_meta = (repo / "models/model.json").read_bytes()
    merge(repo, origin, "feature", "Merge pull request #7 from acme/feature")
    run_at(["gitml", "promote", "--push"], repo, origin)
    assert origin_tags(origin, "model@*") == ["model@v0.1.0", "model@v0.2.0"]
    world.fake.state.releases["model@v0.1.0"] = {
        "id": 1, "tag_name": "model@v0.1.0", "name": "model model@v0.1.0", "body": "",
        "draft": False, "prerelease": False, "html_url": "", "url": "", "upload_url": "",
        "assets": [_asset(world, 11, "model.skops", old_model),
                   _asset(world, 12, "model.json", old_meta)],
        "blobs": {11: old_model, 12: old_meta},
    }  # fmt: skip

    # a person rolls back and pushes the new stage tag (with their own credentials)
    run_at(["gitml", "rollback", "--to", "v0.1.0", "--reason", "p95 latency", "--push"],
           repo, origin)  # fmt: skip
    stage_tags = sorted(origin_tags(origin, "model#prod#*"), key=lambda t: int(t.rsplit("#", 1)[1]))
    newest = stage_tags[-1]
    target = run(
        ["git", "--git-dir", str(origin), "rev-list", "-n1", newest], origin
    ).stdout.strip()
    assert target == world.main_sha
    # the person's tag push starts deploy.yml and pages.yml (runs on the tag's ref)
    [pushed] = [e for e in world.fake.events("push") if e.ref == f"refs/tags/{newest}"]
    assert pushed.actor == PERSON
    runs = world.follow(repo, pushed)
    assert sorted(runs) == ["deploy.yml", "pages.yml"]
    result = runs["deploy.yml"]
    assert result.refused == [], result.refused  # `production` allows the tags model#prod#*

    job = "deploy/deploy"  # workflow name / job id
    assert result.step(job, "Which version") == "success", result.explain()
    assert result.outputs(job)["version"] == "v0.1.0"
    assert result.step(job, "Get the model") == "success", result.explain()
    assert world.fake.calls("GET", r"/releases/assets/11$"), "the model came from v0.1.0's release"
    # the smoke test checks the file's sha256 against v0.1.0's tag
    assert result.step(job, "Smoke test") == "success", result.explain()
    assert result.job(job) == "success", result.explain()
    assert not world.fake.calls("POST", r"/releases$"), "the old release is kept"
    # what it served is the file whose sha256 v0.1.0's tag recorded
    assert hashlib.sha256(old_model).hexdigest() in tag_message(origin, "model@v0.1.0")

    # the site: `github-pages` (as GitHub creates it) refuses a run on a tag, so the site must
    # be built by a run on main that the tag's run starts (a dispatch: not GITHUB_TOKEN's rule)
    pages = runs["pages.yml"]
    assert pages.refused == [], pages.refused
    [dispatched] = world.fake.events("workflow_dispatch")
    assert (dispatched.workflow, dispatched.ref) == ("pages.yml", "main"), dispatched
    on_main = world.follow(repo, dispatched)["pages.yml"]
    assert on_main.refused == [], on_main.refused
    site = on_main.artifacts / "github-pages"
    assert (site / ".deployed").is_file(), on_main.explain()
    assert "v0.1.0" in (site / "index.html").read_text()
    assert world.fake.state.unhandled == []


# ----------------------------------------------------------------------------- 4. tampered numbers


def test_4_tampered_metrics_with_a_consistent_lock_are_refused(world: World) -> None:
    origin, repo = world.fork("tampered")
    git(repo, "switch", "-qc", "tampered", "feature")
    run(["dvc", "checkout", "-q"], repo)
    metrics_path = repo / "reports/evaluate/metrics.json"
    metrics = json.loads(metrics_path.read_text())
    metrics["roc_auc"] = 0.999
    metrics_path.write_text(json.dumps(metrics, indent=2) + "\n")
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    for out in lock["stages"]["evaluate"]["outs"]:
        if out["path"] == "reports/evaluate/metrics.json":
            out["md5"] = hashlib.md5(metrics_path.read_bytes()).hexdigest()
            out["size"] = metrics_path.stat().st_size
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))
    run(["dvc", "status", "-q"], repo)  # the lock agrees with the edited file: nothing to redo
    commit_all(repo, "better numbers")
    merged = merge(repo, origin, "tampered", "Merge pull request #8 from acme/tampered")
    result = promote_on_push(world, repo, world.main_sha, merged)

    assert result.job(PROMOTE) == "success", result.explain()  # a refusal is a verdict
    assert result.outputs(PROMOTE)["promoted"] == "false"
    assert result.job(DEPLOY) is None
    assert origin_tags(origin, "model@*") == [] and origin_tags(origin, "model#*") == []
    text = json.dumps(record(result))
    assert "roc_auc" in text and "0.999" in text  # the record says which number was refused


# ----------------------------------------------------------------------------- 5. another CPU


def test_5_a_runner_on_another_cpu_still_promotes_and_records_the_differences(
    world: World,
) -> None:
    origin, repo = world.fork("other-cpu")
    merged = merge(repo, origin, "feature", "Merge pull request #7 from acme/feature")
    # the candidate is a logistic regression, whose fit the BLAS kernels change
    assert json.loads((repo / "models/model.json").read_text())["family"] == "logistic_regression"
    # other BLAS kernels change the last bits of the LogisticRegression fit
    result = promote_on_push(world, repo, world.main_sha, merged, OPENBLAS_CORETYPE="Prescott")

    assert result.job(PROMOTE) == "success", result.explain()
    assert result.outputs(PROMOTE)["promoted"] == "true", result.explain()
    # the reproduction was compared and recorded: numbers that moved, all within the tolerance
    rep = record(result)["reproduction"]
    assert rep is not None and rep["ok"] and rep["compared"] > 0, rep
    assert rep["beyond_tolerance"] == [] and rep["within_tolerance"], rep
    assert all(row["within"] and row["difference"] != 0 for row in rep["within_tolerance"]), rep
    assert result.job(DEPLOY) == "success", result.explain()


# ----------------------------------------------------------------------------- 6. base's rules


def test_6_a_branch_that_loosens_the_gate_is_judged_by_mains_rules(world: World) -> None:
    origin, repo = world.fork("loosen")
    write_params(repo, {"promotion": {"primary_floor": 0.99}})  # main's rules: strict
    run(["dvc", "repro", "-q"], repo)
    strict = commit_all(repo, "promotion: demand roc_auc 0.99")
    run_at(["git", "push", "-q", "origin", "main"], repo, origin)
    git(repo, "switch", "-qc", "loosen")
    write_params(repo, {"promotion": {"primary_floor": 0.5}})
    run(["dvc", "repro", "-q"], repo)
    commit_all(repo, "promotion: 0.5 is plenty")
    merged = merge(repo, origin, "loosen", "Merge pull request #9 from acme/loosen")
    result = promote_on_push(world, repo, strict, merged)

    assert result.job(PROMOTE) == "success", result.explain()
    assert result.outputs(PROMOTE)["promoted"] == "false"
    assert result.job(DEPLOY) is None
    rec = record(result)
    assert "0.99" in json.dumps(rec)  # judged by the floor main had before the merge
    assert origin_tags(origin, "model@*") == []


# ----------------------------------------------------------------------------- 10. a bad tag


def test_10_deploy_names_a_lightweight_version_tag(world: World) -> None:
    """GTO and the smoke test need the annotated tag `gitml promote` pushes; a lightweight one
    (what checkout before v6.0.2 left behind) stops deploy with an error that says so."""
    origin, repo = world.fork("lightweight")
    git(repo, "tag", "model@v0.9.0")  # lightweight
    run_at(["git", "push", "-q", "origin", "refs/tags/model@v0.9.0"], repo, origin)
    result = world.act(repo, "workflow_dispatch", "deploy.yml", {"inputs": {"version": "v0.9.0"}})
    job = "deploy/deploy"
    assert result.step(job, "Which version") == "failure", result.explain()
    [error] = result.errors(job)
    assert "model@v0.9.0 is missing or a lightweight tag" in error, error
    assert "docs/promotion.md" in error


def test_11_a_promotion_that_fails_after_its_tag_push_says_how_to_deploy(world: World) -> None:
    """Prod is tagged, then a later step fails (here the release: one exists already): the
    run says so, names the version and the recovery, and nothing deploys."""
    origin, repo = world.fork("after-push")
    world.fake.state.releases["model@v0.1.0"] = {
        "id": 1, "tag_name": "model@v0.1.0", "name": "", "body": "", "draft": False,
        "prerelease": False, "html_url": "", "url": "", "upload_url": "", "assets": [],
        "blobs": {},
    }  # fmt: skip
    merged = merge(repo, origin, "feature", "Merge pull request #7 from acme/feature")
    result = promote_on_push(world, repo, world.main_sha, merged)

    assert result.outputs(PROMOTE)["promoted"] == "true", result.explain()
    assert origin_tags(origin, "model@*") == ["model@v0.1.0"]
    assert result.job(PROMOTE) == "failure", result.explain()
    assert result.step(PROMOTE, "Publish the judged model") == "failure"
    assert any(
        "v0.1.0 is prod" in e and "gh workflow run deploy.yml -f version=v0.1.0" in e
        for e in result.errors(PROMOTE)
    ), result.errors(PROMOTE)
    assert result.job(DEPLOY) is None


# ----------------------------------------------------------------------------- 12. canary

CANARY = "canary/compare canary with prod and decide"
CANARY_DEPLOY = "deploy/deploy/deploy"  # canary.yml's job `deploy` → deploy.yml's job `deploy`


def test_12_a_canary_waits_then_earns_prod_and_is_deployed_through_workflow_call(
    world: World,
) -> None:
    from tests.e2e.registry.test_canary import CANARY_RULES, write_log

    origin, repo = world.fork("canary")
    run_at(["gitml", "promote", "--push"], repo, origin)  # v0.1.0: prod
    # main turns the canary on; the next merge is judged by main's rules, so it goes to canary
    write_params(repo, {"promotion": {"canary": CANARY_RULES}})
    commit_all(repo, "promotion: a canary earns prod")
    run_at(["git", "push", "-q", "origin", "main"], repo, origin)
    merge(repo, origin, "feature", "Merge pull request #7 from acme/feature")
    run_at(["gitml", "promote", "--push"], repo, origin)
    assert len(origin_tags(origin, "model#canary#*")) == 1
    # promote.yml published the judged model as v0.2.0's release (as for a prod version)
    model, meta = (
        (repo / "models/model.skops").read_bytes(),
        (repo / "models/model.json").read_bytes(),
    )
    world.fake.state.releases["model@v0.2.0"] = {
        "id": 2, "tag_name": "model@v0.2.0", "name": "model model@v0.2.0", "body": "",
        "draft": False, "prerelease": False, "html_url": "", "url": "", "upload_url": "",
        "assets": [_asset(world, 21, "model.skops", model), _asset(world, 22, "model.json", meta)],
        "blobs": {21: model, 22: meta},
    }  # fmt: skip
    log_url = f"sqlite:///{repo.parent / 'predictions.db'}"
    world.act.environments["monitoring"].secrets["PREDICTION_LOG_URL"] = log_url
    # a dispatch on main, as GitHub's payload has it (pages.yml checks out the default branch)
    dispatch = {"ref": "refs/heads/main", "inputs": {},
                "repository": {"full_name": REPO_SLUG, "default_branch": "main"}}  # fmt: skip

    def tag_pushes() -> list[Any]:  # after the person's own `gitml promote --push` above
        return [e for e in world.fake.events("push") if e.ref.startswith("refs/tags/")][pushed:]

    pushed = len([e for e in world.fake.events("push") if e.ref.startswith("refs/tags/")])
    # a few rows: the rules wait, nothing is tagged, nothing deploys
    write_log(log_url, "v0.2.0", 50, 1)
    write_log(log_url, "v0.1.0", 450, 2)
    waiting = world.act(repo, "workflow_dispatch", "canary.yml", dispatch)
    assert waiting.job(CANARY) == "success", waiting.explain()
    assert waiting.outputs(CANARY)["decision"] == "wait", waiting.explain()
    assert waiting.job(CANARY_DEPLOY) is None
    assert "min_rows 500" in (waiting.artifacts / "canary-report" / "canary.md").read_text()
    assert tag_pushes() == []

    # enough labelled traffic of two equally good versions: the canary earns prod
    write_log(log_url, "v0.2.0", 20000, 3)
    write_log(log_url, "v0.1.0", 20000, 4)
    result = world.act(repo, "workflow_dispatch", "canary.yml", dispatch)
    assert result.job(CANARY) == "success", result.explain()
    out = result.outputs(CANARY)
    assert (out["decision"], out["promoted"], out["version"]) == ("promote", "true", "v0.2.0")
    assert origin_tags(origin, "model#canary!#*"), "the version left canary"
    newest = max(origin_tags(origin, "model#prod#*"), key=lambda t: int(t.rsplit("#", 1)[1]))
    message = tag_message(origin, newest)
    assert "canary model@v0.2.0 promoted to prod" in message and "bootstrap" in message
    # pushed with GITHUB_TOKEN: they start no workflow, hence deploy.yml through workflow_call
    tags = tag_pushes()
    assert len(tags) == 3 and all(e.actor == GITHUB_ACTIONS for e in tags), tags
    assert all(workflows_for(repo, e) == [] for e in tags)
    assert result.job(CANARY_DEPLOY) == "success", result.explain()
    assert result.step(CANARY_DEPLOY, "Smoke test") == "success"
    assert world.fake.calls("GET", r"/releases/assets/21$"), "the model came from its release"
    site = result.artifacts / "github-pages"
    assert (site / ".deployed").is_file(), result.explain()

    # no canary any more: the next scheduled run has nothing to decide (act runs on this clone,
    # so it gets the registry the previous run pushed as a checkout on GitHub would)
    run_at(["git", "fetch", "-q", "--tags", "origin"], repo, origin)
    idle = world.act(repo, "workflow_dispatch", "canary.yml", dispatch)
    assert idle.job(CANARY) == "success", idle.explain()
    assert idle.outputs(CANARY)["decision"] == "none", idle.explain()
    assert idle.job(CANARY_DEPLOY) is None
    assert world.fake.state.unhandled == []
