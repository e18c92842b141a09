"""Turns for the writers of one SQLite file across processes (gitml.logstore.logdb's writers)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from gitml.io.dburl import normalise_url


def sqlite_file(parsed: sa.URL) -> Path | None:
    """The database file of a SQLite URL; None for another backend or an in-memory database."""
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


class WriterTurn:
    """Lets the writers of one SQLite file, in several processes, take turns without sleeping.

    Two processes committing to one SQLite file collide on its write lock, and SQLite's busy
    handler answers a collision by sleeping 1, 2, 5, 10, 20… ms before it tries again: under
    `gitml serve --workers 2`, commits waited 20-130 ms that way, and every answer waits for its
    commit (bench/README.md). A blocking flock on a file beside the database queues the writers
    in the kernel instead, which wakes the next one as soon as the lock is free. Hand-written:
    filelock and fasteners poll with sleeps too. A separate file, not the database itself, so
    that it never meets SQLite's own locks (on NFS, flock is emulated with those).

    For a SQLite file only; PostgreSQL orders concurrent writers itself (`path` None: no-op).
    """

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._fd: int | None = None

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        if self.path is None:
            yield
            return
        if self._fd is None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            # read-only: flock needs no write access, so a lock file another user created works
            self._fd = os.open(self.path, os.O_RDONLY | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)  # blocks in the kernel, GIL released
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @staticmethod
    def for_url(url: str) -> WriterTurn:
        db = sqlite_file(sa.engine.make_url(normalise_url(url)))
        return WriterTurn(None if db is None else f"{db}.lock")
