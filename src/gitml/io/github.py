"""GitHub Actions' files and variables: the job summary, step outputs and the run's URL.

Outside Actions (the variables unset) every function does nothing, so commands stay the same
locally and in CI.
"""

from __future__ import annotations

import os
from pathlib import Path


def append_summary(markdown: str) -> None:
    """Add Markdown to the job summary ($GITHUB_STEP_SUMMARY)."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if target:
        with Path(target).open("a", encoding="utf-8") as fh:
            fh.write(markdown.rstrip("\n") + "\n")


def set_outputs(**values: str) -> None:
    """Write `name=value` step outputs ($GITHUB_OUTPUT) that later steps and jobs read."""
    target = os.environ.get("GITHUB_OUTPUT")
    if target:
        with Path(target).open("a", encoding="utf-8") as fh:
            for name, value in values.items():
                if "\n" in value:
                    raise ValueError(f"step output {name}: one line only")
                fh.write(f"{name}={value}\n")


def run_url(env: dict[str, str] | None = None) -> str | None:
    """The GitHub Actions run that is running now, when there is one."""
    env = dict(os.environ) if env is None else env
    parts = [env.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    if not all(parts):
        return None
    server, repo, run_id = parts
    return f"{server}/{repo}/actions/runs/{run_id}"
