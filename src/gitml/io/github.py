"""GitHub Actions' files and variables: step outputs, the job summary and the run's URL.

Outputs and the summary are files whose paths the runner puts in $GITHUB_OUTPUT and
$GITHUB_STEP_SUMMARY; outside Actions (no variable) nothing is written, so commands behave the
same locally and in CI.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path


def write_outputs(values: Mapping[str, str]) -> Path | None:
    """Append `name=value` lines to $GITHUB_OUTPUT; a value with a newline uses a delimiter.

    GitHub's documented multiline form (`name<<DELIM`, lines, `DELIM`), with a random delimiter
    so the value cannot end the block early. Names must be letters, digits, `-` or `_`.
    """
    target = os.environ.get("GITHUB_OUTPUT")
    if not target:
        return None
    lines = []
    for name, value in values.items():
        if not name or not all(c.isalnum() or c in "-_" for c in name):
            raise ValueError(f"{name!r} is not a valid GitHub step output name")
        if "\n" in value or "\r" in value:
            delim = f"ghadelimiter_{uuid.uuid4().hex}"
            lines += [f"{name}<<{delim}", value, delim]
        else:
            lines.append(f"{name}={value}")
    path = Path(target)
    with path.open("a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def append_step_summary(markdown: str) -> Path | None:
    """Append Markdown to $GITHUB_STEP_SUMMARY (the job's summary page)."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = Path(target)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(markdown if markdown.endswith("\n") else markdown + "\n")
    return path


def run_url(env: dict[str, str] | None = None) -> str | None:
    """The GitHub Actions run that is running now, when there is one."""
    env = dict(os.environ) if env is None else env
    parts = [env.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    if not all(parts):
        return None
    server, repo, run_id = parts
    return f"{server}/{repo}/actions/runs/{run_id}"
