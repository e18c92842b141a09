"""Every git and DVC read at a revision: one runner, one error type (DataError naming the call)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from gitml.errors import DataError


def git(repo: Path | str, *args: str, check: bool = True) -> str:
    """`git ARGS` in `repo`, its stdout stripped; DataError (or "" when not `check`) on failure."""
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if proc.returncode != 0:
        if check:
            raise DataError(f"git {' '.join(args)}: {proc.stderr.strip()}")
        return ""
    return proc.stdout.strip()


def resolve_rev(repo: Path | str, rev: str) -> str:
    """Full commit hash of a revision; DataError naming the revision when it does not exist."""
    sha = git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
    if not sha:
        remote = f"origin/{rev}"  # a clone of another branch has main only as origin/main
        hint = (
            f"; did you mean {remote!r}? (a clone has the remote's other branches only as origin/…)"
            if "/" not in rev
            and git(repo, "rev-parse", "--verify", "--quiet", f"{remote}^{{commit}}", check=False)
            else ""
        )
        raise DataError(f"revision {rev!r} does not exist in {repo}{hint}")
    return sha


def read_git_file(repo: Path | str, rev: str, path: str | Path) -> bytes:
    """A file as committed at `rev` (for outputs kept in git: `cache: false`)."""
    proc = subprocess.run(
        ["git", "show", f"{rev}:{Path(path).as_posix()}"], cwd=repo, capture_output=True
    )
    if proc.returncode != 0:
        raise DataError(f"{path} is not in git at {rev}: {proc.stderr.decode().strip()}")
    return proc.stdout


def read_dvc_file(repo: Path | str, rev: str, path: str | Path) -> bytes:
    """A DVC-tracked output as recorded at `rev`, from the local cache or the DVC remote."""
    with dvc_reader(repo, rev) as read:
        return read(path)


@contextlib.contextmanager
def dvc_reader(repo: Path | str, rev: str) -> Iterator[Callable[[str | Path], bytes]]:
    """`read(path)` for several DVC-tracked outputs at `rev`, the repository opened once, at
    the first read (dvc.api.read opens it for every file; this is what it does, kept open)."""
    opened: list[Any] = []  # [the Repo, its DVCFileSystem] once opened

    def read(path: str | Path) -> bytes:
        from dvc.exceptions import PathMissingError
        from dvc.fs import DVCFileSystem
        from dvc.repo import Repo

        try:
            if not opened:
                dvc_repo = Repo.open(str(repo), rev=rev, subrepos=True, uninitialized=True)
                opened.extend([dvc_repo, DVCFileSystem(repo=dvc_repo, subrepos=True)])
            fs = opened[1]
            data: bytes = fs.read_bytes(fs.from_os_path(Path(path).as_posix()))
        except Exception as exc:  # DVC raises many types: missing cache, no remote, bad rev
            if isinstance(exc, FileNotFoundError):  # as dvc.api.read names it
                exc = PathMissingError(Path(path).as_posix(), str(repo))
            raise DataError(
                f"cannot read {path} at {rev} through DVC ({type(exc).__name__}: {exc}); "
                "run `dvc pull` or configure a DVC remote"
            ) from None
        return data

    try:
        yield read
    finally:
        if opened:
            opened[0].close()


def locked_md5(repo: Path | str, rev: str, path: str | Path) -> str | None:
    """The md5 that dvc.lock at `rev` records for an output path, if any."""
    return lock_md5(read_git_file(repo, rev, "dvc.lock"), path, f"dvc.lock at {rev[:12]}")


def lock_md5(text: bytes | str, path: str | Path, where: str = "dvc.lock") -> str | None:
    """The md5 that a dvc.lock's text records for an output path, if any."""
    try:
        lock = yaml.safe_load(text) or {}
        stages = lock.get("stages") or {}
        for stage in stages.values():
            for out in (stage or {}).get("outs") or []:
                if out.get("path") == Path(path).as_posix():
                    return str(out.get("md5"))
    except (yaml.YAMLError, AttributeError) as exc:  # a hand-edited or conflicted dvc.lock
        raise DataError(
            f"{where} cannot be read ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0]}); fix it with `dvc repro` and commit it"
        ) from None
    return None
