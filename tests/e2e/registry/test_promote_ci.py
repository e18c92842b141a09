"""At the Python level: promote judges what CI reproduced, under the base's rules.

Hand-made evaluations in throw-away git repos with a bare origin (test_promote.py's fixtures).
"CI's reproduction" is the workspace after the commit: tests write into it what `dvc repro
--force` would have made. The real pipeline on "another CPU" is in test_promote_cpu.py.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitml.errors import DataError
from gitml.io.git import locked_md5
from gitml.registry import promote, reproduce, rules
from gitml.registry import versions as registry
from gitml.registry.tags import recorded_sha256
from tests.e2e.registry import test_promote
from tests.e2e.registry.test_promote import commit_eval, gitml, metrics, slices, tags
from tests.helpers import ROOT as ROOT_DIR
from tests.helpers import run

repo = test_promote.repo  # the fixture: a git repo with this project's artifacts and params

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("promotion")]

EVAL = Path("reports/evaluate")


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def lock_evaluate_outputs(repo: Path) -> None:
    """Put the md5 of the workspace's metrics.json and slices.json in dvc.lock (as DVC would)."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    lock["stages"]["evaluate"] = {
        "cmd": "gitml stage evaluate",
        "outs": [
            {"path": (EVAL / name).as_posix(), "md5": md5(repo / EVAL / name)}
            for name in ("metrics.json", "slices.json")
        ],
    }
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock))


def ci_rebuilds(repo: Path, m: dict[str, Any], s: dict[str, Any], model: bytes = b"") -> None:
    """The workspace as `dvc repro --force` on the runner leaves it: CI's numbers and model."""
    (repo / EVAL / "metrics.json").write_text(json.dumps(m, indent=2, sort_keys=True))
    (repo / EVAL / "slices.json").write_text(json.dumps(s, indent=2, sort_keys=True))
    if model:
        (repo / "models/model.skops").write_bytes(model)
    lock_evaluate_outputs(repo)


def outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def test_last_bit_differences_promote_and_are_recorded(repo: Path, tmp_path: Path) -> None:
    sha = commit_eval(repo, metrics(0.90), slices())
    committed_lock_md5 = locked_md5(repo, sha, "models/model.skops")
    # CI's runner: other last bits in the metrics and another model file
    s = slices()
    s["columns"]["gender"]["values"]["Male"]["roc_auc"] = 0.9000004
    ci_rebuilds(repo, metrics(0.9000007, log_loss=0.3099996), s, b"the runner's model")
    out = tmp_path / "github_output"
    proc = gitml(repo, "promote", env={"GITHUB_OUTPUT": str(out)})
    assert proc.returncode == 0, proc.stderr
    assert "PROMOTE" in proc.stdout
    record = json.loads((repo / "reports/promotion.json").read_text())
    assert record["outcome"] == "promoted"
    rep = record["reproduction"]
    assert rep["ok"] and rep["tolerance"] == 0.001 and rep["beyond_tolerance"] == []
    within = {m["key"]: m for m in rep["within_tolerance"]}
    assert set(within) == {"roc_auc", "log_loss", "columns.gender.values.Male.roc_auc"}
    assert within["roc_auc"]["committed"] == 0.90
    assert within["roc_auc"]["reproduced"] == 0.9000007
    assert within["roc_auc"]["difference"] == pytest.approx(7e-7)
    assert {o["path"] for o in rep["outputs_differ"]} >= {"reports/evaluate/metrics.json"}
    # the gate judged CI's numbers
    floor = next(r for r in record["rules"] if r["name"] == "floor:roc_auc")
    assert floor["value"] == 0.9000007
    reproduced_rule = record["rules"][0]
    assert reproduced_rule["name"] == "reproduced" and reproduced_rule["passed"]
    # the model CI holds is the one recorded: its sha256, not the committed file's md5
    ci_sha = hashlib.sha256(b"the runner's model").hexdigest()
    assert record["model"] == {"path": "models/model.skops", "sha256": ci_sha}
    assert locked_md5(repo, sha, "models/model.skops") == committed_lock_md5
    message = run(["git", "tag", "-l", "--format=%(contents)", "model@v0.1.0"], repo).stdout
    assert f"model sha256: {ci_sha}" in message
    assert recorded_sha256(repo, "v0.1.0") == ci_sha
    assert "differ, all within the tolerance 0.001" in message
    assert outputs(out) == {
        "promoted": "true",
        "version": "v0.1.0",
        "tag": "model@v0.1.0",
        "sha256": ci_sha,
        "stage": "prod",
    }
    md = (repo / "reports/promotion.md").read_text()
    assert "`metrics.json:roc_auc` | 0.9 | 0.9000007" in md and ci_sha in md


