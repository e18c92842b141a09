"""`gitml monitor alert`: one deduplicated GitHub issue per alarm, through the gh CLI."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gitml.contracts.monitoring import MonitoringReport
from gitml.monitor.common import ALARM_LABEL, GITHUB_BODY_LIMIT, ISSUE_TITLE, MonitorError


@dataclass(frozen=True)
class AlertResult:
    action: str  # "created", "commented" or "skipped"
    issue: int | None
    url: str | None


def alert(
    report_md: Path,
    label: str = ALARM_LABEL,
    title: str = ISSUE_TITLE,
    repo: str | None = None,
    force: bool = False,
) -> AlertResult:
    """Open ONE issue labelled `label`, or comment on the open one (deduplicated), with the gh
    CLI. Skipped when monitoring.json next to the report says there is no alarm (unless force).
    """
    if not report_md.is_file():
        raise MonitorError(f"{report_md}: report not found; run `gitml monitor` first")
    verdict = report_md.with_name("monitoring.json")
    if not force and verdict.is_file() and not MonitoringReport.read(verdict).alarm:
        return AlertResult("skipped", None, None)
    gh = shutil.which("gh")
    if gh is None:
        raise MonitorError(
            "the GitHub CLI `gh` is not on PATH; install it (https://cli.github.com) "
            "and authenticate with GH_TOKEN"
        )
    target = ["--repo", repo] if repo else []
    body = report_md.read_text(encoding="utf-8")
    if len(body) > GITHUB_BODY_LIMIT:
        body = body[:GITHUB_BODY_LIMIT] + "\n\n… (truncated; the full report is an artifact)\n"
    _gh(
        gh,
        "label",
        "create",
        label,
        "--color",
        "D93F0B",
        "--description",
        "gitml monitor raised a drift or live-quality alarm",
        "--force",
        *target,
    )
    listed = _gh(
        gh,
        "issue",
        "list",
        "--label",
        label,
        "--state",
        "open",
        "--json",
        "number,url",
        "--limit",
        "100",
        *target,
    )
    try:
        open_issues = sorted(json.loads(listed or "[]"), key=lambda i: int(i["number"]))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise MonitorError(f"gh issue list: unexpected output {listed[:200]!r} ({exc})") from None
    with tempfile.TemporaryDirectory() as tmp:
        body_file = Path(tmp) / "body.md"
        body_file.write_text(body, encoding="utf-8")
        if open_issues:
            number = int(open_issues[0]["number"])
            url = _gh(gh, "issue", "comment", str(number), "--body-file", str(body_file), *target)
            return AlertResult("commented", number, url.strip() or open_issues[0].get("url"))
        url = _gh(
            gh,
            "issue",
            "create",
            "--title",
            title,
            "--label",
            label,
            "--body-file",
            str(body_file),
            *target,
        ).strip()
    match = re.search(r"/issues/(\d+)", url)
    return AlertResult("created", int(match[1]) if match else None, url or None)


def _gh(gh: str, *args: str) -> str:
    proc = subprocess.run([gh, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise MonitorError(
            f"gh {' '.join(args[:2])} failed (exit {proc.returncode}): "
            f"{(proc.stderr or proc.stdout).strip()[:500]}"
        )
    return proc.stdout
