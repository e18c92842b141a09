"""Read the registry and the committed files of every version in two git processes.

`git for-each-ref` lists every GTO tag with its annotated message, tagger and peeled commit in
one call; one `git cat-file --batch` then returns every requested `commit:path` blob (and the
commit objects themselves) in one stream. A site of 50 versions is 2 subprocesses, not 500.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gitml.errors import DataError

# one record per tag; fields split by a unit separator, records by NUL (messages hold newlines)
_FIELDS = (
    "%(refname:strip=2)",
    "%(objecttype)",
    "%(objectname)",
    "%(*objectname)",
    "%(taggername)",
    "%(taggeremail:trim)",
    "%(taggerdate:unix)",
    "%(contents)",
)
_SEP = "%1f"


@dataclass(frozen=True)
class TagRecord:
    name: str
    commit: str  # the commit the tag points at (peeled)
    annotated: bool
    tagger: str
    email: str
    when: datetime | None
    message: str


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    author: str
    email: str
    when: datetime | None
    subject: str
    body: str


def list_tags(repo: Path, patterns: Iterable[str]) -> list[TagRecord]:
    """Every tag matching `patterns` (for-each-ref globs), in one `git for-each-ref`."""
    fmt = _SEP.join(_FIELDS) + "%00"
    proc = subprocess.run(
        ["git", "for-each-ref", f"--format={fmt}", *patterns],
        cwd=repo,
        capture_output=True,
    )
    if proc.returncode != 0:
        raise DataError(
            f"git for-each-ref in {repo}: {proc.stderr.decode().strip()}; run `gitml site` "
            "in the project's git repository (with its tags: `git fetch --tags`)"
        )
    out = []
    for record in proc.stdout.decode("utf-8", "replace").split("\0"):
        record = record.lstrip("\n")
        if not record:
            continue
        name, kind, obj, peeled, tagger, email, stamp, message = record.split("\x1f", 7)
        annotated = kind == "tag"
        out.append(
            TagRecord(
                name=name,
                commit=peeled if annotated else obj,
                annotated=annotated,
                tagger=tagger,
                email=email,
                when=datetime.fromtimestamp(int(stamp), UTC) if stamp.isdigit() else None,
                message=message.strip(),
            )
        )
    return out


def cat_files(
    repo: Path, requests: list[str], shas: dict[str, str] | None = None
) -> dict[str, bytes | None]:
    """`git cat-file --batch` for every object name (`sha`, `sha:path`): its bytes, or None
    when it is missing. One process, all requests written at once, the stream parsed in order.
    `shas`, when given, receives each found request's object id."""
    if not requests:
        return {}
    unique = list(dict.fromkeys(requests))
    proc = subprocess.run(
        ["git", "cat-file", "--batch"],
        cwd=repo,
        input="".join(f"{r}\n" for r in unique).encode(),
        capture_output=True,
    )
    if proc.returncode != 0:
        raise DataError(f"git cat-file --batch in {repo}: {proc.stderr.decode().strip()}")
    data = proc.stdout
    found: dict[str, bytes | None] = {}
    pos = 0
    for req in unique:
        end = data.index(b"\n", pos)
        header = data[pos:end].decode("utf-8", "replace")
        pos = end + 1
        if header.endswith(" missing") or header.endswith(" ambiguous"):
            found[req] = None
            continue
        obj, _, size_text = header.split(" ")
        if shas is not None:
            shas[req] = obj
        size = int(size_text)
        found[req] = data[pos : pos + size]
        pos += size + 1  # the content is followed by a newline
    return found


def parse_commit(sha: str, raw: bytes) -> CommitInfo:
    """Author and message of a raw commit object (as `git cat-file` prints it)."""
    text = raw.decode("utf-8", "replace")
    head, _, message = text.partition("\n\n")
    author, email, when = "", "", None
    for line in head.splitlines():
        if line.startswith("author "):
            who, _, rest = line[7:].partition(" <")
            email, _, stamp = rest.partition("> ")
            author = who
            seconds = stamp.split(" ")[0]
            when = datetime.fromtimestamp(int(seconds), UTC) if seconds.isdigit() else None
    subject, _, body = message.strip().partition("\n")
    return CommitInfo(sha, author, email, when, subject, body.strip())


def file_history(repo: Path, path: str, limit: int = 60) -> list[str]:
    """Commits (newest first) that changed `path`, for reports committed over time."""
    proc = subprocess.run(
        ["git", "log", f"-n{limit}", "--format=%H", "--", path],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    return proc.stdout.split() if proc.returncode == 0 else []


def list_notes(repo: Path, ref: str) -> list[tuple[str, str]]:
    """(note blob, annotated commit) of every note under `ref`; [] when there is no such ref."""
    proc = subprocess.run(
        ["git", "notes", f"--ref={ref}", "list"], cwd=repo, capture_output=True, text=True
    )
    if proc.returncode != 0:
        return []
    pairs = [line.split() for line in proc.stdout.splitlines()]
    return [(p[0], p[1]) for p in pairs if len(p) == 2]


def remote_url(repo: Path, remote: str = "origin") -> str:
    """The remote's URL ("" when there is none): the site links to GitHub when it is there."""
    proc = subprocess.run(
        ["git", "config", "--get", f"remote.{remote}.url"], cwd=repo, capture_output=True, text=True
    )
    return proc.stdout.strip() if proc.returncode == 0 else ""
