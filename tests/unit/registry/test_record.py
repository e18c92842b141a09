"""registry.record: the decision record (JSON, Markdown, job summary) and its git note."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from gitml.config import PromotionConfig
from gitml.errors import DataError
from gitml.registry import record
from gitml.registry.gate import GateDecision, RuleResult
from gitml.registry.record import PromotionResult
from gitml.registry.reproduce import Comparison, MetricDiff, OutputDiff
from gitml.registry.rules import GateRules
from tests.unit.registry.gitrepo import commit, init_repo

CANDIDATE = "c" * 40
PROD = "p" * 40
DECISION = GateDecision(
    passed=True,
    rules=[RuleResult("floor:roc_auc", 0.91, 0.8, True, "roc_auc is 0.9100")],
    prod_version="v0.1.0",
    prod_commit=PROD,
    summary="PROMOTE: roc_auc 0.9100 vs prod v0.1.0 0.9000 (+0.0100); 1/1 rules pass",
)


@pytest.fixture(autouse=True)
def _not_in_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Ada Lovelace")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "ada@example.invalid")


def result(outcome: record.Outcome = "promoted", **over: Any) -> PromotionResult:
    base: dict[str, Any] = {
        "outcome": outcome,
        "decision": DECISION,
        "candidate_commit": CANDIDATE,
        "version": "v0.2.0",
        "tags": ["model@v0.2.0", "model#prod#2"],
    }
    return PromotionResult(**(base | over))


# --------------------------------------------------------------------------- record_dict


def test_record_dict_of_a_promotion(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    rules = GateRules(PromotionConfig(), "first parent", PROD, True, "it changes promotion:")
    d = record.record_dict(
        result(model_sha256="ab" * 32, rules=rules), PromotionConfig(), "HEAD", repo
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", d.pop("timestamp"))
    assert d.pop("config") == PromotionConfig().model_dump(mode="json")
    assert d == {
        "outcome": "promoted",
        "stage": "prod",
        "passed": True,
        "summary": DECISION.summary,
        "note": "",
        "candidate": {"ref": "HEAD", "commit": CANDIDATE, "version": "v0.2.0"},
        "prod": {"version": "v0.1.0", "commit": PROD},
        "rules": [
            {
                "name": "floor:roc_auc",
                "value": 0.91,
                "threshold": 0.8,
                "passed": True,
                "detail": "roc_auc is 0.9100",
            }
        ],
        "tags": ["model@v0.2.0", "model#prod#2"],
        "pushed": False,
        "model": {"path": "models/model.skops", "sha256": "ab" * 32},
        "rules_from": {
            "source": "first parent",
            "commit": PROD,
            "candidate_changes_rules": True,
            "note": "it changes promotion:",
        },
        "reproduction": None,
        "identity": None,
        "decided_by": {"name": "Ada Lovelace", "email": "ada@example.invalid"},
        "ci": None,
    }
    json.dumps(d)


def test_record_dict_without_a_decision_or_repo() -> None:
    d = record.record_dict(
        result("already-prod", decision=None, tags=[]), PromotionConfig(), "main", None
    )
    assert (d["passed"], d["summary"], d["rules"]) == (None, None, [])
    assert d["prod"] == {"version": None, "commit": None}
    assert (d["decided_by"], d["rules_from"]) == (None, None)


def test_the_ci_run_is_recorded_in_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_RUN_ID": "42",
        "GITHUB_WORKFLOW": "promote",
        "GITHUB_WORKFLOW_REF": "o/r/.github/workflows/promote.yml@refs/heads/main",
        "GITHUB_ACTOR": "ada",
        "GITHUB_EVENT_NAME": "push",
    }
    for k, val in env.items():
        monkeypatch.setenv(k, val)
    assert record._ci() == {
        "run_url": "https://github.com/o/r/actions/runs/42",
        "workflow": "promote",
        "workflow_ref": "o/r/.github/workflows/promote.yml@refs/heads/main",
        "actor": "ada",
        "event": "push",
    }
    monkeypatch.setenv("GITHUB_ACTIONS", "false")
    assert record._ci() is None


# --------------------------------------------------------------------------- markdown


def md_of(res: PromotionResult, **over: Any) -> str:
    d = record.record_dict(res, PromotionConfig(), "HEAD") | over
    return record.render_markdown(d)


@pytest.mark.parametrize(
    ("outcome", "verdict"),
    [
        ("promoted", "**✅ promoted to prod as `v0.2.0`**"),
        ("dry-run", "**✅ would be promoted as `v0.2.0` (dry run)**"),
        ("refused", "**❌ not promoted: prod is unchanged**"),
        ("unchanged", "**⚪ not promoted: same model as prod**"),
        ("already-prod", "**⚪ already in prod**"),
        ("superseded", "**⚪ not promoted: prod already holds a newer commit**"),
    ],
)
def test_markdown_verdict_of_each_outcome(outcome: record.Outcome, verdict: str) -> None:
    lines = md_of(result(outcome)).splitlines()
    assert lines[:3] == ["## Model promotion", "", verdict]


def test_markdown_body() -> None:
    md = md_of(result(note="a note"))
    assert md.endswith("\n")
    lines = md.splitlines()
    assert lines[4] == DECISION.summary
    assert lines[6] == f"Candidate `{'c' * 12}` (HEAD) vs prod `v0.1.0` (`{'p' * 12}`)"
    assert "a note" in lines  # the note follows the summary when both are there
    assert "| `floor:roc_auc` | 0.9100 | 0.8000 | pass |" in lines
    assert lines[-1] == "Tags: `model@v0.2.0`, `model#prod#2`"
    # no decision: the note is the headline, no prod, no table, no tags
    bare = md_of(result("already-prod", decision=None, tags=[], note="HEAD is already v0.1.0"))
    headline = f"Candidate `{'c' * 12}` (HEAD) vs no prod yet"
    assert bare.splitlines()[4:7] == ["HEAD is already v0.1.0", "", headline]
    assert "| rule |" not in bare and "Tags:" not in bare


def test_markdown_provenance() -> None:
    diffs = [MetricDiff("m.json", f"k{i}", 0.5, 0.5001, 0.0001, True) for i in range(31)]
    comparison = Comparison(
        "HEAD", CANDIDATE, 1e-3, 40, [MetricDiff("m.json", "rows", 10, 11, 1.0, False), *diffs],
        [OutputDiff("models/model.skops", "a", "b")],
    )  # fmt: skip
    rules = GateRules(PromotionConfig(), "prod", PROD, True, "this commit changes `promotion:`")
    md = md_of(result(reproduction=comparison, rules=rules, model_sha256="ef" * 32))
    lines = md.splitlines()
    assert f"Rules: `promotion:` of the prod (`{'p' * 12}`)." in lines
    assert "⚠️ this commit changes `promotion:`." in lines
    assert f"Reproduction by CI: {comparison.summary()}." in lines
    assert "| number | committed | reproduced | difference | within 0.001 |" in lines
    assert "| `m.json:rows` | 10 | 11 | 1 | **NO** |" in lines  # beyond first
    assert "| `m.json:k0` | 0.5 | 0.5001 | 0.0001 | yes |" in lines
    assert sum(line.startswith("| `m.json:") for line in lines) == 30
    assert "| … 2 more in promotion.json | | | | |" in lines
    assert "Outputs with another md5 than the committed dvc.lock: `models/model.skops`" in lines
    assert f"Model `models/model.skops` sha256 `{'ef' * 32}`." in lines
    # explicit rules (--params): where they came from is not shown
    given = md_of(result(rules=GateRules(PromotionConfig(), "given", None)))
    assert "Rules:" not in given and "Reproduction" not in given and "sha256" not in given


# --------------------------------------------------------------------------- git notes


def test_notes_accumulate_one_json_line_per_decision(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    sha = commit(repo, {"a": "1"})
    assert record.notes_head(repo) == "" and record.read_notes(repo) == []
    record.add_note(repo, sha, {"outcome": "refused", "n": 1})
    first = record.notes_head(repo)
    assert len(first) == 40
    record.add_note(repo, sha, {"outcome": "promoted", "n": 2})
    assert sorted(r["n"] for r in record.read_notes(repo)) == [1, 2]
    # putting the notes ref back undoes the second decision; "" removes the ref
    record.reset_notes(repo, first)
    assert record.read_notes(repo) == [{"n": 1, "outcome": "refused"}]
    record.reset_notes(repo, "")
    assert record.notes_head(repo) == "" and record.read_notes(repo) == []


def test_a_note_on_a_missing_commit_is_a_data_error(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    commit(repo, {"a": "1"})
    with pytest.raises(DataError, match=r"^keeping the decision as a git note: "):
        record.add_note(repo, "no-such-rev", {"outcome": "refused"})


@pytest.mark.parametrize(("outcome", "noted"), [("refused", True), ("dry-run", False)])
def test_write_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, outcome: record.Outcome, noted: bool
) -> None:
    repo = init_repo(tmp_path / "repo")
    sha = commit(repo, {"a": "1"})
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    res = result(outcome, candidate_commit=sha, tags=[])
    path = record.write_record(repo, res, PromotionConfig(), "HEAD")
    assert path == repo / "reports" / "promotion.json"
    written = json.loads(path.read_text())
    assert (written["outcome"], written["candidate"]["commit"]) == (outcome, sha)
    md = (repo / "reports" / "promotion.md").read_text()
    assert md == record.render_markdown(written)
    assert summary.read_text() == "earlier step\n" + md
    notes = record.read_notes(repo)
    assert notes == ([written] if noted else [])
