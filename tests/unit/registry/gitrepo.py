"""Tiny git repositories for the registry's unit tests: plain git, no DVC, no pipeline run.

Each helper is one or two git calls, so a test that needs a commit, a tag or a note stays well
under a second."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.helpers import run


def init_repo(path: Path) -> Path:
    """An empty repository on branch main with a committer identity of its own (GTO and
    `git notes` write tags and commits with it, outside tool_env())."""
    path.mkdir(parents=True, exist_ok=True)
    run(["git", "init", "-q", "-b", "main"], path)
    run(["git", "config", "user.name", "gitml tests"], path)
    run(["git", "config", "user.email", "tests@gitml.invalid"], path)
    run(["git", "config", "commit.gpgsign", "false"], path)
    run(["git", "config", "tag.gpgsign", "false"], path)
    return path


def commit(repo: Path, files: dict[str, Any], msg: str = "change") -> str:
    """Write `files` (path -> text, bytes, or a dict/list written as JSON), commit all; the sha."""
    for name, content in files.items():
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        elif isinstance(content, str):
            target.write_text(content)
        else:
            target.write_text(json.dumps(content, indent=2, sort_keys=True))
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", msg, "--allow-empty"], repo)
    return head(repo)


def head(repo: Path) -> str:
    return run(["git", "rev-parse", "HEAD"], repo).stdout.strip()


def tags(repo: Path) -> list[str]:
    return sorted(run(["git", "tag", "--list"], repo).stdout.split())
