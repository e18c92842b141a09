"""The decision record: reports/promotion.json and .md, the CI job summary, and the same record
kept in git as a note on the candidate commit (`refs/notes/gitml/decisions`).

Why git notes: a refusal registers no version and creates no tag, yet "why is my merge not in
prod?" must be answerable from a clone. A note hangs the record on the commit it judged without
changing that commit or the branch (so `main` and its outputs stay as they are), travels with
`git push/fetch` of one ref, and is read with the same `git cat-file` as everything else. One
note per candidate commit; every decision on it (a re-run) is one more JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypedDict

from gitml import layout
from gitml.config import PromotionConfig
from gitml.errors import DataError
from gitml.io import github as github_io
from gitml.io.files import write_atomic, write_json
from gitml.io.git import git
from gitml.registry import reproduce
from gitml.registry.gate import GateDecision, RuleResult, fmt_metric
from gitml.registry.rules import GateRules

RECORD = Path("reports/promotion.json")
NOTES_REF = "refs/notes/gitml/decisions"
# outcomes that are decisions about a candidate (a dry run decides nothing; already-prod repeats)
NOTED: tuple[str, ...] = ("promoted", "refused", "unchanged", "superseded")
RECORD_MD = Path("reports/promotion.md")


Outcome = Literal[
    "promoted", "refused", "dry-run", "unchanged", "already-prod", "already-canary", "superseded"
]


class RuleRow(TypedDict):
    name: str
    value: float | None
    threshold: float | None
    passed: bool
    detail: str


class RulesFrom(TypedDict):
    source: str
    commit: str | None
    candidate_changes_rules: bool
    note: str | None


class Candidate(TypedDict):
    ref: str
    commit: str
    version: str | None


class DecisionRecord(TypedDict):
    """reports/promotion.json and each line of a decision note: written by `record_dict`, read
    by `render_markdown`, `read_notes` and the model site (gitml.review.site.decisions)."""

    timestamp: str
    outcome: str
    stage: str
    passed: bool | None
    summary: str | None
    note: str
    candidate: Candidate
    prod: dict[str, str | None]  # version, commit
    rules: list[RuleRow]
    tags: list[str]
    pushed: bool
    config: dict[str, Any]  # promotion: of params.yaml, as the gate read it
    model: dict[str, str | None]  # path, sha256
    rules_from: RulesFrom | None
    reproduction: reproduce.ReproductionJson | None
    identity: dict[str, str | None] | None
    decided_by: dict[str, str] | None  # name, email
    ci: dict[str, str | None] | None


@dataclass(frozen=True)
class PromotionResult:
    outcome: Outcome
    decision: GateDecision | None
    candidate_commit: str
    version: str | None  # registered (or, on a dry run, that would be)
    tags: list[str] = field(default_factory=list)
    pushed: bool = False
    record: Path | None = None
    note: str = ""
    model_sha256: str | None = None  # of the model file CI holds (the workspace's)
    identity: dict[str, str | None] | None = None  # md5 of every file that changes predictions
    rules: GateRules | None = None
    reproduction: reproduce.Comparison | None = None  # None: the workspace is not the candidate
    stage: str = "prod"  # the stage a promoted version got: prod, or canary (promotion.canary)


def _identity(repo: Path | None) -> dict[str, str] | None:
    """Who decides: git's committer identity, which GTO also writes as the tagger of the tags."""
    if repo is None:
        return None
    ident = git(repo, "var", "GIT_COMMITTER_IDENT", check=False)
    name, _, rest = ident.partition(" <")
    return {"name": name, "email": rest.partition(">")[0]} if ident else None