def test_tampered_metrics_with_a_consistent_dvc_lock_are_refused(
    repo: Path, tmp_path: Path
) -> None:
    commit_eval(repo, metrics(0.90), slices())
    promote.promote(repo)
    # a branch hand-edits roc_auc and puts the edited file's md5 in dvc.lock
    commit_eval(repo, metrics(0.91), slices(), msg="retrain")
    (repo / EVAL / "metrics.json").write_text(json.dumps(metrics(0.999), indent=2, sort_keys=True))
    lock_evaluate_outputs(repo)
    run(["git", "commit", "-qam", "better numbers"], repo)
    # CI rebuilds everything and gets the model's real numbers
    ci_rebuilds(repo, metrics(0.91), slices(), b"rebuilt")
    out = tmp_path / "github_output"
    before = tags(repo)
    proc = gitml(repo, "promote", "--strict", env={"GITHUB_OUTPUT": str(out)})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "not what CI reproduced" in proc.stdout
    assert tags(repo) == before
    record = json.loads((repo / "reports/promotion.json").read_text())
    assert record["outcome"] == "refused"
    assert record["summary"].startswith("REFUSE: the committed numbers are not what CI reproduced")
    assert "roc_auc in metrics.json: committed 0.999, reproduced 0.91" in record["summary"]
    beyond = record["reproduction"]["beyond_tolerance"]
    assert [(m["key"], m["committed"], m["reproduced"]) for m in beyond] == [
        ("roc_auc", 0.999, 0.91)
    ]
    failed = [r["name"] for r in record["rules"] if not r["passed"]]
    assert failed == ["reproduced"]  # CI's own numbers pass the gate; the lie does not
    assert outputs(out)["promoted"] == "false" and outputs(out)["tag"] == ""


def test_counts_and_rows_in_the_comparison() -> None:
    tol = 1e-3
    # one flipped prediction out of 6,513 rows: within (1.5e-4 as a share of rows)
    n, diffs = reproduce.compare_numbers(
        "m.json", {"rows": 6513, "c": {"tp": 10}}, {"rows": 6513, "c": {"tp": 11}}, tol, 6513
    )
    assert n == 2 and [(d.key, d.within) for d in diffs] == [("c.tp", True)]
    assert diffs[0].difference == pytest.approx(1 / 6513)
    # another row count is other data, never last bits
    _, diffs = reproduce.compare_numbers("m.json", {"rows": 10}, {"rows": 11}, tol, 10)
    assert [(d.key, d.within) for d in diffs] == [("rows", False)]
    # null on one side, a key on one side only, booleans and strings ignored
    _, diffs = reproduce.compare_numbers(
        "m.json",
        {"a": None, "b": 0.5, "ranked": True, "name": "x"},
        {"a": 0.5, "c": 0.5, "ranked": False, "name": "y"},
        tol,
        None,
    )
    assert [(d.key, d.within) for d in diffs] == [("a", False), ("b", False), ("c", False)]
    # the bound is inclusive, and a difference of exactly the tolerance passes
    _, diffs = reproduce.compare_numbers("m.json", {"x": 0.5}, {"x": 0.501}, tol, None)
    assert diffs[0].within and diffs[0].difference == pytest.approx(1e-3)


def test_a_branch_that_loosens_the_gate_is_judged_by_the_old_rules(repo: Path) -> None:
    commit_eval(repo, metrics(0.90), slices())
    assert promote.promote(repo).outcome == "promoted"
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["promotion"]["max_drop"] = 0.2
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    loosened = commit_eval(repo, metrics(0.86), slices(), msg="loosen the gate, worse model")
    result = promote.promote(repo)
    assert result.outcome == "refused"
    assert result.rules is not None and result.rules.source == "first parent"
    assert result.rules.cfg.max_drop == 0.0 and result.rules.candidate_changes
    failed = [r.name for r in result.decision.rules if not r.passed]  # type: ignore[union-attr]
    assert failed == ["max_drop:roc_auc"]
    record = json.loads((repo / "reports/promotion.json").read_text())
    assert record["config"]["max_drop"] == 0.0
    assert record["rules_from"]["candidate_changes_rules"] is True
    assert "new rules apply from the next merge on" in record["rules_from"]["note"]
    assert "new rules apply from the next merge on" in (repo / "reports/promotion.md").read_text()
    # the next merge is judged by them
    commit_eval(repo, metrics(0.87), slices(), msg="next merge")
    result = promote.promote(repo)
    assert result.outcome == "promoted" and result.rules is not None
    assert (result.rules.commit, result.rules.cfg.max_drop) == (loosened, 0.2)
    assert not result.rules.candidate_changes


def test_rules_fall_back_to_prod_then_to_the_candidate(repo: Path, tmp_path: Path) -> None:
    first = commit_eval(repo, metrics(0.90), slices())
    found = rules.rules_for(repo, first)
    assert (found.source, found.commit) == ("candidate", first)
    promote.promote(repo)
    # an orphan commit (no first parent): prod's commit holds the rules
    run(["git", "checkout", "-q", "--orphan", "other"], repo)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["promotion"]["primary_floor"] = 0.5
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    orphan = commit_eval(repo, metrics(0.91), slices(), msg="orphan")
    found = rules.rules_for(repo, orphan)
    assert (found.source, found.commit, found.cfg.primary_floor) == ("prod", first, 0.85)
    assert found.candidate_changes


