"""The gate's decision records, as the site reads them: the git notes `gitml promote` keeps
(registry/record.py), refusals included, and what they say about a version's tag.

A registration tag is only text anyone can write: a version's decision is trusted
(`provenance`) when a record for that commit and version exists and its decider is the tag's
tagger; the record says whether a CI run made it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gitml.registry.gate import RuleResult
from gitml.review.site import gitobjects
from gitml.review.site.gitobjects import CommitInfo


@dataclass
class Decision:
    """One decision record of `gitml promote`, read from the git notes."""

    commit: str
    when: datetime | None
    outcome: str  # promoted | refused | unchanged | superseded
    version: str | None
    prod_version: str | None
    summary: str
    note: str
    rules: list[RuleResult]
    decided_by: str
    decided_email: str
    run_url: str | None
    workflow: str | None
    model_sha256: str | None
    raw: dict[str, Any]
    commit_info: CommitInfo | None = None

    @property
    def failed(self) -> list[RuleResult]:
        return [r for r in self.rules if not r.passed]

    @property
    def by_ci(self) -> bool:
        return bool(self.run_url)


def decision_from(commit: str, raw: dict[str, Any]) -> Decision | None:
    try:
        rules = [
            RuleResult(str(r["name"]), r.get("value"), r.get("threshold"), bool(r["passed"]),
                       str(r["detail"]))
            for r in raw.get("rules") or []
        ]  # fmt: skip
        when = raw.get("timestamp")
        by = raw.get("decided_by") or {}
        ci = raw.get("ci") or {}
        return Decision(
            commit=str((raw.get("candidate") or {}).get("commit") or commit),
            when=datetime.fromisoformat(when.replace("Z", "+00:00")) if when else None,
            outcome=str(raw["outcome"]),
            version=(raw.get("candidate") or {}).get("version"),
            prod_version=(raw.get("prod") or {}).get("version"),
            summary=str(raw.get("summary") or ""),
            note=str(raw.get("note") or ""),
            rules=rules,
            decided_by=str(by.get("name") or ""),
            decided_email=str(by.get("email") or ""),
            run_url=ci.get("run_url"),
            workflow=ci.get("workflow"),
            model_sha256=(raw.get("model") or {}).get("sha256"),
            raw=raw,
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None  # a note of another shape: not a decision record


def read_decisions(notes: list[tuple[str, str]], blobs: dict[str, bytes | None]) -> list[Decision]:
    out = []
    for blob, commit in notes:
        info_raw = blobs.get(commit)
        info = gitobjects.parse_commit(commit, info_raw) if info_raw else None
        for line in (blobs.get(blob) or b"").decode("utf-8", "replace").splitlines():
            try:
                raw = json.loads(line)
            except ValueError:
                continue
            d = decision_from(commit, raw) if isinstance(raw, dict) else None
            if d is not None:
                d.commit_info = info
                out.append(d)
    stamp = datetime.min.replace(tzinfo=UTC)
    return sorted(out, key=lambda d: d.when or stamp)


_GITHUB_REMOTE = re.compile(
    r"^(?:https://|ssh://git@|git@)github\.com[:/]([\w.-]+/[\w.-]+?)(?:\.git)?/?$"
)


def github_url(decisions: list[Decision], remote: str = "") -> str | None:
    """The repository's GitHub address: the Actions environment, else the `origin` remote,
    else a recorded CI run."""
    server, name = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_REPOSITORY")
    if server and name:
        return f"{server}/{name}"
    m = _GITHUB_REMOTE.match(remote.strip())
    if m:
        return f"https://github.com/{m[1]}"
    for d in reversed(decisions):
        if d.run_url and "/actions/runs/" in d.run_url:
            return d.run_url.split("/actions/runs/")[0]
    return None