def _ci() -> dict[str, str | None] | None:
    """The GitHub Actions run that decided (None outside Actions): the site links to it."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return None
    return {
        "run_url": github_io.run_url(),
        "workflow": os.environ.get("GITHUB_WORKFLOW"),
        "workflow_ref": os.environ.get("GITHUB_WORKFLOW_REF"),
        "actor": os.environ.get("GITHUB_ACTOR"),
        "event": os.environ.get("GITHUB_EVENT_NAME"),
    }


def record_dict(
    result: PromotionResult, cfg: PromotionConfig, ref: str, repo: Path | None = None
) -> DecisionRecord:
    d = result.decision
    return {
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "outcome": result.outcome,
        "stage": result.stage,
        "passed": None if d is None else d.passed,
        "summary": None if d is None else d.summary,
        "note": result.note,
        "candidate": {"ref": ref, "commit": result.candidate_commit, "version": result.version},
        "prod": {
            "version": None if d is None else d.prod_version,
            "commit": None if d is None else d.prod_commit,
        },
        "rules": [] if d is None else [_rule_row(r) for r in d.rules],
        "tags": result.tags,
        "pushed": result.pushed,
        "config": cfg.model_dump(mode="json"),
        "model": {"path": layout.MODEL.as_posix(), "sha256": result.model_sha256},
        "rules_from": _rules_from(result.rules),
        "reproduction": (None if result.reproduction is None else result.reproduction.to_dict()),
        "identity": result.identity,
        "decided_by": _identity(repo),
        "ci": _ci(),
    }


def _rule_row(r: RuleResult) -> RuleRow:
    return RuleRow(
        name=r.name, value=r.value, threshold=r.threshold, passed=r.passed, detail=r.detail
    )


def _rules_from(rules: GateRules | None) -> RulesFrom | None:
    if rules is None:
        return None
    return {
        "source": rules.source,
        "commit": rules.commit,
        "candidate_changes_rules": rules.candidate_changes,
        "note": rules.note,
    }


def render_markdown(record: DecisionRecord) -> str:
    verdict = {
        "promoted": f"✅ promoted to {record.get('stage') or 'prod'} as "
        f"`{record['candidate']['version']}`"
        + (
            " (prod is unchanged until the canary earns it)"
            if record.get("stage") == "canary"
            else ""
        ),
        "dry-run": f"✅ would be promoted as `{record['candidate']['version']}` (dry run)",
        "refused": "❌ not promoted: prod is unchanged",
        "unchanged": "⚪ not promoted: same model as prod",
        "already-prod": "⚪ already in prod",
        "already-canary": "⚪ already in canary",
        "superseded": "⚪ not promoted: prod already holds a newer commit",
    }[record["outcome"]]
    prod = record["prod"]
    lines = [
        "## Model promotion",
        "",
        f"**{verdict}**",
        "",
        f"{record['summary'] or record['note']}",
        "",
        f"Candidate `{record['candidate']['commit'][:12]}` ({record['candidate']['ref']}) vs "
        + (
            f"prod `{prod['version']}` (`{(prod['commit'] or '')[:12]}`)"
            if prod["version"]
            else "no prod yet"
        ),
        "",
    ]
    if record["note"] and record["summary"]:
        lines += [record["note"], ""]
    if record["rules"]:
        lines += ["| rule | value | threshold | result |", "|---|---|---|---|"]
        for r in record["rules"]:
            lines.append(
                f"| `{r['name']}` | {fmt_metric(r['value'])} | {fmt_metric(r['threshold'])} | "
                f"{'pass' if r['passed'] else '**FAIL**'} |"
            )
    lines += _markdown_provenance(record)
    if record["tags"]:
        lines += ["", "Tags: " + ", ".join(f"`{t}`" for t in record["tags"])]
    return "\n".join(lines) + "\n"


def _markdown_provenance(record: DecisionRecord) -> list[str]:
    """Where the rules came from, what CI reproduced, the model's sha256 (when recorded)."""
    lines: list[str] = []
    src = record.get("rules_from")
    if src and src["source"] != "given":
        lines += [
            "",
            f"Rules: `promotion:` of the {src['source']} (`{(src['commit'] or '')[:12]}`).",
        ]
        if src["note"]:
            lines.append(f"⚠️ {src['note']}.")
    rep = record.get("reproduction")
    if rep:
        lines += ["", f"Reproduction by CI: {rep['summary']}."]
        diffs = rep["beyond_tolerance"] + rep["within_tolerance"]
        if diffs:
            lines += [
                "",
                f"| number | committed | reproduced | difference | within {rep['tolerance']:g} |",
                "|---|---|---|---|---|",
            ]
            for m in diffs[:30]:
                d = "n/a" if m["difference"] is None else f"{m['difference']:.3g}"
                lines.append(
                    f"| `{Path(m['file']).name}:{m['key']}` | {m['committed']} | "
                    f"{m['reproduced']} | {d} | {'yes' if m['within'] else '**NO**'} |"
                )
            if len(diffs) > 30:
                lines.append(f"| … {len(diffs) - 30} more in promotion.json | | | | |")
        if rep["outputs_differ"]:
            lines += ["", "Outputs with another md5 than the committed dvc.lock: "
                      + ", ".join(f"`{o['path']}`" for o in rep["outputs_differ"])]  # fmt: skip
    sha = (record.get("model") or {}).get("sha256")
    if sha:
        lines += ["", f"Model `{record['model']['path']}` sha256 `{sha}`."]
    return lines


def write_record(repo: Path, result: PromotionResult, cfg: PromotionConfig, ref: str) -> Path:
    """reports/promotion.json + .md in the workspace; the Markdown also to the CI job summary."""
    record = record_dict(result, cfg, ref, repo)
    path = write_json(repo / RECORD, record)
    if result.outcome in NOTED:
        add_note(repo, result.candidate_commit, record)
    md = render_markdown(record)
    write_atomic(repo / RECORD_MD, md)
    append_step_summary(md)
    return path


def add_note(repo: Path, commit: str, record: DecisionRecord) -> None:
    """Append the record as one JSON line to the candidate commit's note."""
    old = git(repo, "notes", f"--ref={NOTES_REF}", "show", commit, check=False)
    line = json.dumps(record, sort_keys=True, separators=(",", ":"))
    text = f"{old}\n{line}\n" if old else f"{line}\n"
    proc = subprocess.run(
        ["git", "notes", f"--ref={NOTES_REF}", "add", "-f", "-F", "-", commit],
        cwd=repo, input=text, capture_output=True, text=True,
    )  # fmt: skip
    if proc.returncode != 0:
        raise DataError(f"keeping the decision as a git note: {proc.stderr.strip()}")


def notes_head(repo: Path) -> str:
    """The notes ref's commit ("" when there is none), to put it back if a push fails."""
    return git(repo, "rev-parse", "--verify", "--quiet", NOTES_REF, check=False)


def reset_notes(repo: Path, head: str) -> None:
    if head:
        git(repo, "update-ref", NOTES_REF, head)
    else:
        git(repo, "update-ref", "-d", NOTES_REF, check=False)


def read_notes(repo: Path) -> list[DecisionRecord]:
    """Every decision record kept in git, in no particular order (for tests and tools); each
    line was written by `add_note` from `record_dict`, hence its type."""
    out: list[DecisionRecord] = []
    for line in git(repo, "notes", f"--ref={NOTES_REF}", "list", check=False).splitlines():
        blob, _, _ = line.partition(" ")
        for row in git(repo, "cat-file", "blob", blob).splitlines():
            if row.strip():
                out.append(json.loads(row))
    return out


def append_step_summary(markdown: str) -> None:
    github_io.append_step_summary(markdown)