def test_an_ancestor_of_prod_is_not_registered(repo: Path, tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], tmp_path)
    run(["git", "remote", "add", "origin", str(origin)], repo)
    old = commit_eval(repo, metrics(0.90), slices(), msg="merge 1")
    commit_eval(repo, metrics(0.91), slices(), msg="merge 2")
    run(["git", "push", "-q", "origin", "main"], repo)
    assert promote.promote(repo, push=True).version == "v0.1.0"
    # a re-run of merge 1's promote run: its checkout is the older commit
    run(["git", "checkout", "-q", "--detach", old], repo)
    out = tmp_path / "github_output"
    before = tags(repo)
    proc = gitml(repo, "promote", "--push", env={"GITHUB_OUTPUT": str(out)})
    assert proc.returncode == 0, proc.stderr
    assert "is an ancestor of prod model@v0.1.0" in proc.stdout
    assert tags(repo) == before
    assert json.loads((repo / "reports/promotion.json").read_text())["outcome"] == "superseded"
    assert outputs(out)["promoted"] == "false"
    assert gitml(repo, "promote", "--strict").returncode == 1
    remote = run(["git", "ls-remote", "--tags", "origin"], repo).stdout
    assert "v0.2.0" not in remote


def test_smoke_test_refuses_a_file_the_tag_does_not_name(repo: Path) -> None:
    commit_eval(repo, metrics(0.90), slices(), model=b"judged model")
    promote.promote(repo)
    assert recorded_sha256(repo, "0.1.0") == hashlib.sha256(b"judged model").hexdigest()
    other = repo / "other.skops"
    other.write_bytes(b"another model")
    proc = gitml(repo, "smoke-test", "--version", "v0.1.0", "--model", str(other))
    assert proc.returncode == 1
    assert "is not the" in proc.stderr and "not the model the gate judged" in proc.stderr
    proc = gitml(repo, "smoke-test", "--version", "v9.9.9")
    assert proc.returncode == 1 and "no tag model@v9.9.9" in proc.stderr
    # a lightweight tag (what old actions/checkout leaves) has no message to check against
    run(["git", "tag", "-d", "model@v0.1.0"], repo)
    run(["git", "tag", "model@v0.1.0", "HEAD"], repo)
    with pytest.raises(DataError, match=r"lightweight tag .*`git fetch --force --tags"):
        recorded_sha256(repo, "v0.1.0")
    # a version registered without a recorded sha256
    commit_eval(repo, metrics(0.91), slices(), msg="by hand")
    registry.wait_past_last_tag(repo)
    run(["gto", "register", "model", "HEAD", "--version", "v0.5.0"], repo)
    with pytest.raises(DataError, match="records no 'model sha256:' line"):
        recorded_sha256(repo, "v0.5.0")


def test_verify_writes_the_comparison_and_fails_beyond_the_tolerance(repo: Path) -> None:
    commit_eval(repo, metrics(0.90), slices())
    commit_eval(repo, metrics(0.90), slices(), model=b"second", msg="second")
    ci_rebuilds(repo, metrics(0.9000002), slices())
    proc = gitml(repo, "verify")
    assert proc.returncode == 0, proc.stderr
    assert "within: roc_auc in metrics.json: committed 0.9, reproduced 0.9" in proc.stdout
    written = reproduce.load(repo / "reports/verify.json")
    assert written is not None and written["ok"] and written["tolerance"] == 0.001
    assert [m["key"] for m in written["within_tolerance"]] == ["roc_auc"]
    ci_rebuilds(repo, metrics(0.95), slices())
    proc = gitml(repo, "verify", "--out", "ci/verify.json")
    assert proc.returncode == 1
    assert "BEYOND: roc_auc in metrics.json: committed 0.9, reproduced 0.95" in proc.stdout
    written = reproduce.load(repo / "ci/verify.json")
    assert written is not None and not written["ok"]


def test_report_reads_only_a_verify_file_of_this_workspace(repo: Path) -> None:
    """reports/verify.json is not in git (ignored): `gitml report` must not show one written
    for another commit, or before the metrics changed (issue 25)."""
    from gitml.review import verify_result

    commit_eval(repo, metrics(0.90), slices())
    ci_rebuilds(repo, metrics(0.9000002), slices())
    assert gitml(repo, "verify").returncode == 0
    current = verify_result(repo)
    assert current is not None and current["within_tolerance"]
    ci_rebuilds(repo, metrics(0.91), slices())  # a later `dvc repro`: the file is stale
    assert verify_result(repo) is None
    assert gitml(repo, "verify").returncode == 1
    assert verify_result(repo) is not None
    commit_eval(repo, metrics(0.91), slices(), msg="another commit")
    assert verify_result(repo) is None
    ignored = run(["git", "check-ignore", "reports/verify.json"], ROOT_DIR, check=False)
    assert ignored.stdout.strip() == "reports/verify.json"
